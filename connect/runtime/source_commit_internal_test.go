package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The periodic source commit stores only the offsets of batches that Kafka
// has fully acknowledged, oldest first, and nothing after a produce error.
func TestSourceCommitAckedBatches(t *testing.T) {
	store := NewMemoryOffsetStore()
	w := &sourceWork{m: &taskMetrics{}, h: &Worker{offsets: store, cfg: WorkerConfig{OffsetFlushTimeout: time.Second}},
		id: TaskID{Connector: "c"}, pending: map[string]map[string]any{}}
	batch := func(off int64) *sentBatch {
		w.cur = w.newBatch(1)
		w.cur.remaining.Add(1) // one record produced, not acknowledged
		w.pending["k"] = map[string]any{"n": off}
		b := w.cur
		w.endBatch()
		return b
	}
	stored := func() string {
		vals, err := store.Get(context.Background(), []string{"k"})
		if err != nil {
			t.Fatal(err)
		}
		return string(vals["k"])
	}
	b1, b2 := batch(1), batch(2)
	b2.cb(&kgo.Record{}, nil) // the second batch is acknowledged first
	if err := w.commitAcked(); err != nil || stored() != "" {
		t.Fatalf("stored %q (err %v) before the first batch was acknowledged", stored(), err)
	}
	b1.cb(&kgo.Record{}, nil)
	if err := w.commitAcked(); err != nil || stored() != `{"n":2}` {
		t.Fatalf("stored %q, err %v; want both batches' offsets", stored(), err)
	}
	if len(w.inflight) != 0 {
		t.Fatalf("%d batches left in flight", len(w.inflight))
	}
	b3 := batch(3)
	b3.cb(&kgo.Record{}, errors.New("boom"))
	if err := w.commitAcked(); err == nil || stored() != `{"n":2}` {
		t.Fatalf("stored %q, err %v; want the produce error and no new offset", stored(), err)
	}
}

// orderedStore records the offsets of "k" in the order they are stored.
type orderedStore struct {
	*MemoryOffsetStore
	mu   chan struct{} // held (full) while a Set runs
	seen []string
}

func (s *orderedStore) Set(ctx context.Context, vals map[string][]byte) error {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	s.seen = append(s.seen, string(vals["k"]))
	return s.MemoryOffsetStore.Set(ctx, vals)
}

// The offset writer stores asynchronously handed offsets in order, merges
// what piles up while it is busy (newer over older), and sync stores the
// last offsets after everything handed over before.
func TestSourceOffsetWriterOrder(t *testing.T) {
	store := &orderedStore{MemoryOffsetStore: NewMemoryOffsetStore(), mu: make(chan struct{}, 1)}
	w := &sourceWork{m: &taskMetrics{}, h: &Worker{offsets: store, cfg: WorkerConfig{OffsetFlushTimeout: time.Second}}, id: TaskID{Connector: "c"}}
	o := startOffsetWriter(w)
	store.mu <- struct{}{} // the store is busy: writes queue up
	for n := 1; n <= 5; n++ {
		o.enqueue(map[string]map[string]any{"k": {"n": n}})
	}
	<-store.mu
	if err := o.sync(map[string]map[string]any{"k": {"n": 6}}); err != nil {
		t.Fatal(err)
	}
	o.close()
	last := ""
	for _, s := range store.seen {
		if s < last { // {"n":N} sorts by N for one digit
			t.Fatalf("offsets stored out of order: %v", store.seen)
		}
		last = s
	}
	if last != `{"n":6}` || len(store.seen) > 3 {
		t.Fatalf("stored %v; want at most 3 writes ending with n=6", store.seen)
	}
}

// failingStore fails its first fails Sets, as an offset topic whose leader
// is down fails the writes until the timeout.
type failingStore struct {
	*MemoryOffsetStore
	fails int
	tried chan struct{} // one send per Set, once it is done
}

func (s *failingStore) Set(ctx context.Context, vals map[string][]byte) error {
	defer func() { s.tried <- struct{}{} }()
	if s.fails > 0 {
		s.fails--
		return context.DeadlineExceeded
	}
	return s.MemoryOffsetStore.Set(ctx, vals)
}

// An offset write that fails does not fail the task: the periodic commit
// goes on, and the failed write's offsets are stored with the next one,
// under newer offsets of the same partitions.
func TestSourceOffsetWriteFailureRetried(t *testing.T) {
	store := &failingStore{MemoryOffsetStore: NewMemoryOffsetStore(), fails: 2, tried: make(chan struct{}, 3)}
	w := &sourceWork{m: &taskMetrics{}, h: &Worker{offsets: store, cfg: WorkerConfig{OffsetFlushTimeout: time.Second}, log: slog.New(slog.DiscardHandler)},
		id: TaskID{Connector: "c"}, pending: map[string]map[string]any{}}
	w.writer = startOffsetWriter(w)
	commit := func(offs map[string]map[string]any) {
		t.Helper()
		w.cur = w.newBatch(1)
		w.cur.remaining.Add(1)
		maps.Copy(w.pending, offs)
		b := w.cur
		w.endBatch()
		b.cb(&kgo.Record{}, nil)
		if err := w.commitAcked(); err != nil {
			t.Fatalf("commit after a failed offset write: %v", err)
		}
		<-store.tried // one write at a time
	}
	commit(map[string]map[string]any{"a": {"n": 1}, "b": {"n": 1}}) // fails
	commit(map[string]map[string]any{"b": {"n": 2}})                // fails, with a=1 and b=2
	if err := w.writer.sync(map[string]map[string]any{"c": {"n": 1}}); err != nil {
		t.Fatalf("sync after two failed writes: %v", err)
	}
	w.writer.close()
	vals, err := store.Get(context.Background(), []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s %s %s", vals["a"], vals["b"], vals["c"]); got != `{"n":1} {"n":2} {"n":1}` {
		t.Fatalf("stored a, b, c = %s; want the failed writes' offsets (newest of each) and the last", got)
	}
}
