package log

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/gregorhq/gregor/broker/txn"
)

// histOp is one leader append of a test history.
type histOp struct {
	batch []byte
	epoch int32
}

// apply appends ops to l as the leader, returning each op's base offset.
func apply(t testing.TB, l *Log, ops []histOp) []int64 {
	t.Helper()
	var out []int64
	for _, op := range ops {
		res, err := l.Append(append([]byte(nil), op.batch...), AppendOptions{LeaderEpoch: op.epoch})
		if err != nil || res.Duplicate {
			t.Fatalf("history append: %+v %v", res, err)
		}
		out = append(out, res.BaseOffset)
	}
	return out
}

// probeResult is what an append of a probe batch did.
type probeResult struct {
	Base, Last int64
	Duplicate  bool
	Err        string
}

func classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, txn.ErrOutOfOrderSequence):
		return "out of order"
	case errors.Is(err, txn.ErrInvalidEpoch):
		return "invalid epoch"
	}
	return err.Error()
}

// probe appends each batch to l and reports what happened.
func probe(l *Log, batches [][]byte) []probeResult {
	var out []probeResult
	for _, b := range batches {
		res, err := l.Append(append([]byte(nil), b...), AppendOptions{LeaderEpoch: 50})
		out = append(out, probeResult{res.BaseOffset, res.LastOffset, res.Duplicate, classify(err)})
	}
	return out
}

// sameState fails unless the two logs agree on producer and transaction
// state.
func sameState(t *testing.T, what string, got, want *Log) {
	t.Helper()
	if g, w := got.OngoingProducers(), want.OngoingProducers(); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: producers %+v, want %+v", what, g, w)
	}
	if g, w := got.FirstUnstableOffset(), want.FirstUnstableOffset(); g != w {
		t.Fatalf("%s: first unstable offset %d, want %d", what, g, w)
	}
	if g, w := got.AbortedTransactions(0, 1<<40), want.AbortedTransactions(0, 1<<40); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: aborted %+v, want %+v", what, g, w)
	}
}

// truncationCase runs the same check at every batch boundary of a history:
// log T holds the whole history and is truncated there, log R only ever
// held the history up to there; check compares them.
func truncationCase(t *testing.T, ops []histOp, check func(t *testing.T, T, R *Log, tfs, rfs *MemFS, reopen func() (*Log, *Log))) {
	c := newClock()
	full := mustOpen(t, "/d/full/t-0", replCfg(), memOpts(NewMemFS(), c))
	offs := apply(t, full, ops)
	full.Close()
	for i := range ops {
		t.Run(fmt.Sprintf("at %d", offs[i]), func(t *testing.T) {
			tfs, rfs := NewMemFS(), NewMemFS()
			T := mustOpen(t, "/d/t/t-0", replCfg(), memOpts(tfs, c))
			R := mustOpen(t, "/d/r/t-0", replCfg(), memOpts(rfs, c))
			apply(t, T, ops)
			apply(t, R, ops[:i])
			if err := T.TruncateTo(offs[i]); err != nil {
				t.Fatal(err)
			}
			if T.LogEndOffset() != R.LogEndOffset() {
				t.Fatalf("end %d, want %d", T.LogEndOffset(), R.LogEndOffset())
			}
			reopen := func() (*Log, *Log) {
				T.Close()
				R.Close()
				T = mustOpen(t, "/d/t/t-0", replCfg(), memOpts(tfs, c))
				R = mustOpen(t, "/d/r/t-0", replCfg(), memOpts(rfs, c))
				return T, R
			}
			check(t, T, R, tfs, rfs, reopen)
			T.Close()
			R.Close()
		})
	}
}

