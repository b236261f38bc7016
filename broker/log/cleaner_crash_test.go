package log

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

var errInjected = errors.New("injected failure")

// faultFS is a MemFS that fails the failAt-th mutating operation (file
// creation, write, sync, truncate, rename, remove, directory sync) and
// every one after it, as if the machine had died there.
type faultFS struct {
	*MemFS
	mu     sync.Mutex
	ops    int
	failAt int // 0: never
}

func (f *faultFS) step() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops++
	if f.failAt > 0 && f.ops >= f.failAt {
		return errInjected
	}
	return nil
}

func (f *faultFS) arm(after int) {
	f.mu.Lock()
	f.failAt = f.ops + after
	f.mu.Unlock()
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		if err := f.step(); err != nil {
			return nil, err
		}
	}
	file, err := f.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.MemFS.Remove(name)
}

func (f *faultFS) Rename(o, n string) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.MemFS.Rename(o, n)
}

func (f *faultFS) SyncDir(d string) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.MemFS.SyncDir(d)
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.step(); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.step(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.step(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(n int64) error {
	if err := f.fs.step(); err != nil {
		return err
	}
	return f.File.Truncate(n)
}

// TestCleanCrashAtEveryStep crashes the machine at each file operation of
// a cleaning in turn and checks that the recovered log is readable, holds
// the same latest value for every key, keeps only offsets it had, and
// cleans correctly afterwards.
func TestCleanCrashAtEveryStep(t *testing.T) {
	build := func() (*MemFS, *faultFS, *Log, *fakeClock, map[string]string, map[int64]bool) {
		mem, c := NewMemFS(), newClock()
		ffs := &faultFS{MemFS: mem}
		cfg := compactCfg(1200)
		l := mustOpen(t, "/d/t-0", cfg, Options{FS: ffs, Now: c.now, Logger: quiet})
		want := fillKeys(t, l, c, 4, 12)
		mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "k005", tomb: true}}, baseTs: c.now().UnixMilli()}))
		delete(want, "k005")
		want2 := fillKeys(t, l, c, 1, 3)
		for k, v := range want2 {
			want[k] = v
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		recs, _ := readRecords(t, l)
		offs := map[int64]bool{}
		for _, r := range recs {
			offs[r.off] = true
		}
		return mem, ffs, l, c, want, offs
	}
	tombs := map[string]bool{"k005": true}
	verify := func(t *testing.T, l *Log, want map[string]string, offs map[int64]bool) {
		t.Helper()
		recs, _ := readRecords(t, l)
		got := latest(recs)
		for k, v := range want {
			if got[k].val != v || got[k].tomb {
				t.Fatalf("key %s: got %+v, want %q", k, got[k], v)
			}
		}
		for k, r := range got {
			if _, ok := want[k]; !ok && !(tombs[k] && r.tomb) {
				t.Fatalf("key %s resurrected: %+v", k, r)
			}
		}
		for _, r := range recs {
			if !offs[r.off] {
				t.Fatalf("offset %d appeared", r.off)
			}
		}
	}
	completed := false
	swapped, kept := 0, 0
	for step := 1; step < 1000 && !completed; step++ {
		mem, ffs, l, c, want, offs := build()
		sizeBefore := l.Size()
		ffs.arm(step)
		_, err := l.Clean(c.now())
		if err == nil {
			completed = true
			verify(t, l, want, offs)
			l.Close()
			continue
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("step %d: %v", step, err)
		}
		mem.Crash()
		l2, err := Open("/d/t-0", compactCfg(1200), Options{FS: mem, Now: c.now, Logger: quiet})
		if err != nil {
			t.Fatalf("step %d: reopen: %v", step, err)
		}
		if l2.Size() < sizeBefore {
			swapped++
		} else {
			kept++
		}
		t.Run(fmt.Sprint("crash at ", step), func(t *testing.T) {
			verify(t, l2, want, offs)
			ents, _ := mem.ReadDir("/d/t-0")
			for _, e := range ents {
				n := e.Name()
				if len(n) > 5 && (n[len(n)-5:] == ".swap" || (len(n) > 8 && n[len(n)-8:] == ".cleaned")) {
					t.Fatalf("left %s", n)
				}
			}
			l2.SetHighWatermark(l2.LogEndOffset())
			if _, err := l2.Clean(c.now()); err != nil {
				t.Fatalf("clean after recovery: %v", err)
			}
			verify(t, l2, want, offs)
			recs, _ := readRecords(t, l2)
			active := (*l2.segs.Load())[l2.NumSegments()-1].base
			seen := map[string]bool{}
			for _, r := range recs {
				if r.off < active && seen[r.key] {
					t.Fatalf("key %s twice below the active segment after cleaning", r.key)
				}
				seen[r.key] = true
			}
		})
		l2.Close()
	}
	if !completed {
		t.Fatal("cleaning never completed")
	}
	// Both outcomes must have been exercised: crashes before a swap
	// committed (rolled back) and after (completed by recovery).
	if swapped == 0 || kept == 0 {
		t.Fatalf("crashes after a committed swap: %d, before: %d", swapped, kept)
	}
	t.Logf("%d crash points: %d recovered with a swap done, %d without", swapped+kept, swapped, kept)
}
