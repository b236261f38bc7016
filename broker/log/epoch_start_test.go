package log

import (
	"errors"
	"path/filepath"
	"testing"
)

// A new leader's epoch starts at the log end as it is when the epoch is
// recorded, and an append stamped with the epoch before is refused once
// the new one has started: a batch of the old epoch past the new epoch's
// start would send the new leader's followers into a truncate-and-fetch
// loop (their last fetched epoch is the old one, which ends before them).
func TestStartLeaderEpoch(t *testing.T) {
	l := mustOpen(t, filepath.Join(t.TempDir(), "t-0"), DefaultConfig(), Options{Logger: quiet})
	defer l.Close()
	leaderAppend(t, l, makeBatch(t, testBatch{records: 3}), 0)
	leaderAppend(t, l, makeBatch(t, testBatch{records: 2}), 0)
	if err := l.StartLeaderEpoch(1); err != nil {
		t.Fatal(err)
	}
	if e, ok := l.LatestEpochEntry(); !ok || e.Epoch != 1 || e.StartOffset != 5 {
		t.Fatalf("latest epoch entry %+v %v, want epoch 1 from 5", e, ok)
	}
	_, err := l.Append(makeBatch(t, testBatch{records: 1}), AppendOptions{LeaderEpoch: 0})
	if !errors.Is(err, ErrStaleLeaderEpoch) {
		t.Fatalf("append stamped with the old epoch: %v, want ErrStaleLeaderEpoch", err)
	}
	if got := l.LogEndOffset(); got != 5 {
		t.Fatalf("log end %d after a refused append, want 5", got)
	}
	res := leaderAppend(t, l, makeBatch(t, testBatch{records: 1}), 1)
	if res.BaseOffset != 5 {
		t.Fatalf("append in epoch 1 at %d, want 5", res.BaseOffset)
	}
	if d := l.DivergingEpoch(6, 1); d.Diverged || d.Unknown {
		t.Fatalf("a follower at 6 in epoch 1 diverges: %+v", d)
	}
	if err := l.StartLeaderEpoch(1); err != nil {
		t.Fatalf("starting the latest epoch again: %v", err)
	}
}
