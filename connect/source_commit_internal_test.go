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
		w.beginBatch(1)
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
