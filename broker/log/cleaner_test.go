package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func checkLatest(t *testing.T, l *Log, want map[string]string, wantTombs map[string]bool) []gotRec {
	t.Helper()
	recs, _ := readRecords(t, l)
	got := latest(recs)
	for k, v := range want {
		if wantTombs[k] {
			continue
		}
		if got[k].val != v || got[k].tomb {
			t.Fatalf("key %s: got %+v, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !wantTombs[k] {
			t.Fatalf("unexpected key %q", k)
		}
	}
	return recs
}

func TestCleanDedupesAcrossSegments(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	l := mustOpen(t, "/d/t-0", compactCfg(2048), memOpts(fs, c))
	want := fillKeys(t, l, c, 10, 30)
	before, beforeSegs := l.Size(), l.NumSegments()
	leo := l.LogEndOffset()
	st, err := l.Clean(c.now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Swapped == 0 || st.RecordsRemoved == 0 {
		t.Fatalf("nothing cleaned: %+v", st)
	}
	recs := checkLatest(t, l, want, nil)
	// Only the active segment may still hold duplicates.
	active := (*l.segs.Load())[l.NumSegments()-1].base
	seen := map[string]bool{}
	for _, r := range recs {
		if r.off < active {
			if seen[r.key] {
				t.Fatalf("key %s kept twice below the active segment", r.key)
			}
			seen[r.key] = true
		}
	}
	if l.Size() >= before {
		t.Fatalf("log did not shrink: %d -> %d bytes", before, l.Size())
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("log end moved: %d -> %d", leo, l.LogEndOffset())
	}
	if got := l.cleanedTo.Load(); got != active {
		t.Fatalf("cleaner checkpoint %d, want %d", got, active)
	}
	// A second cleaning finds nothing dirty.
	if st, err := l.Clean(c.now()); err != nil || st.Segments != 0 {
		t.Fatalf("second clean: %+v %v", st, err)
	}
	// The next one merges the small cleaned segments, as Kafka groups them.
	want = fillKeys(t, l, c, 1, 30)
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() >= beforeSegs {
		t.Fatalf("segments not merged: %d -> %d", beforeSegs, l.NumSegments())
	}
	active = (*l.segs.Load())[l.NumSegments()-1].base
	// Appends continue and the cleaned log survives a restart.
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "k000", v: "new"}}}))
	want["k000"] = "new"
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, "/d/t-0", compactCfg(2048), memOpts(fs, c))
	defer l.Close()
	checkLatest(t, l, want, nil)
	if l.cleanedTo.Load() != active {
		t.Fatalf("checkpoint not reloaded: %d", l.cleanedTo.Load())
	}
}

func TestCleanReadFromCompactedOffset(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	l := mustOpen(t, "/d/t-0", compactCfg(1024), memOpts(fs, c))
	defer l.Close()
	fillKeys(t, l, c, 5, 10)
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	recs, _ := readRecords(t, l)
	present := map[int64]bool{}
	for _, r := range recs {
		present[r.off] = true
	}
	for o := int64(0); o < 40; o++ {
		if present[o] {
			continue
		}
		b, err := l.Read(o, 1<<20, l.HighWatermark(), true)
		if err != nil {
			t.Fatalf("read compacted offset %d: %v", o, err)
		}
		hs := batchesIn(t, b)
		if len(hs) == 0 || hs[0].LastOffset() < o {
			t.Fatalf("read %d: got %v", o, hs)
		}
	}
}

func TestCleanPolicyAndRetention(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	cfg := compactCfg(1024)
	cfg.RetentionMs = 1000
	l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	defer l.Close()
	fillKeys(t, l, c, 3, 20)
	c.add(time.Hour)
	if n, _ := l.ApplyRetention(c.now()); n != 0 {
		t.Fatalf("compact-only log lost %d segments to retention", n)
	}
	cfg.CleanupPolicy = "compact,delete"
	l.SetConfig(cfg)
	if n, _ := l.ApplyRetention(c.now()); n == 0 {
		t.Fatal("compact,delete log kept expired segments")
	}
	cfg.CleanupPolicy = "delete"
	l.SetConfig(cfg)
	fillKeys(t, l, c, 3, 20)
	if st, err := l.Clean(c.now()); err != nil || st.Segments != 0 {
		t.Fatalf("delete-only log was cleaned: %+v %v", st, err)
	}
}

