package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/gregorhq/gregor/state"
)

type msgKind int

const (
	msgInit msgKind = iota
	msgRecords
	msgCommit
	msgClose
	msgHold
	msgQuery
)

type wmsg struct {
	kind    msgKind
	tk      *task
	batches []fetchBatch    // msgRecords: one per partition of tk
	tasks   []*task         // msgClose
	clean   bool            // msgClose
	hold    *hold           // msgCommit (under exactly-once) and msgHold
	ctx     context.Context // msgCommit: nil means the application's
	after   chan error
	query   func() error // msgQuery: runs on the worker, which owns tk's stores
	reply   chan wreply
}

// hold keeps the stream threads still while the App ends a transaction: a thread that
// received a msgCommit or msgHold with a hold replies, then waits until ch closes, does
// what the hold says (close tasks, cleanly or not) and reports on its after channel.
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
// records, commits, punctuations and closes, in the order the messages arrive.
type worker struct {
	a     *App
	id    int
	ch    chan wmsg
	quit  chan struct{}
	tasks map[*task]bool
	count int // tasks assigned, maintained by App under a.mu
}

// send queues m unless the worker stopped; it reports whether it was queued.
func (w *worker) send(m wmsg) bool {
	select {
	case w.ch <- m:
		return true
	case <-w.quit:
		return false
	}
}

// request sends m and waits for the reply.
func (w *worker) request(m wmsg) wreply {
	m.reply = make(chan wreply, 1)
	if !w.send(m) {
		return wreply{err: ErrClosed}
	}
	select {
	case r := <-m.reply:
		return r
	case <-w.quit:
		return wreply{err: ErrClosed}
	}
}

func (w *worker) run() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case m := <-w.ch:
			w.handle(m)
		case <-tick.C:
			now := time.Now().UnixMilli()
			for tk := range w.tasks {
				if tk.hasBuffered() {
					if err := tk.processBuffered(now); err != nil {
						w.a.fail(err)
					}
				}
				if len(tk.puncts) > 0 {
					if err := tk.punctuate(WallClockTime, now); err != nil {
						w.a.fail(err)
					}
				}
			}
		case <-w.quit:
			return
		}
	}
}

func (w *worker) handle(m wmsg) {
	ctx := w.a.ctx
	switch m.kind {
	case msgInit:
		if ctx.Err() != nil {
			return // shutting down: the task is never opened
		}
		if m.tk.gen != w.a.abortGen.Load() {
			return // made before an abort that dropped every task: it is made again
		}
		if err := m.tk.init(ctx); err != nil {
			w.a.fail(err)
			_, _ = m.tk.close(context.Background(), false)
			return
		}
		w.tasks[m.tk] = true
	case msgRecords:
		tk := m.tk
		if !w.tasks[tk] || tk.closed {
			return // revoked, or failed to initialize: the next owner reprocesses
		}
		for _, b := range m.batches {
			if err := tk.addBatch(b); err != nil {
				w.a.fail(err)
				return
			}
		}
		if err := tk.processBuffered(time.Now().UnixMilli()); err != nil {
			w.a.fail(err)
		}
	case msgCommit:
		if m.ctx != nil {
			ctx = m.ctx
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
		m.reply <- wreply{offsets: all, err: err}
		if m.hold != nil {
			w.held(m.hold, m.after)
		}
	case msgHold:
		m.reply <- wreply{}
		w.held(m.hold, m.after)
	case msgQuery:
		if !w.tasks[m.tk] || m.tk.closed {
			m.reply <- wreply{err: fmt.Errorf("%w: task %s", ErrNotHosted, m.tk.id)}
			return
		}
		m.reply <- wreply{err: m.query()}
	case msgClose:
		all := map[state.TopicPartition]int64{}
		var errs []error
		for _, tk := range m.tasks {
			if !w.tasks[tk] {
				continue
			}
			delete(w.tasks, tk)
			offs, err := tk.close(context.WithoutCancel(ctx), m.clean)
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
		m.reply <- wreply{offsets: all, err: err}
	}
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
