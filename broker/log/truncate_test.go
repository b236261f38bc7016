package log

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// fillVaried appends n batches of 1 to 4 records with rising timestamps and
// returns their headers.
func fillVaried(t testing.TB, l *Log, n int, epochOf func(i int) int32) []BatchHeader {
	var hs []BatchHeader
	for i := 0; i < n; i++ {
		b := makeBatch(t, testBatch{records: 1 + i%4, valueSize: 20 + i%7*10, baseTs: 10_000 + int64(i)*100, tsStep: 7, tag: byte(i)})
		res := leaderAppend(t, l, b, epochOf(i))
		h, _ := ParseBatchHeader(b)
		h.BaseOffset = res.BaseOffset
		hs = append(hs, h)
	}
	return hs
}

// TestTruncateTo cuts a multi-segment log at many kinds of offsets and
// checks the log, its indexes and lookups afterwards, after appending again,
// and after a clean and an unclean restart.
func TestTruncateTo(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		cfg := replCfg()
		epochOf := func(i int) int32 { return int32(i / 10) }
		// A reference log tells the expected layout.
		ref := mustOpen(t, fc.dir("ref/t-0"), cfg, fc.other().opts(c))
		hs := fillVaried(t, ref, 40, epochOf)
		segBases := map[int64]bool{}
		for _, s := range *ref.segs.Load() {
			segBases[s.base] = true
		}
		leo := ref.LogEndOffset()
		var segBase, batchBase, midBatch int64 = -1, -1, -1
		for _, h := range hs[5:] {
			if segBases[h.BaseOffset] && segBase < 0 {
				segBase = h.BaseOffset
			}
			if !segBases[h.BaseOffset] && batchBase < 0 && h.BaseOffset > 30 {
				batchBase = h.BaseOffset
			}
			if h.LastOffsetDelta > 1 && midBatch < 0 && h.BaseOffset > 50 {
				midBatch = h.BaseOffset + 1
			}
		}
		// wantEnd is the base of the batch holding offset (or offset).
		wantEnd := func(o int64) int64 {
			for _, h := range hs {
				if h.LastOffset() >= o {
					return min(h.BaseOffset, o)
				}
			}
			return min(o, leo)
		}
		cases := []struct {
			name   string
			offset int64
		}{
			{"segment base", segBase},
			{"batch base", batchBase},
			{"middle of a batch", midBatch},
			{"first offset", 0},
			{"last batch", hs[len(hs)-1].BaseOffset},
			{"log end", leo},
			{"past the log end", leo + 10},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s %d", tc.name, tc.offset), func(t *testing.T) {
				dir := fc.dir(fmt.Sprintf("t%d/t-0", tc.offset))
				l := mustOpen(t, dir, cfg, fc.opts(c))
				fillVaried(t, l, 40, epochOf)
				l.SetHighWatermark(leo)
				if err := l.TruncateTo(tc.offset); err != nil {
					t.Fatal(err)
				}
				end := wantEnd(tc.offset)
				checkTruncated(t, l, ref, end)
				if l.HighWatermark() != end || l.RecoveryPoint() > end {
					t.Fatalf("high watermark %d, recovery point %d, want <= %d", l.HighWatermark(), l.RecoveryPoint(), end)
				}
				// Append a new tail, in a new epoch, and compare with a log
				// that never had the old one.
				freshFS := fc.other()
				fresh := mustOpen(t, freshFS.dir(fmt.Sprintf("f%d/t-0", tc.offset)), cfg, freshFS.opts(c))
				fetchFrom(t, ref, fresh, 1<<20, end)
				for i := 0; i < 12; i++ {
					b := makeBatch(t, testBatch{records: 2, valueSize: 50, baseTs: 50_000 + int64(i), tag: 0xee})
					leaderAppend(t, l, append([]byte(nil), b...), 9)
					leaderAppend(t, fresh, b, 9)
				}
				sameBytes(t, l, fresh, 0, l.LogEndOffset())
				if !reflect.DeepEqual(l.Epochs(), fresh.Epochs()) {
					t.Fatalf("epochs %v, want %v", l.Epochs(), fresh.Epochs())
				}
				checkLookups(t, l)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = mustOpen(t, dir, cfg, fc.opts(c))
				sameBytes(t, l, fresh, 0, fresh.LogEndOffset())
				checkLookups(t, l)
				if fc.mem != nil {
					// Unclean: flush, crash, reopen.
					leaderAppend(t, l, makeBatch(t, testBatch{records: 1}), 9)
					if err := l.Flush(); err != nil {
						t.Fatal(err)
					}
					fc.mem.Crash()
					l = mustOpen(t, dir, cfg, fc.opts(c))
					if l.LogEndOffset() != fresh.LogEndOffset()+1 {
						t.Fatalf("after crash end %d, want %d", l.LogEndOffset(), fresh.LogEndOffset()+1)
					}
					sameBytes(t, l, fresh, 0, fresh.LogEndOffset())
					checkLookups(t, l)
				}
				l.Close()
				fresh.Close()
			})
		}
		t.Run("below log start", func(t *testing.T) {
			l := mustOpen(t, fc.dir("below/t-0"), cfg, fc.opts(c))
			defer l.Close()
			fillVaried(t, l, 40, epochOf)
			l.SetHighWatermark(leo)
			if _, err := l.DeleteRecordsBefore(segBase + 1); err != nil {
				t.Fatal(err)
			}
			wantErr(t, l.TruncateTo(segBase), ErrOffsetOutOfRange)
			if l.LogEndOffset() != leo {
				t.Fatal("refused truncation changed the log")
			}
			// The batch holding the log start starts below it: the log is
			// emptied at the log start.
			if err := l.TruncateTo(segBase + 1); err != nil {
				t.Fatal(err)
			}
			if l.LogStartOffset() != segBase+1 || l.LogEndOffset() != segBase+1 || l.NumSegments() != 1 {
				t.Fatalf("start %d end %d segments %d", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments())
			}
		})
		ref.Close()
	})
}