func TestCleanTombstoneLifecycle(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	cfg := compactCfg(1024)
	l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	defer l.Close()
	want := fillKeys(t, l, c, 3, 10)
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "k003", tomb: true}}, baseTs: c.now().UnixMilli()}))
	l.roll()
	mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "x", v: "y"}}}))
	l.SetHighWatermark(l.LogEndOffset())
	want["x"] = "y"
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	horizon := c.now().UnixMilli() + cfg.DeleteRetentionMs
	recs, hs := readRecords(t, l)
	got := latest(recs)
	if !got["k003"].tomb {
		t.Fatalf("tombstone gone before delete.retention.ms: %+v", got["k003"])
	}
	n := 0
	for _, r := range recs {
		if r.key == "k003" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("k003 has %d records, want only the tombstone", n)
	}
	for _, h := range hs {
		if h.BaseOffset == got["k003"].batchBase {
			if h.Attributes&AttrDeleteHorizon == 0 || h.BaseTimestamp != horizon {
				t.Fatalf("tombstone batch has no delete horizon: attrs %x base ts %d want %d", h.Attributes, h.BaseTimestamp, horizon)
			}
			if got["k003"].ts != c.now().UnixMilli() {
				t.Fatalf("tombstone timestamp changed: %d", got["k003"].ts)
			}
		}
	}
	if due, _ := l.cleaningDue(c.now()); due {
		t.Fatal("due before the horizon")
	}
	c.add(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
	if due, _ := l.cleaningDue(c.now()); !due {
		t.Fatal("not due after the horizon")
	}
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	delete(want, "k003")
	checkLatest(t, l, want, nil)
	if l.nextHorizon.Load() != 0 {
		t.Fatalf("horizon left: %d", l.nextHorizon.Load())
	}
}

func TestCleanCompactionLagAndRatio(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	cfg := compactCfg(1024)
	cfg.MinCompactionLagMs = 60_000
	l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	defer l.Close()
	fillKeys(t, l, c, 4, 10)
	if due, _ := l.cleaningDue(c.now()); due {
		t.Fatal("due within min.compaction.lag.ms")
	}
	if st, _ := l.Clean(c.now()); st.Segments != 0 {
		t.Fatalf("cleaned records younger than min.compaction.lag.ms: %+v", st)
	}
	c.add(2 * time.Minute)
	if due, _ := l.cleaningDue(c.now()); !due {
		t.Fatal("not due after min.compaction.lag.ms")
	}
	if st, _ := l.Clean(c.now()); st.Segments == 0 {
		t.Fatal("nothing cleaned after the lag")
	}
	// A little new dirt stays under min.cleanable.dirty.ratio ...
	cfg.MinCompactionLagMs = 0
	cfg.MinCleanableDirtyRatio = 0.9
	l.SetConfig(cfg)
	fillKeys(t, l, c, 1, 10)
	if due, r := l.cleaningDue(c.now()); due {
		t.Fatalf("due at dirty ratio %.2f", r)
	}
	// ... until max.compaction.lag.ms passes.
	cfg.MaxCompactionLagMs = 30_000
	l.SetConfig(cfg)
	c.add(time.Minute)
	if due, _ := l.cleaningDue(c.now()); !due {
		t.Fatal("not due after max.compaction.lag.ms")
	}
	cfg.MinCleanableDirtyRatio = 0.1
	cfg.MaxCompactionLagMs = 0
	l.SetConfig(cfg)
	if due, _ := l.cleaningDue(c.now()); !due {
		t.Fatal("not due above the dirty ratio")
	}
}

func TestCleanMaxCompactionLagRolls(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	cfg := compactCfg(1 << 20)
	cfg.MaxCompactionLagMs = 1000
	l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	defer l.Close()
	fillKeys(t, l, c, 1, 3)
	c.add(2 * time.Second)
	fillKeys(t, l, c, 1, 3)
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments: max.compaction.lag.ms did not roll the active segment", l.NumSegments())
	}
}

