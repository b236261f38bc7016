package log

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestAppendRead(t *testing.T) {
	for _, name := range []string{"os", "mem"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			opts := Options{}
			if name == "mem" {
				fs := NewMemFS()
				opts.FS = fs
				dir = "/data/t-0"
			}
			cfg := DefaultConfig()
			cfg.IndexIntervalBytes = 100
			l := mustOpen(t, dir, cfg, opts)
			var sizes []int
			for i := 0; i < 50; i++ {
				b := makeBatch(t, testBatch{records: 3, valueSize: 20, baseTs: 1000 + int64(i), tag: byte(i)})
				sizes = append(sizes, len(b))
				res := mustAppend(t, l, b)
				if res.BaseOffset != int64(i*3) || res.LastOffset != int64(i*3+2) {
					t.Fatalf("append %d: got %+v", i, res)
				}
			}
			if l.LogEndOffset() != 150 {
				t.Fatalf("leo %d", l.LogEndOffset())
			}
			cases := []struct {
				name        string
				off         int64
				maxBytes    int32
				maxOffset   int64
				minOne      bool
				wantBases   []int64
				wantErr     error
				wantNothing bool
			}{
				{"start", 0, int32(sizes[0]), 150, false, []int64{0}, nil, false},
				{"middle of batch", 4, int32(sizes[0] * 2), 150, false, []int64{3, 6}, nil, false},
				{"maxBytes too small", 4, 10, 150, false, nil, nil, true},
				{"minOneBatch", 4, 10, 150, true, []int64{3}, nil, false},
				{"maxOffset", 0, 1 << 20, 6, false, []int64{0, 3}, nil, false},
				{"at leo", 150, 1 << 20, 150, false, nil, nil, true},
				{"past leo", 151, 1 << 20, 150, false, nil, ErrOffsetOutOfRange, false},
				{"last batch", 149, 1 << 20, 150, false, []int64{147}, nil, false},
			}
			for _, c := range cases {
				b, err := l.Read(c.off, c.maxBytes, c.maxOffset, c.minOne)
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) {
						t.Fatalf("%s: err %v", c.name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				hs := batchesIn(t, b)
				if c.wantNothing && len(hs) != 0 {
					t.Fatalf("%s: got %d batches", c.name, len(hs))
				}
				if len(hs) != len(c.wantBases) {
					t.Fatalf("%s: got %d batches, want %v", c.name, len(hs), c.wantBases)
				}
				for i, h := range hs {
					if h.BaseOffset != c.wantBases[i] {
						t.Fatalf("%s: batch %d base %d", c.name, i, h.BaseOffset)
					}
				}
			}
			if got := readAll(t, l, 0); len(got) != 50 {
				t.Fatalf("readAll %d", len(got))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, cfg, opts)
			if l.LogEndOffset() != 150 || len(readAll(t, l, 0)) != 50 {
				t.Fatalf("after reopen leo %d", l.LogEndOffset())
			}
			l.Close()
		})
	}
}

func TestSyncPastEndReturns(t *testing.T) {
	l := mustOpen(t, "/d/t-0", DefaultConfig(), Options{FS: NewMemFS()})
	defer l.Close()
	mustAppend(t, l, makeBatch(t, testBatch{records: 2}))
	if err := l.Sync(1000); err != nil {
		t.Fatal(err)
	}
	if l.RecoveryPoint() != 2 {
		t.Fatalf("recovery point %d", l.RecoveryPoint())
	}
}
