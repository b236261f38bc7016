package streams

import "context"

// A stream thread opens and restores a new task on a goroutine of the task's own, so that
// a long restore holds up neither the thread's other tasks nor the instance's commits
// (under exactly-once every thread takes part in each commit). Until the task is ready
// the thread keeps the records that arrive for it; commits, punctuations and queries
// leave it out. Closing a task that is still restoring stops the restore and waits for
// it: the task directory is free when the close returns.

// initJob is a task being opened by its own goroutine.
type initJob struct {
	cancel  context.CancelFunc
	done    chan error   // the result of init, sent once
	pending []fetchBatch // records that arrived meanwhile, in order
	queries []wmsg       // queries of the task's stores, answered once it is ready
}

// startInit opens tk on a goroutine of its own.
func (w *worker) startInit(tk *task) {
	if w.initing == nil {
		w.initing = map[*task]*initJob{}
	}
	ctx, cancel := context.WithCancel(w.a.ctx)
	job := &initJob{cancel: cancel, done: make(chan error, 1)}
	w.initing[tk] = job
	go func() {
		err := tk.init(ctx)
		job.done <- err
		w.send(wmsg{kind: msgInitDone, tk: tk})
	}()
}

// initDone makes a task whose init returned ready, and hands it the records that came
// meanwhile; a task closed meanwhile was dealt with by stopInit.
func (w *worker) initDone(tk *task) {
	job, ok := w.initing[tk]
	if !ok {
		return
	}
	delete(w.initing, tk)
	job.cancel()
	defer w.answer(job.queries) // after the task joined w.tasks, or failed
	if err := <-job.done; err != nil {
		if w.a.ctx.Err() == nil { // not a restore cut short by shutdown
			w.a.fail(err)
		}
		_, _ = tk.close(context.Background(), false)
		return
	}
	w.tasks[tk] = true
	for _, b := range job.pending {
		if err := tk.addBatch(b); err != nil {
			w.a.fail(err)
			return
		}
	}
	if len(job.pending) > 0 {
		if err := tk.processBuffered(nowMillis()); err != nil {
			w.a.fail(err)
		}
	}
}

// stopInit stops the restore of tk, if it is restoring, waits for it and closes the
// task without committing (it processed nothing). It reports whether tk was restoring.
func (w *worker) stopInit(tk *task) bool {
	job, ok := w.initing[tk]
	if !ok {
		return false
	}
	delete(w.initing, tk)
	job.cancel()
	<-job.done
	_, _ = tk.close(context.Background(), false)
	w.answer(job.queries)
	return true
}

// answer handles queries that waited for a restore, now that the task is ready or gone.
func (w *worker) answer(queries []wmsg) {
	for _, q := range queries {
		w.handle(q)
	}
}

// stopAllInits stops every restore in progress (the thread is stopping or aborting).
func (w *worker) stopAllInits() {
	for tk := range w.initing {
		w.stopInit(tk)
	}
}
