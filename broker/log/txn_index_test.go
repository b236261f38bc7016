package log

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gregorhq/gregor/broker/txn"
)

// txnBatch makes a transactional batch for producer pid.
func txnBatch(t *testing.T, pid int64, seq int32, records int) []byte {
	b := makeBatch(t, testBatch{records: records, valueSize: 10, pid: pid, epoch: 0, seq: seq, baseTs: 1000})
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrTransactional
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	RecomputeCRC(b)
	return b
}

func TestControlBatchRoundTrip(t *testing.T) {
	for _, marker := range []int16{ControlAbort, ControlCommit} {
		b := EncodeControlBatch(42, 3, marker, 7, 12345)
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.RecordCount != 1 {
			t.Fatalf("marker header: %+v", h)
		}
		if got, err := ControlType(b); err != nil || got != marker {
			t.Fatalf("ControlType = %d, %v; want %d", got, err, marker)
		}
	}
	if _, err := ControlType(makeBatch(t, testBatch{})); err == nil {
		t.Fatal("a data batch is not a marker")
	}
}

// TestAbortedTransactionIndex appends two interleaved transactions, aborts
// one and commits the other, and checks the last stable offset and the
// aborted list, across a clean restart and an unclean one.
func TestAbortedTransactionIndex(t *testing.T) {
	fs := NewMemFS()
	clock := newClock()
	opts := memOpts(fs, clock)
	dir := "/data/t-0"
	l := mustOpen(t, dir, DefaultConfig(), opts)

	if fu := l.FirstUnstableOffset(); fu != -1 {
		t.Fatalf("empty log first unstable = %d", fu)
	}
	mustAppend(t, l, makeBatch(t, testBatch{records: 2})) // 0-1 plain
	mustAppend(t, l, txnBatch(t, 7, 0, 3))                // 2-4 producer 7
	mustAppend(t, l, txnBatch(t, 8, 0, 2))                // 5-6 producer 8
	if fu := l.FirstUnstableOffset(); fu != 2 {
		t.Fatalf("first unstable = %d, want 2", fu)
	}
	mustAppend(t, l, EncodeControlBatch(7, 0, ControlAbort, 0, 2000)) // 7: abort 7
	if fu := l.FirstUnstableOffset(); fu != 5 {
		t.Fatalf("after abort first unstable = %d, want 5", fu)
	}
	mustAppend(t, l, EncodeControlBatch(8, 0, ControlCommit, 0, 2000)) // 8: commit 8
	if fu := l.FirstUnstableOffset(); fu != -1 {
		t.Fatalf("after both markers first unstable = %d, want -1", fu)
	}
	check := func(l *Log, when string) {
		t.Helper()
		ab := l.AbortedTransactions(0, 100)
		if len(ab) != 1 || ab[0].ProducerID != 7 || ab[0].FirstOffset != 2 || ab[0].LastOffset != 7 {
			t.Fatalf("%s: aborted = %+v", when, ab)
		}
		if got := l.AbortedTransactions(8, 100); len(got) != 0 {
			t.Fatalf("%s: aborted after the marker = %+v", when, got)
		}
		if got := l.AbortedTransactions(0, 2); len(got) != 0 {
			t.Fatalf("%s: aborted before the transaction = %+v", when, got)
		}
	}
	check(l, "live")
	// An open transaction survives a restart too.
	mustAppend(t, l, txnBatch(t, 9, 0, 1)) // 9: producer 9 stays open
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, DefaultConfig(), opts)
	check(l, "after clean restart")
	if fu := l.FirstUnstableOffset(); fu != 9 {
		t.Fatalf("after restart first unstable = %d, want 9", fu)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// Unclean: drop the index file and the producer snapshots, crash;
	// replaying the markers rebuilds the entry.
	fs.Remove(dir + "/00000000000000000000.txnindex")
	entries, _ := fs.ReadDir(dir)
	for _, e := range entries {
		if _, ok := parseSnapshotName(e.Name()); ok {
			fs.Remove(dir + "/" + e.Name())
		}
	}
	fs.Crash()
	l2 := mustOpen(t, dir, DefaultConfig(), opts)
	check(l2, "after crash without the index file")
	if fu := l2.FirstUnstableOffset(); fu != 9 {
		t.Fatalf("after crash first unstable = %d, want 9", fu)
	}
	l2.Close()
}

// TestStaleCoordinatorMarkerFenced: a marker from an older coordinator
// epoch than the producer's last one is refused (txn.ErrCoordinatorFenced),
// after a clean restart (snapshot) and after a crash that lost the
// snapshots (replayed from the markers).
func TestStaleCoordinatorMarkerFenced(t *testing.T) {
	fs := NewMemFS()
	opts := memOpts(fs, newClock())
	dir := "/data/t-0"
	l := mustOpen(t, dir, DefaultConfig(), opts)
	mustAppend(t, l, txnBatch(t, 7, 0, 1))
	mustAppend(t, l, EncodeControlBatch(7, 0, ControlCommit, 5, 2000))
	fenced := func(l *Log, when string) {
		t.Helper()
		_, err := l.Append(EncodeControlBatch(7, 0, ControlCommit, 4, 2000), AppendOptions{})
		if !errors.Is(err, txn.ErrCoordinatorFenced) {
			t.Fatalf("%s: marker from coordinator epoch 4: err = %v, want ErrCoordinatorFenced", when, err)
		}
	}
	fenced(l, "live")
	if m, ce, err := ControlMarker(EncodeControlBatch(7, 0, ControlAbort, 5, 1)); err != nil || m != ControlAbort || ce != 5 {
		t.Fatalf("ControlMarker = %d, %d, %v", m, ce, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, DefaultConfig(), opts)
	fenced(l, "after a clean restart")
	mustAppend(t, l, EncodeControlBatch(7, 0, ControlCommit, 6, 2000))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, _ := fs.ReadDir(dir)
	for _, e := range entries {
		if _, ok := parseSnapshotName(e.Name()); ok {
			fs.Remove(dir + "/" + e.Name())
		}
	}
	fs.Crash()
	l = mustOpen(t, dir, DefaultConfig(), opts)
	defer l.Close()
	if _, err := l.Append(EncodeControlBatch(7, 0, ControlCommit, 5, 2000), AppendOptions{}); !errors.Is(err, txn.ErrCoordinatorFenced) {
		t.Fatalf("after a crash: marker from coordinator epoch 5: err = %v, want ErrCoordinatorFenced", err)
	}
}
