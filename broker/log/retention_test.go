package log

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	cases := []struct {
		name      string
		cfg       func(*Config)
		advance   time.Duration
		wantStart func(segs []*segment) int64
		minDelete int
	}{
		{"by time", func(c *Config) { c.RetentionMs = 10_000 }, 0, nil, 1},
		{"by bytes", func(c *Config) { c.RetentionBytes = 3000 }, 0, nil, 1},
		{"unlimited", func(c *Config) { c.RetentionMs = -1 }, 365 * 24 * time.Hour, nil, 0},
		{"everything expires", func(c *Config) { c.RetentionMs = 1 }, time.Hour, nil, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, clk := NewMemFS(), newClock()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 1000
			c.cfg(&cfg)
			l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, clk))
			base := clk.now().UnixMilli()
			for i := 0; i < 60; i++ {
				// Record timestamps one second apart, ending "now".
				ts := base - int64(60-i)*1000
				mustAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 40, baseTs: ts}))
			}
			l.SetHighWatermark(l.LogEndOffset())
			before := l.NumSegments()
			size := l.Size()
			clk.add(c.advance)
			n, err := l.ApplyRetention(clk.now())
			if err != nil {
				t.Fatal(err)
			}
			segs := *l.segs.Load()
			switch {
			case c.minDelete == 0 && n != 0:
				t.Fatalf("deleted %d", n)
			case c.minDelete > 0 && n < c.minDelete:
				t.Fatalf("deleted %d of %d", n, before)
			case c.minDelete < 0 && (l.NumSegments() != 1 || l.Size() != 0 || l.LogStartOffset() != 120):
				t.Fatalf("everything expired: %d segments, size %d, start %d", l.NumSegments(), l.Size(), l.LogStartOffset())
			}
			if l.NumSegments() != before-n+boolInt(c.minDelete < 0) {
				t.Fatalf("segments %d, before %d, deleted %d", l.NumSegments(), before, n)
			}
			if l.LogStartOffset() != segs[0].base {
				t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), segs[0].base)
			}
			if c.name == "by time" {
				for _, s := range segs[:len(segs)-1] {
					if clk.now().UnixMilli()-s.maxTs > cfg.RetentionMs {
						t.Fatalf("expired segment kept (max ts %d)", s.maxTs)
					}
				}
			}
			if c.name == "by bytes" && (l.Size() > 3000+1000 || l.Size() == size) {
				t.Fatalf("size %d", l.Size())
			}
			if _, err := l.Read(0, 100, 1000, true); n > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			readAll(t, l, l.LogStartOffset())
			mustAppend(t, l, makeBatch(t, testBatch{records: 1}))
			l.Close()
			l = mustOpen(t, "/d/t-0", cfg, memOpts(fs, clk))
			if l.LogStartOffset() != segs[0].base {
				t.Fatalf("after reopen log start %d", l.LogStartOffset())
			}
			l.Close()
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDeleteRecordsBeforeAndReopen(t *testing.T) {
	for _, managed := range []bool{false, true} {
		t.Run(map[bool]string{false: "standalone", true: "manager"}[managed], func(t *testing.T) {
			fs := NewMemFS()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 1000
			open := func() (*Log, func()) {
				if !managed {
					l := mustOpen(t, "/d/t-0", cfg, Options{FS: fs})
					return l, func() {}
				}
				m, err := OpenManager("/d", Options{FS: fs})
				if err != nil {
					t.Fatal(err)
				}
				l, err := m.OpenLog("t", 0, [16]byte{9}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return l, func() { m.Close() }
			}
			l, _ := open() // never closed: the crash below ends it
			fill(t, l, 50)
			l.SetHighWatermark(l.LogEndOffset())
			segsBefore := l.NumSegments()
			if _, err := l.DeleteRecordsBefore(1000); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("beyond hw: %v", err)
			}
			start, err := l.DeleteRecordsBefore(37)
			if err != nil || start != 37 || l.LogStartOffset() != 37 {
				t.Fatalf("start %d %v", start, err)
			}
			if l.NumSegments() >= segsBefore {
				t.Fatal("no segment deleted")
			}
			if _, err := l.Read(36, 100, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			b, err := l.Read(37, 1, 100, true)
			if hs := batchesIn(t, b); err != nil || len(hs) != 1 || hs[0].BaseOffset != 36 {
				t.Fatalf("read at start: %v %+v", err, hs)
			}
			// Crash without any clean shutdown or periodic checkpoint.
			fs.Crash()
			l, done := open()
			if l.LogStartOffset() != 37 {
				t.Fatalf("restart undid deletion: log start %d", l.LogStartOffset())
			}
			done()
		})
	}
}

func TestManagerCheckpointsAndMetadata(t *testing.T) {
	fs := NewMemFS()
	m, err := OpenManager("/d", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte{0xfb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	a, _ := m.OpenLog("a", 0, id, DefaultConfig())
	b, _ := m.OpenLog("a", 1, id, DefaultConfig())
	fill(t, a, 5)
	fill(t, b, 3)
	if l, ok := m.Log("a", 1); !ok || l != b {
		t.Fatal("Log lookup")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	rp, _ := readFile(fs, "/d/recovery-point-offset-checkpoint")
	if string(rp) != "0\n2\na 0 10\na 1 6\n" {
		t.Fatalf("recovery points %q", rp)
	}
	ls, _ := readFile(fs, "/d/log-start-offset-checkpoint")
	if string(ls) != "0\n2\na 0 0\na 1 0\n" {
		t.Fatalf("log starts %q", ls)
	}
	meta, _ := readFile(fs, "/d/a-0/partition.metadata")
	if string(meta) != "version: 0\ntopic_id: +wECAwQFBgcICQoLDA0O_w\n"[:0]+"version: 0\ntopic_id: "+TopicIDString(id)+"\n" || strings.ContainsAny(TopicIDString(id), "+/=") {
		t.Fatalf("metadata %q", meta)
	}
	if _, err := fs.Stat("/d/.kafka_cleanshutdown"); err != nil {
		t.Fatal("no clean-shutdown marker")
	}

	m, _ = OpenManager("/d", Options{FS: fs})
	if _, err := fs.Stat("/d/.kafka_cleanshutdown"); err == nil {
		t.Fatal("marker kept while open")
	}
	a, _ = m.OpenLog("a", 0, id, DefaultConfig())
	if a.LogEndOffset() != 10 {
		t.Fatalf("leo %d", a.LogEndOffset())
	}
	// Same name, new topic ID: the stale directory goes.
	b, _ = m.OpenLog("a", 1, [16]byte{2}, DefaultConfig())
	if b.LogEndOffset() != 0 {
		t.Fatalf("stale data kept: leo %d", b.LogEndOffset())
	}
	if err := m.DeleteLog("a", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Log("a", 0); ok {
		t.Fatal("deleted log still there")
	}
	if _, err := a.Append(makeBatch(t, testBatch{}), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to deleted log: %v", err)
	}
	m.Close()
	if _, err := fs.Stat("/d/a-0"); err == nil {
		t.Fatal("deleted dir exists")
	}
	entries, _ := fs.ReadDir("/d")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-delete") {
			t.Fatalf("leftover %s", e.Name())
		}
	}
	ls, _ = readFile(fs, "/d/log-start-offset-checkpoint")
	if strings.Contains(string(ls), "a 0 ") {
		t.Fatalf("deleted log still checkpointed: %q", ls)
	}
}

func TestManagerLoops(t *testing.T) {
	fs, clk := NewMemFS(), newClock()
	m, err := OpenManager("/d", Options{FS: fs, Now: clk.now, Logger: quiet,
		RetentionCheckInterval: time.Millisecond, CheckpointInterval: time.Millisecond, FlushCheckInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionMs = 1000
	cfg.FlushMs = 1
	l, _ := m.OpenLog("t", 0, [16]byte{1}, cfg)
	m.Start()
	now := clk.now().UnixMilli()
	for i := 0; i < 40; i++ {
		mustAppend(t, l, makeBatch(t, testBatch{records: 1, valueSize: 50, baseTs: now - 5000}))
	}
	l.SetHighWatermark(l.LogEndOffset())
	clk.add(time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for l.LogStartOffset() == 0 || l.RecoveryPoint() < l.LogEndOffset() {
		if time.Now().After(deadline) {
			t.Fatalf("loops did nothing: start %d rp %d", l.LogStartOffset(), l.RecoveryPoint())
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
