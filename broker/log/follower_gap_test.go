package log

import (
	"math"
	"testing"
)

// TestFollowerGaps: a leader's compacted log has offset gaps between
// batches; a follower copies them, truncates inside a gap (the end is the
// requested offset) and inside a batch (the end is the batch's base), and
// rolls to a new segment when a gap is too wide for 32-bit relative
// offsets.
func TestFollowerGaps(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		l := mustOpen(t, fc.dir("t-0"), DefaultConfig(), fc.opts(c))
		at := func(o int64, records int) []byte {
			b := makeBatch(t, testBatch{records: records, valueSize: 10, baseTs: 1000 + o})
			SetBaseOffset(b, o)
			SetPartitionLeaderEpoch(b, 1)
			return b
		}
		for _, o := range []int64{0, 10, 20} {
			if _, err := l.AppendAsFollower(at(o, 2)); err != nil {
				t.Fatal(err)
			}
		}
		if l.LogEndOffset() != 22 {
			t.Fatalf("end %d", l.LogEndOffset())
		}
		checkLookups(t, l)
		if err := l.TruncateTo(15); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 15 || len(batchesIn(t, rawRange(t, l, 0, 15))) != 2 {
			t.Fatalf("truncate into a gap: end %d", l.LogEndOffset())
		}
		if err := l.TruncateTo(11); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 10 {
			t.Fatalf("truncate inside a batch: end %d, want 10", l.LogEndOffset())
		}
		// A gap wider than a segment's relative offsets.
		far := int64(math.MaxInt32) + 100
		if _, err := l.AppendAsFollower(append(at(12, 3), at(far, 2)...)); err != nil {
			t.Fatal(err)
		}
		if l.NumSegments() != 2 || l.active.base != far || l.LogEndOffset() != far+2 {
			t.Fatalf("segments %d, active %d, end %d", l.NumSegments(), l.active.base, l.LogEndOffset())
		}
		checkLookups(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, fc.dir("t-0"), DefaultConfig(), fc.opts(c))
		defer l.Close()
		if l.LogEndOffset() != far+2 {
			t.Fatalf("end after reopen %d", l.LogEndOffset())
		}
		checkLookups(t, l)
		if err := l.TruncateTo(13); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 12 || l.NumSegments() != 1 {
			t.Fatalf("end %d, %d segments", l.LogEndOffset(), l.NumSegments())
		}
	})
}

// TestAppendAsFollowerFlushPolicy: flush.messages applies to follower
// appends as to leader appends.
func TestAppendAsFollowerFlushPolicy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushMessages = 5
	l := mustOpen(t, "/d/t-0", cfg, Options{FS: NewMemFS(), Logger: quiet})
	defer l.Close()
	b := makeBatch(t, testBatch{records: 3})
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.RecoveryPoint() != 0 {
		t.Fatalf("flushed after 3 records: recovery point %d", l.RecoveryPoint())
	}
	SetBaseOffset(b, 3)
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.RecoveryPoint() != 6 {
		t.Fatalf("not flushed after 6 records: recovery point %d", l.RecoveryPoint())
	}
}
