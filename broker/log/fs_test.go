package log

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFSConformance runs one suite over every FS implementation.
func TestFSConformance(t *testing.T) {
	backends := map[string]func(t *testing.T) (FS, string){
		"os": func(t *testing.T) (FS, string) { return OSFS{}, t.TempDir() },
		"mem": func(t *testing.T) (FS, string) {
			fs := NewMemFS()
			fs.MkdirAll("/root", 0o755)
			fs.SetSpaceLimit(1 << 30)
			return fs, "/root"
		},
	}
	for name, mk := range backends {
		t.Run(name, func(t *testing.T) {
			fs, root := mk(t)
			dir := filepath.Join(root, "a", "b")
			if err := fs.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if sp, err := fs.Space(dir); err != nil || sp.Total <= 0 || sp.Free < 0 || sp.Free > sp.Total {
				t.Fatalf("space: %+v %v", sp, err)
			}
			p := filepath.Join(dir, "f")
			if _, err := fs.OpenFile(p, os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("open missing: %v", err)
			}
			f, err := fs.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("hello ")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("world"), 6); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 20)
			n, err := f.ReadAt(buf, 0)
			if n != 11 || err != io.EOF || string(buf[:n]) != "hello world" {
				t.Fatalf("readAt: %d %v %q", n, err, buf[:n])
			}
			if err := f.Truncate(5); err != nil {
				t.Fatal(err)
			}
			if st, _ := f.Stat(); st.Size() != 5 {
				t.Fatalf("size %d", st.Size())
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			q := filepath.Join(dir, "g")
			if err := fs.Rename(p, q); err != nil {
				t.Fatal(err)
			}
			if err := fs.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("old name: %v", err)
			}
			b, err := readFile(fs, q)
			if err != nil || string(b) != "hello" {
				t.Fatalf("read renamed: %q %v", b, err)
			}
			es, err := fs.ReadDir(dir)
			if err != nil || len(es) != 1 || es[0].Name() != "g" {
				t.Fatalf("readdir: %v %v", es, err)
			}
			if err := writeFileAtomic(fs, filepath.Join(dir, "h"), []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove(q); err != nil {
				t.Fatal(err)
			}
			if err := fs.RemoveAll(filepath.Join(root, "a")); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("removed dir: %v", err)
			}
		})
	}
}

func TestMemFSCrashSemantics(t *testing.T) {
	fs := NewMemFS()
	fs.MkdirAll("/d", 0o755)
	f, _ := fs.OpenFile("/d/synced", os.O_CREATE|os.O_RDWR, 0o644)
	f.Write([]byte("durable"))
	f.Sync()
	fs.SyncDir("/d")
	f.Write([]byte(" lost"))
	g, _ := fs.OpenFile("/d/unnamed", os.O_CREATE|os.O_RDWR, 0o644)
	g.Write([]byte("data"))
	g.Sync() // data synced, but the name never was
	fs.Crash()
	if b, _ := readFile(fs, "/d/synced"); string(b) != "durable" {
		t.Fatalf("after crash %q", b)
	}
	if _, err := fs.Stat("/d/unnamed"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("unsynced name survived")
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("old handle still works")
	}
	fs.SetSpaceLimit(fs.Used() + 3)
	h, _ := fs.OpenFile("/d/synced", os.O_RDWR|os.O_APPEND, 0)
	n, err := h.Write([]byte("12345"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("enospc: %d %v", n, err)
	}
	if sp, err := fs.Space("/d"); err != nil || sp.Free != 0 || sp.Total != fs.Used() {
		t.Fatalf("space when full: %+v %v (used %d)", sp, err, fs.Used())
	}
	fs.SetSpaceLimit(-1)
	if _, err := fs.Space("/d"); !errors.Is(err, ErrSpaceUnknown) {
		t.Fatalf("space without a limit: %v", err)
	}
}
