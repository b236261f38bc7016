package log

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gregorhq/gregor/broker/txn"
)

// fill appends n 2-record batches.
func fill(t testing.TB, l *Log, n int) {
	for i := 0; i < n; i++ {
		mustAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 40, baseTs: int64(1000 + i), tag: byte(i)}))
	}
}

func TestRecoveryTruncatedTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, dir, cfg, Options{})
	fill(t, l, 50)
	last := l.active.logPath()
	size := l.active.size.Load()
	// Unclean: never Close. Tear the last batch.
	if err := os.Truncate(last, size-7); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, cfg, Options{})
	if l2.LogEndOffset() != 98 {
		t.Fatalf("leo %d, want 98", l2.LogEndOffset())
	}
	if n := len(readAll(t, l2, 0)); n != 49 {
		t.Fatalf("%d batches", n)
	}
	mustAppend(t, l2, makeBatch(t, testBatch{records: 2}))
	if len(readAll(t, l2, 0)) != 50 {
		t.Fatal("append after recovery")
	}
	l2.Close()
}

func TestRecoveryCorruptCRCInLastSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, dir, cfg, Options{})
	fill(t, l, 50)
	a := l.active
	nBefore := l.NumSegments()
	// Flip a byte in the last batch of the last segment.
	target := l.LogEndOffset() - 2
	var pos int64
	scanBatches(mustOpenFile(t, a.logPath()), 0, a.size.Load(), 0, false, func(p int64, h *BatchHeader, _ []byte) error {
		if h.BaseOffset == target {
			pos = p
		}
		return nil
	})
	f, _ := os.OpenFile(a.logPath(), os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, pos+BatchHeaderSize+3)
	f.Close()
	l2 := mustOpen(t, dir, cfg, Options{})
	if l2.LogEndOffset() != target || l2.NumSegments() != nBefore {
		t.Fatalf("leo %d want %d, segments %d", l2.LogEndOffset(), target, l2.NumSegments())
	}
	readAll(t, l2, 0)
	l2.Close()
}

func TestRecoveryCorruptMiddleSegmentDropsLater(t *testing.T) {
	fs := NewMemFS()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
	fill(t, l, 60)
	segs := *l.segs.Load()
	victim := segs[1]
	f, _ := fs.OpenFile(victim.logPath(), os.O_RDWR, 0)
	f.WriteAt([]byte{0, 0, 0, 0}, 8) // break the first batch's length
	f.Close()
	l2 := mustOpen(t, "/d/t-0", cfg, Options{FS: fs}) // no clean marker: full recovery
	if l2.LogEndOffset() != victim.base || l2.NumSegments() != 2 {
		t.Fatalf("leo %d segments %d", l2.LogEndOffset(), l2.NumSegments())
	}
	readAll(t, l2, 0)
	l2.Close()
}

func mustOpenFile(t testing.TB, p string) File {
	f, err := OSFS{}.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32) []byte {
	return makeBatch(t, testBatch{records: 3, valueSize: 10, pid: pid, epoch: epoch, seq: seq, baseTs: 5})
}

func TestIdempotentDuplicatesAcrossRestart(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "clean snapshot", false: "unclean replay"}[clean]
		t.Run(name, func(t *testing.T) {
			fs := NewMemFS()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 300 // a few rolls, so snapshots exist mid-log
			l := mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
			var first []AppendResult
			for seq := int32(0); seq < 30; seq += 3 {
				first = append(first, mustAppend(t, l, idemBatch(t, 7, 1, seq)))
			}
			if clean {
				l.Close()
			} else {
				l.Flush()
			}
			l = mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
			defer l.Close()
			// The last five batches are recognised as retries.
			for i := 5; i < 10; i++ {
				res, err := l.Append(idemBatch(t, 7, 1, int32(i*3)), AppendOptions{})
				if err != nil || !res.Duplicate || res.BaseOffset != first[i].BaseOffset || res.LastOffset != first[i].LastOffset {
					t.Fatalf("retry %d: %+v %v", i, res, err)
				}
			}
			if _, err := l.Append(idemBatch(t, 7, 1, 33), AppendOptions{}); !errors.Is(err, txn.ErrOutOfOrderSequence) {
				t.Fatalf("gap: %v", err)
			}
			if _, err := l.Append(idemBatch(t, 7, 0, 30), AppendOptions{}); !errors.Is(err, txn.ErrInvalidEpoch) {
				t.Fatalf("old epoch: %v", err)
			}
			res, err := l.Append(idemBatch(t, 7, 1, 30), AppendOptions{})
			if err != nil || res.Duplicate || res.BaseOffset != 30 {
				t.Fatalf("next: %+v %v", res, err)
			}
		})
	}
}