func TestCleanKeepsProducerFieldsAndCodecs(t *testing.T) {
	for _, codec := range []int{CompressionNone, CompressionGzip, CompressionSnappy, 100 + CompressionSnappy, CompressionLZ4, CompressionZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			fs, c := NewMemFS(), newClock()
			l := mustOpen(t, "/d/t-0", compactCfg(1024), memOpts(fs, c))
			seq := int32(0)
			want := map[string]string{}
			for r := 0; r < 6; r++ {
				var recs []kv
				for k := 0; k < 4; k++ {
					// Key k appears in round r only if k <= r%4: batches get partly superseded.
					key := fmt.Sprintf("k%d", (k+r)%5)
					recs = append(recs, kv{k: key, v: fmt.Sprintf("%s-%d", key, r), tsDelta: int64(k)})
					want[key] = fmt.Sprintf("%s-%d", key, r)
				}
				mustAppend(t, l, kvBatch(t, kvSpec{recs: recs, pid: 42, epoch: 3, seq: seq, codec: codec, baseTs: c.now().UnixMilli()}))
				seq += 4
			}
			l.roll()
			l.SetHighWatermark(l.LogEndOffset())
			orig := map[int64]BatchHeader{}
			_, hs := readRecords(t, l)
			for _, h := range hs {
				orig[h.BaseOffset] = h
			}
			if _, err := l.Clean(c.now()); err != nil {
				t.Fatal(err)
			}
			checkLatest(t, l, want, nil)
			_, hs = readRecords(t, l)
			if len(hs) == len(orig) {
				t.Fatal("no batch removed")
			}
			for _, h := range hs {
				o := orig[h.BaseOffset]
				if h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != o.BaseSequence ||
					h.LastOffsetDelta != o.LastOffsetDelta || h.PartitionLeaderEpoch != o.PartitionLeaderEpoch {
					t.Fatalf("batch %d lost producer fields: %+v vs %+v", h.BaseOffset, h, o)
				}
				if h.RecordCount > 0 && h.Compression() != o.Compression() {
					t.Fatalf("batch %d codec %d, was %d", h.BaseOffset, h.Compression(), o.Compression())
				}
			}
			// The producer's last batch survives; after a restart without
			// snapshots its next sequence is accepted and a retry is not.
			last := hs[len(hs)-1]
			if last.BaseSequence != seq-4 {
				t.Fatalf("last batch seq %d, want %d", last.BaseSequence, seq-4)
			}
			l.Close()
			ents, _ := fs.ReadDir("/d/t-0")
			for _, e := range ents {
				if filepath.Ext(e.Name()) == ".snapshot" {
					fs.Remove("/d/t-0/" + e.Name())
				}
			}
			l = mustOpen(t, "/d/t-0", compactCfg(1024), memOpts(fs, c))
			defer l.Close()
			res := mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "z", v: "z"}}, pid: 42, epoch: 3, seq: seq}))
			if res.Duplicate {
				t.Fatal("next sequence taken as a duplicate")
			}
			if _, err := l.Append(kvBatch(t, kvSpec{recs: []kv{{k: "z", v: "z"}}, pid: 42, epoch: 3, seq: seq + 5}), AppendOptions{}); err == nil {
				t.Fatal("out-of-order sequence accepted after cleaning and restart")
			}
		})
	}
}

