package connect

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The periodic source commit stores only the offsets of batches that Kafka
// has fully acknowledged, oldest first, and nothing after a produce error.
func TestSourceCommitAckedBatches(t *testing.T) {
	store := NewMemoryOffsetStore()
	w := &sourceWork{h: &Standalone{offsets: store, cfg: WorkerConfig{OffsetFlushTimeout: time.Second}},
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
	w := &sourceWork{h: &Standalone{offsets: store, cfg: WorkerConfig{OffsetFlushTimeout: time.Second}}, id: TaskID{Connector: "c"}}
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
