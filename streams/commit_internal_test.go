package streams

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A commit whose wait for the sinks' records is cut short by its context (Close cancels
// the commit loop's while it waits) fails alone: it is no produce failure, so the next
// commit (Close's own, with its final offsets) still commits, and it waits for the
// records of the cut generation too, since its offsets cover them. Before, the cut wait
// was kept as the application's produce error: every later commit returned it without
// committing, Close swallowed it as shutdown noise and returned nil, and whoever took the
// partitions next reprocessed them from older offsets (or from the start).
func TestCommitAfterCanceledWait(t *testing.T) {
	a := newCommitter(&App{}, false)
	gen := a.sinks.cur.Load()
	if err := gen.add(); err != nil { // a sink record produced, not yet acknowledged
		t.Fatal(err)
	}

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.commitOffsets(canceled, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit with a canceled context: %v, want context.Canceled", err)
	}
	if p := a.produceErr.Load(); p != nil {
		t.Fatalf("a canceled wait became the produce error %v", *p)
	}

	done := make(chan error, 1)
	go func() { done <- a.commitOffsets(context.Background(), nil) }()
	select {
	case err := <-done:
		t.Fatalf("the next commit returned (%v) before the earlier generation's record was acknowledged", err)
	case <-time.After(50 * time.Millisecond):
	}
	gen.done(&kgo.Record{Topic: "out"}, nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the next commit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next commit still waits after the acknowledgement")
	}

	// A real produce failure still sticks.
	gen = a.sinks.cur.Load()
	if err := gen.add(); err != nil {
		t.Fatal(err)
	}
	gen.done(&kgo.Record{Topic: "out"}, errors.New("broken"))
	for range 2 {
		if err := a.commitOffsets(context.Background(), nil); err == nil {
			t.Fatal("a commit after a failed produce succeeded")
		}
	}
	if a.produceErr.Load() == nil {
		t.Fatal("a produce failure is not kept")
	}
}

// flush waits for every generation sealed and not yet seen acknowledged, oldest first,
// and forgets those it saw acknowledged.
func TestSinkFlushKeepsUnacknowledgedGenerations(t *testing.T) {
	var s sinkRecords
	s.init()
	first := s.cur.Load()
	if err := first.add(); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if acked, err := s.flush(canceled); acked || !errors.Is(err, context.Canceled) {
		t.Fatalf("flush with a canceled context: acked %v, %v", acked, err)
	}
	second := s.cur.Load()
	if err := second.add(); err != nil {
		t.Fatal(err)
	}
	second.done(&kgo.Record{}, nil)
	if acked, err := s.flush(canceled); acked || err == nil {
		t.Fatalf("flush while the first generation is pending: acked %v, %v", acked, err)
	}
	if len(s.sealed) != 2 {
		t.Fatalf("%d sealed generations, want 2", len(s.sealed))
	}
	first.done(&kgo.Record{}, nil)
	if acked, err := s.flush(canceled); !acked || err != nil {
		t.Fatalf("flush with everything acknowledged: acked %v, %v", acked, err)
	}
	if len(s.sealed) != 0 {
		t.Fatalf("%d sealed generations left, want 0", len(s.sealed))
	}
}
