package log

import (
	"bytes"
	"reflect"
	"testing"
)

// fillLeader appends n batches in epoch 0 then n in epoch 1, mixing plain
// batches with an idempotent producer's, and returns the first sequence of
// the producer's last batch.
func fillLeader(t *testing.T, l *Log, n int) int32 {
	t.Helper()
	seq := int32(0)
	for e := int32(0); e < 2; e++ {
		for i := 0; i < n; i++ {
			if i%3 == 1 {
				leaderAppend(t, l, idemBatch(t, 7, 0, seq), e)
				seq += 3
			} else {
				leaderAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 30, baseTs: 1000 + int64(i), tsStep: 3, tag: byte(i)}), e)
			}
		}
	}
	return seq - 3
}

// TestAppendAsFollowerCopiesLeader: a follower fetching from a leader that
// wrote in epochs 0 and 1 ends up with the same bytes, epochs, producer
// state and segments rolled by its own config; its high watermark does not
// move; all of it survives a clean restart and a crash.
func TestAppendAsFollowerCopiesLeader(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		cfg := replCfg()
		leader := mustOpen(t, fc.dir("leader/t-0"), cfg, fc.other().opts(c))
		defer leader.Close()
		lastSeq := fillLeader(t, leader, 20)
		follower := mustOpen(t, fc.dir("follower/t-0"), cfg, fc.opts(c))
		fetchFrom(t, leader, follower, 700, leader.LogEndOffset())
		check := func(f *Log) {
			t.Helper()
			if f.LogEndOffset() != leader.LogEndOffset() {
				t.Fatalf("follower end %d, leader %d", f.LogEndOffset(), leader.LogEndOffset())
			}
			sameBytes(t, leader, f, 0, leader.LogEndOffset())
			if got, want := f.Epochs(), leader.Epochs(); !reflect.DeepEqual(got, want) || len(got) != 2 {
				t.Fatalf("epochs %v, leader %v", got, want)
			}
			if got, want := f.OngoingProducers(), leader.OngoingProducers(); !reflect.DeepEqual(got, want) {
				t.Fatalf("producers %+v, leader %+v", got, want)
			}
			if f.NumSegments() < 3 {
				t.Fatalf("%d segments: no roll", f.NumSegments())
			}
			// Offset and time lookups work on the copy.
			for o := int64(0); o < f.LogEndOffset(); o += 5 {
				b, err := f.Read(o, 1, f.LogEndOffset(), true)
				if err != nil {
					t.Fatal(err)
				}
				if h := batchesIn(t, b); len(h) != 1 || h[0].BaseOffset > o || h[0].LastOffset() < o {
					t.Fatalf("read %d: %+v", o, h)
				}
			}
			lo, lt, lok, _ := leader.OffsetForTimestamp(1010)
			fo, ft, fok, _ := f.OffsetForTimestamp(1010)
			if lo != fo || lt != ft || lok != fok || !fok {
				t.Fatalf("time lookup %d %d %v vs leader %d %d %v", fo, ft, fok, lo, lt, lok)
			}
		}
		check(follower)
		if follower.HighWatermark() != 0 {
			t.Fatalf("follower high watermark moved to %d", follower.HighWatermark())
		}
		// A retry of the producer's last batch is a duplicate on the
		// follower too, were it to lead.
		dup, err := follower.Append(idemBatch(t, 7, 0, lastSeq), AppendOptions{LeaderEpoch: 2})
		if err != nil || !dup.Duplicate {
			t.Fatalf("retry on the follower: %+v %v", dup, err)
		}
		if err := follower.Close(); err != nil {
			t.Fatal(err)
		}
		follower = mustOpen(t, fc.dir("follower/t-0"), cfg, fc.opts(c))
		check(follower)
		if fc.mem != nil {
			// Flush, then crash: recovery keeps everything.
			leaderAppend(t, leader, makeBatch(t, testBatch{records: 4}), 1)
			fetchFrom(t, leader, follower, 1<<20, leader.LogEndOffset())
			if err := follower.Flush(); err != nil {
				t.Fatal(err)
			}
			fc.mem.Crash()
			follower = mustOpen(t, fc.dir("follower/t-0"), cfg, fc.opts(c))
			check(follower)
		}
		follower.Close()
	})
}

