package streams

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// The task manager's part in exactly-once commits: it holds the stream threads while
// the committer ends a transaction, and after an abort drops every task and re-creates
// the owned ones from the committed offsets. The committer calls these holding its lock.

// heldWorker is a stream thread waiting on a hold.
type heldWorker struct {
	w     *worker
	after chan error
}

// holdWorkers sends every stream thread a commitRequest (commit) or holdRequest with h
// and returns the threads that now wait on h, with the offsets they committed.
func (m *taskManager) holdWorkers(ctx context.Context, h *hold, commit bool) ([]heldWorker, map[state.TopicPartition]int64, error) {
	var held []heldWorker
	offsets := map[state.TopicPartition]int64{}
	var errs []error
	for _, w := range m.workers {
		after := make(chan error, 1)
		var r wreply
		if commit {
			r = w.request(&commitRequest{hold: h, after: after, ctx: ctx})
		} else {
			r = w.request(&holdRequest{hold: h, after: after})
		}
		if errors.Is(r.err, ErrClosed) {
			continue
		}
		held = append(held, heldWorker{w: w, after: after})
		if r.err != nil {
			errs = append(errs, r.err)
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	return held, offsets, errors.Join(errs...)
}

// release lets the held threads go on and waits until they closed what the hold names.
func (m *taskManager) release(h *hold, held []heldWorker) error {
	close(h.ch)
	var errs []error
	for _, hw := range held {
		select {
		case err := <-hw.after:
			errs = append(errs, err)
		case <-hw.w.quit:
		}
	}
	m.mu.Lock()
	for _, w := range m.workers {
		for tk := range h.close {
			if tk.worker == w.id {
				w.count--
			}
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// beginAbort marks the tasks made so far stale, while the threads are still held by
// the aborting commit: a thread that finds one's initRequest after the release does
// not open it. Until dropTasks, onAssigned makes no task.
func (m *taskManager) beginAbort() {
	m.mu.Lock()
	m.aborting = true
	m.abortGen.Add(1)
	m.mu.Unlock()
}

// dropTasks forgets every task after an abort (the threads closed them) and asks the
// poll loop to re-create the owned ones from the committed offsets.
func (m *taskManager) dropTasks() {
	m.mu.Lock()
	m.aborting = false
	clear(m.tasks)
	clear(m.byTP)
	for _, w := range m.workers {
		w.count = 0
	}
	m.reinit = !m.stopping && len(m.owned) > 0
	m.mu.Unlock()
	if f := m.wake.Load(); f != nil {
		(*f)()
	}
}

// reinitTasks re-creates the tasks of the owned partitions after an abort, positioned
// at the committed offsets. The poll loop calls it while rebalances are blocked, after
// handing out the records it polled, so that no record polled before the rewind reaches
// the new tasks.
func (m *taskManager) reinitTasks(ctx context.Context) error {
	m.mu.Lock()
	if !m.reinit || m.stopping {
		m.mu.Unlock()
		return nil
	}
	m.reinit = false
	// Only partitions without a task are rewound: another abort may have asked for a
	// re-creation while an earlier one was under way, and rewinding the partitions of
	// the tasks that one made would hand them their input a second time.
	owned := map[string][]int32{}
	var topics []string
	for tp := range m.owned {
		if m.byTP[tp] != nil {
			continue
		}
		if owned[tp.Topic] == nil {
			topics = append(topics, tp.Topic)
		}
		owned[tp.Topic] = append(owned[tp.Topic], tp.Partition)
	}
	m.mu.Unlock()
	if len(owned) == 0 {
		return nil
	}
	committed, err := m.stableOffsets(ctx)
	if err != nil {
		return fmt.Errorf("streams: fetch committed offsets: %w", err)
	}
	starts, err := m.a.adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("streams: list start offsets: %w", err)
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for topic, parts := range owned {
		set[topic] = map[int32]kgo.EpochOffset{}
		for _, p := range parts {
			off := int64(-1)
			if c, ok := committed.Lookup(topic, p); ok && c.At >= 0 {
				off = c.At
			} else if s, ok := starts.Lookup(topic, p); ok {
				off = s.Offset
			}
			if off >= 0 {
				set[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: off}
			}
		}
	}
	m.a.cl.SetOffsets(set)
	m.onAssigned(ctx, m.a.cl, owned)
	return nil
}

// stableOffsets fetches the group's committed offsets with require_stable
// (KIP-447), waiting out offsets still pending in a transaction that is
// being committed: without it the offsets of the last commit could read
// as the ones before it (its markers not written yet) while the restored
// stores already hold its results, and its input would count twice.
func (m *taskManager) stableOffsets(ctx context.Context) (kadm.OffsetResponses, error) {
	var committed kadm.OffsetResponses
	err := retryOn(ctx, func() error {
		var err error
		if committed, err = m.a.adm.FetchOffsets(kadm.RequireStable(ctx), m.a.cfg.ApplicationID); err == nil {
			err = committed.Error()
		}
		return err
	}, kerr.UnstableOffsetCommit)
	return committed, err
}
