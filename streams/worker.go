package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/gregorhq/gregor/state"
)

// workerRequest is one message to a stream thread; each kind of request is a type of
// its own, and serve runs it on the thread, which owns the tasks it names.
type workerRequest interface {
	serve(w *worker)
}

// answered is a request that waits for the thread's reply (see worker.request).
type answered interface {
	workerRequest
	replies() chan wreply
}

// answer is the reply channel of an answered request, made when it is sent.
type answer struct{ ch chan wreply }

func (a *answer) replies() chan wreply {
	if a.ch == nil {
		a.ch = make(chan wreply, 1)
	}
	return a.ch
}

// initRequest hands the thread a new task to open (restore) and run.
type initRequest struct{ tk *task }

// recordsRequest hands the thread a poll's records of one task: one batch per
// partition of the task, so that it can order them by timestamp (partition_group.go).
type recordsRequest struct {
	tk      *task
	batches []fetchBatch
}

// commitRequest asks the thread to commit its tasks and reply with their offsets.
// Under exactly-once it carries a hold: the thread then waits for the hold's release
// and reports on after.
type commitRequest struct {
	answer
	ctx   context.Context // nil means the application's
	hold  *hold
	after chan error
}

// holdRequest asks the thread to reply at once and wait for the hold's release,
// reporting on after (an abort holds the threads without committing).
type holdRequest struct {
	answer
	hold  *hold
	after chan error
}

// closeRequest asks the thread to close tasks, cleanly or not, and reply with their
// offsets.
type closeRequest struct {
	answer
	tasks []*task
	clean bool
}

// queryRequest runs query on the thread, which owns tk's stores.
type queryRequest struct {
	answer
	tk    *task
	query func() error
}

// hold keeps the stream threads still while the committer ends a transaction: a thread
// that received a commitRequest or holdRequest with a hold replies, then waits until ch
// closes, does what the hold says (close tasks, cleanly or not) and reports on its
// after channel.
type hold struct {
	ch    chan struct{}
	abort bool           // set before ch closes: the transaction aborted, close every task dirty
	close map[*task]bool // tasks to close once released, cleanly unless abort
}

func newHold() *hold { return &hold{ch: make(chan struct{}), close: map[*task]bool{}} }

type wreply struct {
	offsets map[state.TopicPartition]int64
	err     error
}

// worker is a stream thread: one goroutine that owns a set of tasks and runs their
// records, commits, punctuations and closes, in the order the requests arrive. It takes
// neither the committer's lock nor the task manager's.
type worker struct {
	a     *App
	m     *taskManager
	id    int
	ch    chan workerRequest
	quit  chan struct{}
	tasks map[*task]bool
	count int // tasks assigned, maintained by the task manager under its mu
}

// send queues r unless the worker stopped; it reports whether it was queued.
func (w *worker) send(r workerRequest) bool {
	select {
	case w.ch <- r:
		return true
	case <-w.quit:
		return false
	}
}

// request sends r and waits for the reply.
func (w *worker) request(r answered) wreply {
	reply := r.replies()
	if !w.send(r) {
		return wreply{err: ErrClosed}
	}
	select {
	case rep := <-reply:
		return rep
	case <-w.quit:
		return wreply{err: ErrClosed}
	}
}

func (w *worker) run() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-w.ch:
			r.serve(w)
		case <-tick.C:
			now := time.Now().UnixMilli()
			for tk := range w.tasks {
				if tk.hasBuffered() {
					start := time.Now()
					err := tk.processBuffered(now)
					tk.observeProcess(start)
					if err != nil {
						w.taskFailed(err)
					}
				}
				if len(tk.puncts) > 0 {
					if err := tk.punctuate(WallClockTime, now); err != nil {
						w.taskFailed(err)
					}
				}
			}
		case <-w.quit:
			return
		}
	}
}

func (r *initRequest) serve(w *worker) {
	ctx := w.a.ctx
	if ctx.Err() != nil {
		return // shutting down: the task is never opened
	}
	if r.tk.gen != w.m.abortGen.Load() {
		return // made before an abort that dropped every task: it is made again
	}
	if err := r.tk.init(ctx); err != nil {
		w.a.fail(err)
		_, _ = r.tk.close(context.Background(), false)
		return
	}
	r.tk.ready.Store(true)
	w.tasks[r.tk] = true
}

func (r *recordsRequest) serve(w *worker) {
	tk := r.tk
	if !w.tasks[tk] || tk.closed {
		return // revoked, or failed to initialize: the next owner reprocesses
	}
	start := time.Now()
	defer tk.observeProcess(start)
	for _, b := range r.batches {
		if err := tk.addBatch(b); err != nil {
			w.taskFailed(err)
			return
		}
	}
	if err := tk.processBuffered(start.UnixMilli()); err != nil {
		w.taskFailed(err)
	}
}

// taskFailed stops the application with a task's processing error, unless the
// committer can recover from it by aborting the transaction (committer.taskFailed).
func (w *worker) taskFailed(err error) {
	if !w.a.commits.taskFailed(err) {
		w.a.fail(err)
	}
}

func (r *commitRequest) serve(w *worker) {
	ctx := w.a.ctx
	if r.ctx != nil {
		ctx = r.ctx
	}
	all := map[state.TopicPartition]int64{}
	var err error
	for tk := range w.tasks {
		var offs map[state.TopicPartition]int64
		if offs, err = tk.commit(ctx); err != nil {
			break
		}
		for tp, off := range offs {
			all[tp] = off
		}
	}
	r.ch <- wreply{offsets: all, err: err}
	if r.hold != nil {
		w.held(r.hold, r.after)
	}
}

func (r *holdRequest) serve(w *worker) {
	r.ch <- wreply{}
	w.held(r.hold, r.after)
}

func (r *queryRequest) serve(w *worker) {
	if !w.tasks[r.tk] || r.tk.closed {
		r.ch <- wreply{err: fmt.Errorf("%w: task %s", ErrNotHosted, r.tk.id)}
		return
	}
	r.ch <- wreply{err: r.query()}
}

func (r *closeRequest) serve(w *worker) {
	all := map[state.TopicPartition]int64{}
	var errs []error
	for _, tk := range r.tasks {
		if !w.tasks[tk] {
			continue
		}
		delete(w.tasks, tk)
		offs, err := tk.close(context.WithoutCancel(w.a.ctx), r.clean)
		if err != nil {
			errs = append(errs, err)
		}
		for tp, off := range offs {
			all[tp] = off
		}
	}
	var err error
	if len(errs) > 0 {
		err = errs[0]
	}
	r.ch <- wreply{offsets: all, err: err}
}

// held waits for the hold's release, then closes the tasks it names (all of them, dirty,
// after an abort) and reports the first error on after.
func (w *worker) held(h *hold, after chan error) {
	select {
	case <-h.ch:
	case <-w.quit:
		return
	}
	var first error
	for tk := range w.tasks {
		if !h.abort && !h.close[tk] {
			continue
		}
		delete(w.tasks, tk)
		if _, err := tk.close(context.WithoutCancel(w.a.ctx), !h.abort); err != nil && first == nil {
			first = err
		}
	}
	after <- first
}
