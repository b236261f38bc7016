package streams

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// taskManager is an App's task manager (Kafka Streams' TaskManager): the consumer
// group's assignment callbacks create the tasks of the partitions this instance owns,
// hand them to the stream threads (workers) and close them, and after an aborted
// transaction it drops every task and re-creates the owned ones.
//
// It owns, under mu: the tasks and which partition each runs (tasks, byTP), the
// partitions assigned (owned), the workers' task counts, and the abort state (stopping,
// reinit, aborting). abortGen and wake are atomics. Lock order: the committer's mu,
// then mu (commits, revocations and shutdown take the committer's lock first); mu is
// never held while waiting on a worker, and workers take neither.
type taskManager struct {
	a       *App
	commits *committer

	workers []*worker
	wwg     sync.WaitGroup // workers

	mu       sync.Mutex
	tasks    map[TaskID]*task
	byTP     map[state.TopicPartition]*task
	owned    map[state.TopicPartition]bool // assigned partitions
	stopping bool
	reinit   bool // tasks to re-create after an abort
	// aborting is set from the moment an abort holds the threads until its tasks are
	// dropped: onAssigned then creates no task (the re-creation after the abort does).
	// abortGen counts aborts: a task made before the last one is stale, and its thread
	// never opens it.
	aborting bool
	abortGen atomic.Int64
	// wake cancels the poll loop's current poll, so that it re-creates the dropped
	// tasks without waiting for records.
	wake atomic.Pointer[context.CancelFunc]
	// lag is each fetched partition's lag in its latest fetch (metrics.go), guarded by
	// mu; assigned is set by the first assignment.
	lag      map[state.TopicPartition]int64
	assigned atomic.Bool
}

func newTaskManager(a *App, c *committer) *taskManager {
	return &taskManager{a: a, commits: c, tasks: map[TaskID]*task{}, byTP: map[state.TopicPartition]*task{},
		owned: map[state.TopicPartition]bool{}}
}

// startWorkers starts n stream threads.
func (m *taskManager) startWorkers(n int) {
	for i := range n {
		w := &worker{a: m.a, m: m, id: i, ch: make(chan workerRequest, 16), quit: make(chan struct{}), tasks: map[*task]bool{}}
		m.workers = append(m.workers, w)
		m.wwg.Add(1)
		go func() { defer m.wwg.Done(); w.run() }()
	}
}

// stopWorkers stops the stream threads and waits for them.
func (m *taskManager) stopWorkers() {
	for _, w := range m.workers {
		close(w.quit)
	}
	m.wwg.Wait()
}

func (m *taskManager) newTask(id TaskID, w int) *task {
	a := m.a
	tk := newTask(taskConfig{
		id: id, app: a.cfg.ApplicationID, topo: a.topo, stateDir: a.cfg.StateDir,
		writer: newChangelogWriter(a.pctx, m.commits.producer(), &m.commits.produced), reader: a.rd, eos: a.eos, out: m.commits, handler: a.cfg.DeserializationHandler,
		tsx: a.cfg.TimestampExtractor, cacheBytes: a.cfg.CacheMaxBytes, logger: a.cfg.Logger,
		now: func() int64 { return time.Now().UnixMilli() }, restore: a.cfg.RestoreListener,
		maxIdle: a.cfg.MaxTaskIdle.Milliseconds(),
		globals: a.globals.storesByName(),
	})
	tk.worker, tk.gen = w, m.abortGen.Load()
	return tk
}

func (m *taskManager) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	m.a.setClient(cl)
	m.assigned.Store(true)
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	var created []*task
	for topic, parts := range assigned {
		sub, ok := m.a.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range parts {
			if m.aborting {
				// The abort's re-creation makes the task, from the
				// offsets the abort leaves committed.
				m.owned[state.TopicPartition{Topic: topic, Partition: p}] = true
				continue
			}
			id := TaskID{Subtopology: sub, Partition: p}
			tk, ok := m.tasks[id]
			if !ok {
				best := 0
				for i, w := range m.workers {
					if w.count < m.workers[best].count {
						best = i
					}
				}
				m.workers[best].count++
				tk = m.newTask(id, best)
				m.tasks[id] = tk
				created = append(created, tk)
			}
			m.byTP[state.TopicPartition{Topic: topic, Partition: p}] = tk
			m.owned[state.TopicPartition{Topic: topic, Partition: p}] = true
		}
	}
	m.mu.Unlock()
	for _, tk := range created {
		m.a.cfg.Logger.Debug("streams: task assigned", "task", tk.id.String())
		m.workers[tk.worker].send(&initRequest{tk: tk})
	}
}