func TestENOSPC(t *testing.T) {
	fs := NewMemFS()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4000
	cfg.IndexIntervalBytes = 50
	l := mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
	fill(t, l, 20)
	leo := l.LogEndOffset()
	fs.SetSpaceLimit(fs.Used() + 150) // room for one batch and a bit
	var failed int
	for i := 0; i < 10; i++ {
		_, err := l.Append(makeBatch(t, testBatch{records: 2, valueSize: 40, tag: 9}), AppendOptions{})
		if err != nil {
			if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("want ENOSPC storage error, got %v", err)
			}
			failed++
			continue
		}
		leo += 2
	}
	if failed == 0 {
		t.Fatal("no ENOSPC")
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("leo %d want %d", l.LogEndOffset(), leo)
	}
	if n := len(readAll(t, l, 0)); int64(n*2) != leo {
		t.Fatalf("read %d batches, leo %d", n, leo)
	}
	fs.SetSpaceLimit(-1)
	for i := 0; i < 30; i++ {
		mustAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 40}))
	}
	l.Close()
	l = mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
	if n := len(readAll(t, l, 0)); int64(n*2) != leo+60 {
		t.Fatalf("after reopen %d batches", n)
	}
	l.Close()
	// Unclean reopen validates every byte: nothing partial was left.
	l = mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
	os.Stdout.Sync()
	l.Close()
}

// TestPowerLoss appends under the durable setting (append, then Sync),
// records what Sync acknowledged, crashes at a random point (keeping a
// random torn part of unsynced data) and checks that the reopened log has
// every acknowledged record and serves only valid batches.
func TestPowerLoss(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for seed := 0; seed < seeds; seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		fs := NewMemFS()
		cfg := DefaultConfig()
		cfg.SegmentBytes = int64(500 + r.Intn(3000))
		cfg.IndexIntervalBytes = int32(50 + r.Intn(500))
		m, err := OpenManager("/data", Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.OpenLog("t", 0, [16]byte{1}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		acked := int64(0)
		deleted := int64(0)
		rounds := 1 + r.Intn(4)
		for round := 0; round < rounds; round++ {
			n := r.Intn(60)
			for i := 0; i < n; i++ {
				res, err := l.Append(makeBatch(t, testBatch{records: 1 + r.Intn(4), valueSize: r.Intn(200), baseTs: int64(i), tag: byte(i)}), AppendOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Intn(3) == 0 {
					if err := l.Sync(res.LastOffset + 1); err != nil {
						t.Fatal(err)
					}
					acked = res.LastOffset + 1
				}
			}
			if r.Intn(4) == 0 {
				l.SetHighWatermark(l.LogEndOffset())
				d := acked / 2
				if _, err := l.DeleteRecordsBefore(d); err != nil {
					t.Fatal(err)
				}
				deleted = max(deleted, d)
			}
			if r.Intn(3) == 0 {
				m.Checkpoint()
			}
		}
		fs.CrashRandom(r)
		m2, err := OpenManager("/data", Options{FS: fs})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		l2, err := m2.OpenLog("t", 0, [16]byte{1}, cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if l2.LogEndOffset() < acked {
			t.Fatalf("seed %d: lost acknowledged data: leo %d < acked %d", seed, l2.LogEndOffset(), acked)
		}
		if l2.LogStartOffset() < deleted {
			t.Fatalf("seed %d: deletion undone: log start %d < %d", seed, l2.LogStartOffset(), deleted)
		}
		hs := readAll(t, l2, l2.LogStartOffset())
		next := int64(-1)
		for _, h := range hs {
			if next >= 0 && h.BaseOffset != next {
				t.Fatalf("seed %d: gap at %d", seed, next)
			}
			next = h.NextOffset()
		}
		// The log keeps working after the crash.
		mustAppend(t, l2, makeBatch(t, testBatch{records: 2}))
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

var _ = math.MaxInt64