// TestTruncateRestoresProducerState: after TruncateTo, every retry of a
// batch is deduplicated, accepted or refused exactly as on a log that
// never held the truncated tail — also after a restart.
func TestTruncateRestoresProducerState(t *testing.T) {
	var ops []histOp
	var probes [][]byte
	seqP, seqQ := int32(0), int32(0)
	for i := 0; i < 30; i++ {
		var b []byte
		switch {
		case i == 20:
			seqP = 0 // producer 7 bumps its epoch
			b = idemBatch(t, 7, 1, seqP)
			seqP += 3
		case i%3 == 0:
			b = idemBatch(t, 7, int16(min(i/20, 1)), seqP)
			seqP += 3
		case i%3 == 1:
			b = idemBatch(t, 8, 0, seqQ)
			seqQ += 3
		default:
			b = makeBatch(t, testBatch{records: 2, valueSize: 60, baseTs: 2000 + int64(i)})
		}
		ops = append(ops, histOp{b, int32(i / 8)})
		if i%3 != 2 {
			probes = append(probes, b) // retries of every idempotent batch
		}
	}
	// And the next batches in sequence, a gap, and a fenced epoch.
	probes = append(probes, idemBatch(t, 8, 0, seqQ), idemBatch(t, 8, 0, seqQ+30), idemBatch(t, 7, 0, 999), idemBatch(t, 7, 1, seqP))
	truncationCase(t, ops, func(t *testing.T, T, R *Log, tfs, rfs *MemFS, reopen func() (*Log, *Log)) {
		sameState(t, "after truncation", T, R)
		tp, rp := probe(T, probes[:len(probes)/2]), probe(R, probes[:len(probes)/2])
		if !reflect.DeepEqual(tp, rp) {
			t.Fatalf("probes after truncation:\n got %+v\nwant %+v", tp, rp)
		}
		// Plain batches past where the old tail's snapshots were, then a
		// crash: recovery must not load a snapshot of the old tail.
		for i := 0; i < 12; i++ {
			b := makeBatch(t, testBatch{records: 5, valueSize: 90})
			leaderAppend(t, T, append([]byte(nil), b...), 60)
			leaderAppend(t, R, b, 60)
		}
		if err := T.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := R.Flush(); err != nil {
			t.Fatal(err)
		}
		tfs.Crash()
		rfs.Crash()
		T, R = reopen()
		sameState(t, "after crash", T, R)
		tp, rp = probe(T, probes[len(probes)/2:]), probe(R, probes[len(probes)/2:])
		if !reflect.DeepEqual(tp, rp) {
			t.Fatalf("probes after crash:\n got %+v\nwant %+v", tp, rp)
		}
		T, R = reopen()
		sameState(t, "after restart", T, R)
	})
}

// TestTruncateRestoresTransactions: a transaction whose marker was cut off
// is open again (first unstable offset, last stable offset), aborted
// transactions past the cut leave the index (in memory and on disk), and
// markers appended afterwards index as on a log that never had the tail.
func TestTruncateRestoresTransactions(t *testing.T) {
	type step struct {
		pid    int64
		marker int16 // -1: a transactional data batch
	}
	script := []step{
		{1, -1}, {2, -1}, {0, -1}, {1, -1}, {3, -1}, {1, ControlAbort}, {0, -1}, {2, -1},
		{3, -1}, {2, ControlCommit}, {4, -1}, {3, ControlAbort}, {0, -1}, {4, -1}, {5, -1}, {4, ControlAbort},
		{5, ControlCommit}, {0, -1},
	}
	seq := map[int64]int32{}
	var ops []histOp
	for i, s := range script {
		var b []byte
		switch {
		case s.pid == 0:
			b = makeBatch(t, testBatch{records: 3, valueSize: 80, baseTs: 3000 + int64(i)})
		case s.marker >= 0:
			b = EncodeControlBatch(s.pid, 0, s.marker, 0, 3000+int64(i))
		default:
			b = txBatch(t, s.pid, 0, seq[s.pid], 2, byte(i))
			seq[s.pid] += 2
		}
		ops = append(ops, histOp{b, int32(i / 6)})
	}
	// What a new leader writes after the cut: an abort for every producer
	// whose transaction is open, then data.
	after := func(t *testing.T, l *Log) {
		t.Helper()
		for _, p := range l.OngoingProducers() {
			if p.TxnStartOffset >= 0 {
				leaderAppend(t, l, EncodeControlBatch(p.ProducerID, 0, ControlAbort, 1, 9000), 50)
			}
		}
		leaderAppend(t, l, makeBatch(t, testBatch{records: 2, baseTs: 9001}), 50)
	}
	truncationCase(t, ops, func(t *testing.T, T, R *Log, tfs, rfs *MemFS, reopen func() (*Log, *Log)) {
		sameState(t, "after truncation", T, R)
		T.SetHighWatermark(T.LogEndOffset())
		if fu := T.FirstUnstableOffset(); fu >= 0 && fu > T.LogEndOffset() {
			t.Fatalf("first unstable offset %d past the end %d", fu, T.LogEndOffset())
		}
		// New markers past the cut, then a crash: nothing of the old
		// tail (aborted-transaction entries, snapshots) comes back.
		after(t, T)
		after(t, R)
		sameState(t, "after new markers", T, R)
		if err := T.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := R.Flush(); err != nil {
			t.Fatal(err)
		}
		tfs.Crash()
		rfs.Crash()
		T, R = reopen()
		sameState(t, "after crash", T, R)
		T, R = reopen()
		sameState(t, "after restart", T, R)
	})
}