// takeTasks removes from the assignment the tasks that own any of parts.
func (m *taskManager) takeTasks(parts map[string][]int32) []*task {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*task
	for topic, ps := range parts {
		for _, p := range ps {
			delete(m.owned, state.TopicPartition{Topic: topic, Partition: p})
			delete(m.lag, state.TopicPartition{Topic: topic, Partition: p})
			tk := m.byTP[state.TopicPartition{Topic: topic, Partition: p}]
			if tk == nil || m.tasks[tk.id] != tk {
				continue
			}
			delete(m.tasks, tk.id)
			for tp, t := range m.byTP {
				if t == tk {
					delete(m.byTP, tp)
				}
			}
			out = append(out, tk)
		}
	}
	return out
}

// takeAll stops the task manager (no task is made from now on) and removes every
// task from the assignment, for the App's shutdown.
func (m *taskManager) takeAll() []*task {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopping = true
	var all []*task
	for _, tk := range m.tasks {
		all = append(all, tk)
	}
	clear(m.tasks)
	clear(m.byTP)
	clear(m.lag)
	return all
}

func (m *taskManager) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.commits.revoke(ctx, revoked)
}

func (m *taskManager) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.commits.lose(lost)
}

// ids returns the tasks this instance runs now.
func (m *taskManager) ids() []TaskID {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TaskID, 0, len(m.tasks))
	for id := range m.tasks {
		out = append(out, id)
	}
	return out
}

// task returns the task id, or nil when this instance does not run it.
func (m *taskManager) task(id TaskID) *task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tasks[id]
}

// query runs fn on the stream thread of tk.
func (m *taskManager) query(tk *task, fn func() error) error {
	return m.workers[tk.worker].request(&queryRequest{tk: tk, query: fn}).err
}

// dispatch hands a poll's records to the tasks' threads: one request per task, with
// all its partitions' batches, so that the task can order them by timestamp
// (partition_group.go).
func (m *taskManager) dispatch(fetches kgo.Fetches) {
	var tasks []*task
	batches := map[*task][]fetchBatch{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		tp := state.TopicPartition{Topic: p.Topic, Partition: p.Partition}
		end := p.HighWatermark
		if m.a.eos {
			end = p.LastStableOffset
		}
		m.mu.Lock()
		tk := m.byTP[tp]
		if tk != nil {
			m.recordLagLocked(tp, end, p.Records[len(p.Records)-1].Offset)
		}
		m.mu.Unlock()
		if tk != nil {
			if batches[tk] == nil {
				tasks = append(tasks, tk)
			}
			batches[tk] = append(batches[tk], fetchBatch{recs: p.Records, hw: p.HighWatermark})
		}
	})
	for _, tk := range tasks {
		m.workers[tk.worker].send(&recordsRequest{tk: tk, batches: batches[tk]})
	}
}

// commitTasks asks every thread to commit its tasks and returns their offsets, or the
// first thread's error.
func (m *taskManager) commitTasks() (map[state.TopicPartition]int64, error) {
	offsets := map[state.TopicPartition]int64{}
	for _, w := range m.workers {
		r := w.request(&commitRequest{})
		if r.err != nil {
			return nil, r.err
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	return offsets, nil
}

// closeTasks asks the workers to close tasks and returns their offsets.
func (m *taskManager) closeTasks(tasks []*task, clean bool) (map[state.TopicPartition]int64, error) {
	per := map[*worker][]*task{}
	for _, tk := range tasks {
		w := m.workers[tk.worker]
		per[w] = append(per[w], tk)
	}
	offsets := map[state.TopicPartition]int64{}
	var errs []error
	for w, list := range per {
		r := w.request(&closeRequest{tasks: list, clean: clean})
		if r.err != nil {
			errs = append(errs, r.err)
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	m.mu.Lock()
	for _, tk := range tasks {
		m.workers[tk.worker].count--
	}
	m.mu.Unlock()
	return offsets, errors.Join(errs...)
}
