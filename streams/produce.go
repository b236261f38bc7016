package streams

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// inflight counts produced records until they are acknowledged, so that a commit can
// wait for exactly the records produced before it, while processing goes on and
// produces more (a client-wide Flush would wait for those too).
type inflight struct {
	mu      sync.Mutex
	pending int
	waiter  chan struct{} // closed when pending reaches 0, if someone waits
	err     error
	onAck   func(r *kgo.Record) // called under mu for each acknowledged record
	promise func(*kgo.Record, error)
}

func newInflight(onAck func(*kgo.Record)) *inflight {
	f := &inflight{onAck: onAck}
	f.promise = f.done
	return f
}

func (f *inflight) add() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.pending++
	return nil
}

func (f *inflight) done(r *kgo.Record, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending--
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("streams: produce to %s-%d: %w", r.Topic, r.Partition, err)
	} else if err == nil && f.onAck != nil {
		f.onAck(r)
	}
	if f.pending == 0 && f.waiter != nil {
		close(f.waiter)
		f.waiter = nil
	}
}

// wait blocks until every record added so far is acknowledged and returns the first
// produce error. When ctx ends first it returns acked false and an error wrapping
// ctx's: that is no produce failure, the records may still be acknowledged.
func (f *inflight) wait(ctx context.Context) (acked bool, err error) {
	f.mu.Lock()
	if f.pending == 0 {
		err := f.err
		f.mu.Unlock()
		return true, err
	}
	if f.waiter == nil {
		f.waiter = make(chan struct{})
	}
	ch := f.waiter
	f.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return false, fmt.Errorf("streams: waiting for produced records: %w", ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return true, f.err
}

// changelogWriter is the state.ChangelogWriter of one task: it produces through the
// application's client and its Flush waits for the task's own records only.
type changelogWriter struct {
	cl       *kgo.Client
	produced *atomic.Int64   // records produced in the open transaction, if any
	ctx      context.Context // produce context: the application's, never canceled
	f        *inflight
	last     map[state.TopicPartition]int64 // guarded by f.mu
}

func newChangelogWriter(ctx context.Context, cl *kgo.Client, produced *atomic.Int64) *changelogWriter {
	w := &changelogWriter{cl: cl, ctx: ctx, produced: produced, last: map[state.TopicPartition]int64{}}
	w.f = newInflight(func(r *kgo.Record) {
		tp := state.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if cur, ok := w.last[tp]; !ok || r.Offset > cur {
			w.last[tp] = r.Offset
		}
	})
	return w
}

// Append produces rec to tp. The record is produced even if ctx ends: a commit waits
// for it or a crash drops it.
func (w *changelogWriter) Append(_ context.Context, tp state.TopicPartition, rec state.ChangelogRecord) error {
	if err := w.f.add(); err != nil {
		return err
	}
	if w.produced != nil {
		w.produced.Add(1)
	}
	w.cl.Produce(w.ctx, &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Key: rec.Key, Value: rec.Value}, w.f.promise)
	return nil
}

// Flush waits for the appended records and returns the last offset per partition.
func (w *changelogWriter) Flush(ctx context.Context) (map[state.TopicPartition]int64, error) {
	if _, err := w.f.wait(ctx); err != nil {
		return nil, err
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	out := w.last
	w.last = map[state.TopicPartition]int64{}
	return out, nil
}

// sinkRecords tracks the records sinks produce, in generations: a commit seals the
// current generation and waits for it while sinks go on in a new one. A generation
// stays sealed until a commit has seen all its records acknowledged: when a commit's
// wait is cut short (its context ends, as Close cancels the commit loop's), the next
// commit waits for that generation too, since the offsets it commits cover the records
// of both.
type sinkRecords struct {
	cur atomic.Pointer[inflight]
	// sealed holds the generations sealed and not yet seen acknowledged, oldest
	// first. It is used by commits only, under the committer's mu.
	sealed []*inflight
}

// init starts over with an empty generation (at start, and after an aborted
// transaction dropped the records produced so far).
func (s *sinkRecords) init() {
	s.cur.Store(newInflight(nil))
	s.sealed = nil
}

// flush seals the current generation and waits until it and every generation sealed
// before it are acknowledged, returning the first produce error. When ctx ends first it
// returns acked false and an error wrapping ctx's; the generations not yet acknowledged
// stay sealed for the next flush.
func (s *sinkRecords) flush(ctx context.Context) (acked bool, err error) {
	s.sealed = append(s.sealed, s.cur.Swap(newInflight(nil)))
	for len(s.sealed) > 0 {
		if acked, err = s.sealed[0].wait(ctx); !acked || err != nil {
			return acked, err
		}
		s.sealed[0] = nil
		s.sealed = s.sealed[1:]
	}
	return true, nil
}