// TestAppendAsFollowerValidation checks what AppendAsFollower refuses and
// that a refused input appends nothing.
func TestAppendAsFollowerValidation(t *testing.T) {
	at := func(b []byte, o int64, epoch int32) []byte {
		b = append([]byte(nil), b...)
		SetBaseOffset(b, o)
		SetPartitionLeaderEpoch(b, epoch)
		return b
	}
	two := makeBatch(t, testBatch{records: 2, valueSize: 5})
	badCRC := at(two, 4, 0)
	badCRC[len(badCRC)-1] ^= 1
	badMagic := at(two, 4, 0)
	badMagic[offMagic] = 1
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	cases := []struct {
		name    string
		in      []byte
		want    error
		wantEnd int64
	}{
		{"empty", nil, nil, 4},
		{"next", at(two, 4, 0), nil, 6},
		{"gap after the end", at(two, 10, 0), nil, 12},
		{"two", cat(at(two, 4, 0), at(two, 6, 0)), nil, 8},
		{"gap between", cat(at(two, 4, 0), at(two, 9, 0)), nil, 11},
		{"trailing partial ignored", cat(at(two, 4, 0), at(two, 6, 0)[:30]), nil, 6},
		{"partial header only", at(two, 4, 0)[:40], nil, 4},
		{"below the end", at(two, 2, 0), ErrOffsetMismatch, 4},
		{"straddles the end", at(two, 3, 0), ErrOffsetMismatch, 4},
		{"overlapping batches", cat(at(two, 4, 0), at(two, 5, 0)), ErrOffsetMismatch, 4},
		{"going back", cat(at(two, 8, 0), at(two, 4, 0)), ErrOffsetMismatch, 4},
		{"bad crc", badCRC, ErrBatchCRC, 4},
		{"bad crc after a good one", cat(at(two, 4, 0), badCRC), ErrInvalidBatch, 4},
		{"bad magic", badMagic, ErrBatchMagic, 4},
		{"negative offset", at(two, -5, 0), ErrInvalidBatch, 4},
		{"offset overflow", at(two, 1<<63-1, 0), ErrInvalidBatch, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: NewMemFS(), Logger: quiet})
			defer l.Close()
			mustAppend(t, l, makeBatch(t, testBatch{records: 4}))
			res, err := l.AppendAsFollower(tc.in)
			if tc.want == nil && err != nil || tc.want != nil {
				wantErr(t, err, tc.want)
			}
			if l.LogEndOffset() != tc.wantEnd || res.LogEndOffset != tc.wantEnd {
				t.Fatalf("end %d (result %d), want %d", l.LogEndOffset(), res.LogEndOffset, tc.wantEnd)
			}
			readAll(t, l, 0)
		})
	}
}

// TestAppendAsFollowerEmptyLogStartsAtBatch: an empty follower whose first
// fetched batch straddles its log end (the leader's log start is inside
// that batch) restarts its log at the batch's base offset, as Kafka does.
func TestAppendAsFollowerEmptyLogStartsAtBatch(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs, Logger: quiet})
	if err := l.TruncateFullyAndStartAt(12); err != nil {
		t.Fatal(err)
	}
	b := makeBatch(t, testBatch{records: 5})
	SetBaseOffset(b, 10)
	res, err := l.AppendAsFollower(b)
	if err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 15 || res.FirstOffset != 10 {
		t.Fatalf("start %d end %d result %+v", l.LogStartOffset(), l.LogEndOffset(), res)
	}
	// Not when the log holds something.
	SetBaseOffset(b, 13)
	if _, err := l.AppendAsFollower(b); err == nil {
		t.Fatal("straddling batch accepted on a non-empty log")
	}
	l.Close()
	l = mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs, Logger: quiet})
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 15 {
		t.Fatalf("after reopen start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	l.Close()
}

// TestAppendAsFollowerTransactions: markers copied from the leader end the
// follower's transactions, the aborted index and first unstable offset
// match the leader's.
func TestAppendAsFollowerTransactions(t *testing.T) {
	leader := mustOpen(t, "/d/leader/t-0", DefaultConfig(), Options{FS: NewMemFS(), Logger: quiet})
	follower := mustOpen(t, "/d/follower/t-0", DefaultConfig(), Options{FS: NewMemFS(), Logger: quiet})
	leaderAppend(t, leader, txBatch(t, 1, 0, 0, 2, 'a'), 0)
	leaderAppend(t, leader, txBatch(t, 2, 0, 0, 2, 'b'), 0)
	leaderAppend(t, leader, EncodeControlBatch(1, 0, ControlAbort, 0, 2000), 0)
	leaderAppend(t, leader, txBatch(t, 2, 0, 2, 2, 'c'), 0)
	fetchFrom(t, leader, follower, 1<<20, leader.LogEndOffset())
	if follower.FirstUnstableOffset() != 2 || leader.FirstUnstableOffset() != 2 {
		t.Fatalf("first unstable %d, leader %d", follower.FirstUnstableOffset(), leader.FirstUnstableOffset())
	}
	leaderAppend(t, leader, EncodeControlBatch(2, 0, ControlCommit, 0, 2000), 0)
	fetchFrom(t, leader, follower, 1<<20, leader.LogEndOffset())
	if follower.FirstUnstableOffset() != -1 {
		t.Fatalf("first unstable %d after commit", follower.FirstUnstableOffset())
	}
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 2}}
	if got := follower.AbortedTransactions(0, 100); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(leader.AbortedTransactions(0, 100), want) {
		t.Fatalf("aborted %+v, leader %+v", got, leader.AbortedTransactions(0, 100))
	}
	leader.Close()
	follower.Close()
}
