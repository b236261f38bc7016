package log

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestRollAndIndexLookups(t *testing.T) {
	cases := []struct {
		name     string
		cfg      func(*Config)
		tick     time.Duration
		wantSegs int
	}{
		{"by size", func(c *Config) { c.SegmentBytes = 2000 }, 0, 0},
		{"by time", func(c *Config) { c.SegmentMs = 1000 }, 300 * time.Millisecond, 0},
		{"index full", func(c *Config) { c.SegmentIndexBytes = 24; c.IndexIntervalBytes = 1 }, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, clk := NewMemFS(), newClock()
			cfg := DefaultConfig()
			cfg.IndexIntervalBytes = 200
			c.cfg(&cfg)
			l := mustOpen(t, "/d/t-0", cfg, memOpts(fs, clk))
			for i := 0; i < 60; i++ {
				mustAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 30, baseTs: int64(i), tag: byte(i)}))
				clk.add(c.tick)
			}
			if l.NumSegments() < 3 {
				t.Fatalf("only %d segments", l.NumSegments())
			}
			segs := *l.segs.Load()
			for i := 1; i < len(segs); i++ {
				if segs[i].base != segs[i-1].next {
					t.Fatalf("segment %d base %d, previous next %d", i, segs[i].base, segs[i-1].next)
				}
				if c.name == "by size" && segs[i-1].size.Load() > cfg.SegmentBytes {
					t.Fatalf("segment over size: %d", segs[i-1].size.Load())
				}
			}
			check := func(l *Log) {
				for o := int64(0); o < 120; o++ {
					b, err := l.Read(o, 1, 120, true)
					if err != nil {
						t.Fatal(err)
					}
					hs := batchesIn(t, b)
					if len(hs) != 1 || hs[0].BaseOffset != o&^1 {
						t.Fatalf("read %d: %+v", o, hs)
					}
				}
				if n := len(readAll(t, l, 0)); n != 60 {
					t.Fatalf("read %d batches", n)
				}
			}
			check(l)
			n := l.NumSegments()
			l.Close()
			l = mustOpen(t, "/d/t-0", cfg, memOpts(fs, clk))
			if l.NumSegments() != n || l.LogEndOffset() != 120 {
				t.Fatalf("reopen: %d segments leo %d", l.NumSegments(), l.LogEndOffset())
			}
			check(l)
			l.Close()
		})
	}
}

func TestReadSpansSegmentsAndLRU(t *testing.T) {
	fs := NewMemFS()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 500
	opts := Options{FS: fs, MaxOpenSegments: 2}
	l := mustOpen(t, "/d/t-0", cfg, opts)
	for i := 0; i < 100; i++ {
		mustAppend(t, l, makeBatch(t, testBatch{records: 1, valueSize: 50, tag: byte(i)}))
	}
	if l.NumSegments() < 20 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	b, err := l.Read(0, 1<<20, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	if hs := batchesIn(t, b); len(hs) != 100 {
		t.Fatalf("one read across segments got %d batches", len(hs))
	}
	for o := int64(0); o < 100; o += 7 {
		readAll(t, l, o)
	}
	if n := l.cache.open(); n > 2 {
		t.Fatalf("%d cold handles open, limit 2", n)
	}
	l.Close()
}

func TestIndexFilesRebuilt(t *testing.T) {
	for _, damage := range []string{"delete", "garbage", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			cfg := DefaultConfig()
			cfg.SegmentBytes = 3000
			cfg.IndexIntervalBytes = 100
			l := mustOpen(t, dir, cfg, Options{})
			for i := 0; i < 100; i++ {
				mustAppend(t, l, makeBatch(t, testBatch{records: 2, valueSize: 40, baseTs: int64(1000 + i), tag: byte(i)}))
			}
			segs := *l.segs.Load()
			l.Close()
			for _, s := range segs {
				for _, p := range []string{s.indexPath(), s.timePath()} {
					switch damage {
					case "delete":
						OSFS{}.Remove(p)
					case "garbage":
						f, _ := OSFS{}.OpenFile(p, 2, 0)
						f.WriteAt([]byte("garbage!garbage!garbage!"), 0)
						f.Close()
					case "truncate":
						f, _ := OSFS{}.OpenFile(p, 2, 0)
						f.Truncate(5)
						f.Close()
					}
				}
			}
			l = mustOpen(t, dir, cfg, Options{})
			defer l.Close()
			for o := int64(0); o < 200; o += 3 {
				b, err := l.Read(o, 1, 200, true)
				if err != nil {
					t.Fatal(err)
				}
				if hs := batchesIn(t, b); len(hs) != 1 || hs[0].BaseOffset != o&^1 {
					t.Fatalf("read %d: %+v", o, hs)
				}
			}
			off, ts, ok, err := l.OffsetForTimestamp(1050)
			if err != nil || !ok || off != 100 || ts != 1050 {
				t.Fatalf("by time: %d %d %v %v", off, ts, ok, err)
			}
			for _, s := range segs {
				if _, err := (OSFS{}).Stat(s.indexPath()); err != nil {
					t.Fatalf("index not rebuilt: %v", err)
				}
			}
		})
	}
}

func TestLeaderEpochs(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs})
	if l.LeaderEpoch() != -1 {
		t.Fatal("epoch of new log")
	}
	for e := int32(0); e < 3; e++ {
		for i := 0; i < 2; i++ {
			if _, err := l.Append(makeBatch(t, testBatch{records: 5}), AppendOptions{LeaderEpoch: e * 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.AssignLeaderEpoch(1, 30); err == nil {
		t.Fatal("stale epoch accepted")
	}
	type wantEnd struct {
		req, epoch int32
		end        int64
	}
	want := []wantEnd{{0, 0, 10}, {1, 0, 10}, {2, 2, 20}, {3, 2, 20}, {4, 4, 30}, {5, -1, -1}, {-1, -1, -1}}
	check := func(l *Log) {
		for _, w := range want {
			e, o := l.EndOffsetForEpoch(w.req)
			if e != w.epoch || o != w.end {
				t.Fatalf("epoch %d: got (%d, %d), want (%d, %d)", w.req, e, o, w.epoch, w.end)
			}
		}
	}
	check(l)
	l.Close()
	b, _ := readFile(fs, "/d/t-0/leader-epoch-checkpoint")
	if string(b) != "0\n3\n0 0\n2 10\n4 20\n" {
		t.Fatalf("checkpoint %q", b)
	}
	l = mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: fs})
	check(l)
	if l.LeaderEpoch() != 4 {
		t.Fatal("epoch after reopen")
	}
	l.Close()
}

var _ = fmt.Sprint