func TestCleanConcurrentReaders(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	l := mustOpen(t, "/d/t-0", compactCfg(2048), memOpts(fs, c))
	defer l.Close()
	want := fillKeys(t, l, c, 20, 25)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from, last := int64(0), int64(-1)
				for from < l.LogEndOffset() {
					b, err := l.Read(from, 4096, l.LogEndOffset(), true)
					if err != nil {
						errs <- err
						return
					}
					if len(b) == 0 {
						break
					}
					for len(b) > 0 {
						h, err := ValidateBatch(b)
						if err != nil || h.BaseOffset <= last {
							errs <- fmt.Errorf("bad read at %d: %v (last %d)", from, err, last)
							return
						}
						last, from, b = h.LastOffset(), h.NextOffset(), b[h.Size():]
					}
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		fillKeys(t, l, c, 2, 25)
		if _, err := l.Clean(c.now()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for k := range want {
		want[k] = k + "=r1"
	}
	checkLatest(t, l, want, nil)
}

func TestCheckKeys(t *testing.T) {
	for _, codec := range []int{CompressionNone, CompressionGzip, CompressionZstd} {
		ok := kvBatch(t, kvSpec{recs: []kv{{k: "a", v: "1"}, {k: "b", tomb: true}}, codec: codec})
		if err := CheckKeys(ok); err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		bad := kvBatch(t, kvSpec{recs: []kv{{k: "a", v: "1"}, {noKey: true, v: "2"}}, codec: codec})
		if err := CheckKeys(bad); !errors.Is(err, ErrNullKey) {
			t.Fatalf("codec %d: null key: %v", codec, err)
		}
	}
	if err := CheckKeys(makeBatch(t, testBatch{records: 2})); !errors.Is(err, ErrNullKey) {
		t.Fatalf("makeBatch: %v", err)
	}
	if err := CheckKeys([]byte{1, 2}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestOffsetMapBounded(t *testing.T) {
	m := newOffsetMap(24 * 1024)
	n := 0
	for i := 0; ; i++ {
		if !m.put([]byte(fmt.Sprint("key", i)), int64(i)) {
			break
		}
		n++
	}
	if n != m.capacity() || len(m.slots) > 1024 {
		t.Fatalf("took %d keys in %d slots, capacity %d", n, len(m.slots), m.capacity())
	}
	for i := 0; i < n; i++ {
		if got := m.get([]byte(fmt.Sprint("key", i))); got != int64(i) {
			t.Fatalf("key%d -> %d", i, got)
		}
	}
	if !m.put([]byte("key1"), 99999) || m.get([]byte("key1")) != 99999 {
		t.Fatal("update of a known key refused when full")
	}
	if m.get([]byte("nope")) != -1 {
		t.Fatal("unknown key found")
	}
}

func TestCleanSmallDedupeBuffer(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	opts := memOpts(fs, c)
	opts.CleanerDedupeBufferSize = 24 * 64 // 57 keys
	l := mustOpen(t, "/d/t-0", compactCfg(1024), opts)
	defer l.Close()
	want := fillKeys(t, l, c, 3, 200)
	l.roll()
	for i := 0; i < 20; i++ {
		st, err := l.Clean(c.now())
		if err != nil {
			t.Fatal(err)
		}
		if st.Segments == 0 {
			break
		}
	}
	recs := checkLatest(t, l, want, nil)
	if len(recs) != 200 {
		t.Fatalf("%d records left, want 200", len(recs))
	}
}

func TestCleanTransactions(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	cfg := compactCfg(1 << 20)
	l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	defer func() { l.Close() }()
	ts := c.now().UnixMilli()
	app := func(b []byte) int64 {
		t.Helper()
		res := mustAppend(t, l, b)
		l.SetHighWatermark(l.LogEndOffset())
		return res.BaseOffset
	}
	txnB := func(pid int64, seq int32, recs ...kv) []byte {
		return kvBatch(t, kvSpec{recs: recs, pid: pid, seq: seq, txn: true, baseTs: ts})
	}
	plain := func(k, v string) []byte { return kvBatch(t, kvSpec{recs: []kv{{k: k, v: v}}, baseTs: ts}) }
	marker := func(pid int64, typ int16) []byte { return EncodeControlBatch(pid, 0, typ, 0, ts) }

	app(txnB(7, 0, kv{k: "a", v: "aborted-a"}, kv{k: "b", v: "aborted-b"})) // 0-1
	app(txnB(8, 0, kv{k: "a", v: "c-a"}, kv{k: "c", v: "c-c"}))             // 2-3
	l.roll()
	app(marker(7, ControlAbort))  // 4
	app(marker(8, ControlCommit)) // 5
	app(plain("a", "a2"))         // 6
	app(plain("c", "c2"))         // 7
	l.roll()
	app(txnB(8, 2, kv{k: "e", v: "e1"})) // 8
	app(txnB(9, 0, kv{k: "d", v: "d1"})) // 9: stays open for now
	l.roll()
	app(marker(8, ControlCommit)) // 10
	app(plain("y", "y1"))         // 11
	l.roll()
	app(plain("z", "z1")) // 12

	if got := l.FirstUnstableOffset(); got != 9 {
		t.Fatalf("first unstable %d, want 9", got)
	}
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	if l.cleanedTo.Load() > 9 {
		t.Fatalf("cleaned past the open transaction: %d", l.cleanedTo.Load())
	}
	recs, hs := readRecords(t, l)
	byOff := map[int64]BatchHeader{}
	for _, h := range hs {
		byOff[h.BaseOffset] = h
	}
	for _, r := range recs {
		if r.val == "aborted-a" || r.val == "aborted-b" || r.val == "c-a" || r.val == "c-c" {
			t.Fatalf("record %+v survived", r)
		}
	}
	if h, ok := byOff[0]; !ok || h.RecordCount != 0 || h.ProducerID != 7 || h.LastOffsetDelta != 1 || !h.IsTransactional() {
		t.Fatalf("producer 7's last batch not kept empty: %+v (%v)", h, ok)
	}
	if _, ok := byOff[2]; ok {
		t.Fatal("superseded committed batch kept")
	}
	for _, o := range []int64{4, 5} {
		if h, ok := byOff[o]; !ok || h.Attributes&AttrDeleteHorizon != 0 {
			t.Fatalf("marker %d: %+v %v (its transaction's batches were still there)", o, h, ok)
		}
	}
	if ab := l.AbortedTransactions(0, 100); len(ab) != 1 || ab[0].ProducerID != 7 {
		t.Fatalf("aborted index: %+v", ab)
	}

	// Producer 9 commits; the next cleaning stamps producer 8's first
	// marker, whose transaction has no batch left, with a delete horizon.
	app(marker(9, ControlCommit)) // 13
	l.roll()
	app(plain("z", "z2"))
	c.add(time.Minute)
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	horizon := c.now().UnixMilli() + cfg.DeleteRetentionMs
	_, hs = readRecords(t, l)
	byOff = map[int64]BatchHeader{}
	for _, h := range hs {
		byOff[h.BaseOffset] = h
	}
	if h := byOff[5]; h.Attributes&AttrDeleteHorizon == 0 || h.BaseTimestamp != horizon || h.RecordCount != 1 {
		t.Fatalf("empty transaction's marker not stamped: %+v", h)
	}
	if typ, err := ControlType(readBatchAt(t, l, 5)); err != nil || typ != ControlCommit {
		t.Fatalf("stamped marker unreadable: %d %v", typ, err)
	}
	for _, o := range []int64{0, 4, 8, 10, 13} {
		if h, ok := byOff[o]; !ok || h.Attributes&AttrDeleteHorizon != 0 {
			t.Fatalf("batch %d: %+v %v", o, h, ok)
		}
	}
	// Past the horizon the marker goes; the aborted transaction's marker
	// stays while producer 7's (empty) last batch does.
	c.add(time.Duration(cfg.DeleteRetentionMs+1) * time.Millisecond)
	if due, _ := l.cleaningDue(c.now()); !due {
		t.Fatal("not due at the marker's horizon")
	}
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	_, hs = readRecords(t, l)
	byOff = map[int64]BatchHeader{}
	for _, h := range hs {
		byOff[h.BaseOffset] = h
	}
	if _, ok := byOff[5]; ok {
		t.Fatal("marker kept past its delete horizon")
	}
	if _, ok := byOff[4]; !ok {
		t.Fatal("abort marker of a live producer's batch removed")
	}
	// The aborted-transaction index survives a restart.
	l.Close()
	l = mustOpen(t, "/d/t-0", cfg, memOpts(fs, c))
	if ab := l.AbortedTransactions(0, 100); len(ab) != 1 || ab[0].ProducerID != 7 || ab[0].LastOffset != 4 {
		t.Fatalf("aborted index after restart: %+v", ab)
	}
}

// readBatchAt returns the batch holding offset o.
func readBatchAt(t *testing.T, l *Log, o int64) []byte {
	t.Helper()
	b, err := l.Read(o, 1, l.LogEndOffset(), true)
	if err != nil || len(b) == 0 {
		t.Fatalf("read %d: %v", o, err)
	}
	h, _ := ParseBatchHeader(b)
	return b[:h.Size()]
}