// TestTruncateMetadataDurable: right after TruncateTo returns, a crash
// leaves no producer snapshot past the cut and no aborted-transaction entry
// whose marker was cut, and the recovery point checkpoint is at or below
// the cut (files read straight from the crashed filesystem, before
// recovery could tidy anything).
func TestTruncateMetadataDurable(t *testing.T) {
	c := newClock()
	fs := NewMemFS()
	l := mustOpen(t, "/d/t-0", replCfg(), memOpts(fs, c))
	for i := 0; i < 40; i++ {
		pid := int64(1 + i%4)
		leaderAppend(t, l, txBatch(t, pid, 0, int32(i/4*2), 2, byte(i)), int32(i/10))
		if i%4 == 3 {
			for p := int64(1); p <= 4; p++ {
				leaderAppend(t, l, EncodeControlBatch(p, 0, ControlAbort, 0, 5000), int32(i/10))
			}
		}
	}
	if err := l.Close(); err != nil { // snapshots, checkpoints, clean marker
		t.Fatal(err)
	}
	l = mustOpen(t, "/d/t-0", replCfg(), memOpts(fs, c))
	if len(l.snapshots) < 2 || len(l.AbortedTransactions(0, 1<<40)) < 20 {
		t.Fatalf("setup: %d snapshots, %d aborted", len(l.snapshots), len(l.AbortedTransactions(0, 1<<40)))
	}
	// Cut at an abort marker in the middle of a segment, below a snapshot.
	cut := int64(-1)
	for _, a := range l.AbortedTransactions(0, 1<<40) {
		segs := *l.segs.Load()
		k := sort.Search(len(segs), func(i int) bool { return segs[i].base > a.LastOffset }) - 1
		if a.LastOffset < l.snapshots[0] && segs[k].base < a.LastOffset {
			cut = a.LastOffset
		}
	}
	if cut < 0 {
		t.Fatal("setup: no abort marker inside a segment")
	}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	fs.Crash()
	ents, _ := fs.ReadDir("/d/t-0")
	for _, e := range ents {
		if o, ok := parseSnapshotName(e.Name()); ok && o > end {
			t.Errorf("snapshot %d past the end %d survived", o, end)
		}
		if _, ext, ok := parseSegmentName(e.Name()); ok && ext == ".txnindex" {
			b, _ := readFile(fs, "/d/t-0/"+e.Name())
			for _, a := range decodeTxnIndex(b) {
				if a.LastOffset >= end {
					t.Errorf("%s: aborted transaction %+v past the end %d", e.Name(), a, end)
				}
			}
		}
	}
	ck, err := readCheckpoint(fs, "/d/t-0/"+recoveryPointCheckpoint)
	if err != nil || ck[topicPartition{"t", 0}] > end {
		t.Errorf("recovery point checkpoint %v %v, end %d", ck, err, end)
	}
	l2 := mustOpen(t, "/d/t-0", replCfg(), memOpts(fs, c))
	defer l2.Close()
	if l2.LogEndOffset() != end {
		t.Fatalf("end after crash %d, want %d", l2.LogEndOffset(), end)
	}
}

// TestReplayIndexesAbortMarkers: replaying the log (recovery without the
// .txnindex, or a truncation's producer-state rebuild) reads each abort
// marker's type at the marker's own position, so the aborted transaction
// is indexed again.
func TestReplayIndexesAbortMarkers(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs, Logger: quiet})
	leaderAppend(t, l, makeBatch(t, testBatch{records: 3}), 0)
	leaderAppend(t, l, txBatch(t, 4, 0, 0, 2, 'x'), 0)
	leaderAppend(t, l, EncodeControlBatch(4, 0, ControlAbort, 0, 1500), 0)
	want := l.AbortedTransactions(0, 100)
	if len(want) != 1 {
		t.Fatalf("aborted %+v", want)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove("/d/t-0/" + segFileName(0, ".txnindex")); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("/d/t-0"); err != nil {
		t.Fatal(err)
	}
	fs.Crash()
	l = mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs, Logger: quiet})
	defer l.Close()
	if got := l.AbortedTransactions(0, 100); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay: aborted %+v, want %+v", got, want)
	}
}