// checkTruncated checks that l holds exactly ref's batches below end.
func checkTruncated(t *testing.T, l, ref *Log, end int64) {
	t.Helper()
	if l.LogEndOffset() != end {
		t.Fatalf("end %d, want %d", l.LogEndOffset(), end)
	}
	want := rawRange(t, ref, 0, end)
	if got := rawRange(t, l, 0, l.LogEndOffset()); !bytes.Equal(got, want) {
		t.Fatalf("log after truncation: %v, want %v", bases(t, got), bases(t, want))
	}
	for _, e := range l.Epochs() {
		if e.StartOffset >= end {
			t.Fatalf("epoch %v at or past the end %d", e, end)
		}
	}
	if _, err := l.Read(end+1, 100, end+10, true); err == nil && end < ref.LogEndOffset() {
		t.Fatalf("read past the new end succeeded")
	}
	checkLookups(t, l)
}

// checkLookups reads every offset of l through the index and finds every
// batch by its timestamps.
func checkLookups(t *testing.T, l *Log) {
	t.Helper()
	hs := batchesIn(t, rawRange(t, l, l.LogStartOffset(), l.LogEndOffset())) // compaction may leave a gap at the end
	for _, h := range hs {
		for o := h.BaseOffset; o <= h.LastOffset(); o++ {
			b, err := l.Read(o, 1, l.LogEndOffset(), true)
			if err != nil {
				t.Fatalf("read %d: %v", o, err)
			}
			if got := batchesIn(t, b); len(got) != 1 || got[0].BaseOffset != h.BaseOffset {
				t.Fatalf("read %d: got %v, want batch %d", o, got, h.BaseOffset)
			}
		}
		o, _, ok, err := l.OffsetForTimestamp(h.BaseTimestamp)
		if err != nil || !ok || o > h.BaseOffset {
			t.Fatalf("time %d: offset %d %v %v, want <= %d", h.BaseTimestamp, o, ok, err, h.BaseOffset)
		}
	}
	maxTs := int64(-1)
	for _, h := range hs {
		maxTs = max(maxTs, h.MaxTimestamp)
	}
	if _, _, ok, _ := l.OffsetForTimestamp(maxTs + 1); ok {
		t.Fatalf("found a record after the max timestamp %d", maxTs)
	}
	// The segments' max timestamps match their batches.
	for i, s := range *l.segs.Load() {
		want, wantOff := int64(-1), int64(-1)
		for _, h := range hs {
			end := l.LogEndOffset()
			if segs := *l.segs.Load(); i+1 < len(segs) {
				end = segs[i+1].base
			}
			if h.BaseOffset >= s.base && h.BaseOffset < end && h.MaxTimestamp > want {
				want, wantOff = h.MaxTimestamp, h.BaseOffset
			}
		}
		if s.maxTs != want || s.maxTsOff != wantOff {
			t.Fatalf("segment %d: max timestamp %d at %d, want %d at %d", s.base, s.maxTs, s.maxTsOff, want, wantOff)
		}
	}
}
