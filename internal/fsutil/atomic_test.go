package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var errInjected = errors.New("injected failure")

// faultFS is the OS file system with one step made to fail.
type faultFS struct {
	failAt string // "open", "write", "sync", "close", "rename" or "syncdir"
}

type faultFile struct {
	*os.File
	failAt string
}

func (f faultFile) Write(p []byte) (int, error) {
	if f.failAt == "write" {
		n, _ := f.File.Write(p[:len(p)/2]) // a short write
		return n, errInjected
	}
	return f.File.Write(p)
}

func (f faultFile) Sync() error {
	if f.failAt == "sync" {
		return errInjected
	}
	return f.File.Sync()
}

func (f faultFile) Close() error {
	err := f.File.Close()
	if f.failAt == "close" {
		return errInjected
	}
	return err
}

func (fs faultFS) OpenFile(name string, flag int, perm os.FileMode) (faultFile, error) {
	if fs.failAt == "open" {
		return faultFile{}, errInjected
	}
	f, err := os.OpenFile(name, flag, perm)
	return faultFile{File: f, failAt: fs.failAt}, err
}

func (fs faultFS) Remove(name string) error { return os.Remove(name) }

func (fs faultFS) Rename(oldpath, newpath string) error {
	if fs.failAt == "rename" {
		return errInjected
	}
	return os.Rename(oldpath, newpath)
}

func (fs faultFS) SyncDir(dir string) error {
	if fs.failAt == "syncdir" {
		return errInjected
	}
	return SyncDir(dir)
}

// names lists a directory's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFileFS(t *testing.T) {
	for _, tc := range []struct {
		failAt   string
		existing bool   // the target holds "old" before the write
		want     string // the target's contents after it ("" = missing)
		wantErr  bool
	}{
		{failAt: "", want: "new"},
		{failAt: "", existing: true, want: "new"},
		{failAt: "open", existing: true, want: "old", wantErr: true},
		{failAt: "write", existing: true, want: "old", wantErr: true},
		{failAt: "write", want: "", wantErr: true},
		{failAt: "sync", existing: true, want: "old", wantErr: true},
		{failAt: "close", existing: true, want: "old", wantErr: true},
		{failAt: "rename", existing: true, want: "old", wantErr: true},
		{failAt: "rename", want: "", wantErr: true},
		// The rename happened: the new contents are in place, but the
		// caller is told the directory entry may not be durable.
		{failAt: "syncdir", existing: true, want: "new", wantErr: true},
	} {
		name := tc.failAt
		if name == "" {
			name = "ok"
		}
		if tc.existing {
			name += "/existing"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tc.existing {
				if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFileFS[faultFile](faultFS{failAt: tc.failAt}, path, []byte("new"), 0o644)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, errInjected) {
				t.Errorf("err = %v, does not wrap the file system's error", err)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tc.want == "" && !errors.Is(rerr, os.ErrNotExist):
				t.Errorf("target exists (%q, %v), want none", got, rerr)
			case tc.want != "" && string(got) != tc.want:
				t.Errorf("target holds %q (%v), want %q", got, rerr, tc.want)
			}
			wantNames := 0
			if tc.want != "" {
				wantNames = 1
			}
			if n := names(t, dir); len(n) != wantNames {
				t.Errorf("directory holds %q: a temporary file was left behind", n)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	for _, data := range []string{"first", "second, longer", ""} {
		if err := WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("directory holds %q, want only the file", n)
	}
}

func TestWriteFileRealFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
	}{
		{"target is a non-empty directory", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "target")
			if err := os.MkdirAll(filepath.Join(path, "child"), 0o755); err != nil {
				t.Fatal(err)
			}
			return path
		}},
		{"directory missing", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "target")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.setup(t, dir)
			before := names(t, dir)
			if err := WriteFile(path, []byte("data"), 0o644); err == nil {
				t.Fatal("WriteFile succeeded")
			}
			if after := names(t, dir); len(after) != len(before) {
				t.Errorf("directory holds %q after the failed write, held %q before", after, before)
			}
			if _, err := os.Stat(path + TempSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left behind: %v", err)
			}
		})
	}
}

func TestWriteFileOverwritesLeftoverTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	// A crash between create and rename left a longer temporary file.
	if err := os.WriteFile(path+TempSuffix, []byte("a leftover from a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "x" {
		t.Errorf("got %q, want %q", got, "x")
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("directory holds %q", n)
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		dir     string
		wantErr bool
	}{
		{dir, false},
		{filepath.Join(dir, "missing"), true},
	} {
		if err := SyncDir(tc.dir); (err != nil) != tc.wantErr {
			t.Errorf("SyncDir(%s) = %v, want error: %v", tc.dir, err, tc.wantErr)
		}
	}
}
