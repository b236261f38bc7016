package log

import (
	"io"
	"os"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// FS is the filesystem seam of the log. OSFS is the real one; MemFS is a
// strict in-memory implementation for tests that can simulate power loss
// and full disks.
type FS interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything under it.
	RemoveAll(path string) error
	// Rename renames a file or directory.
	Rename(oldpath, newpath string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]os.DirEntry, error)
	// Stat describes a file.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (files created, renamed or
	// removed in it) durable.
	SyncDir(dir string) error
	// Space reports the capacity of the file system holding dir, or an
	// error wrapping ErrSpaceUnknown where it cannot be known.
	Space(dir string) (DiskSpace, error)
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.Writer
	io.WriterAt
	// Sync makes the file's data durable.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Close closes the file.
	Close() error
	// Stat describes the file.
	Stat() (os.FileInfo, error)
}

// OSFS is the FS of the operating system.
type OSFS struct{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll implements FS.
func (OSFS) RemoveAll(path string) error { return os.RemoveAll(path) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Stat implements FS.
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

// SyncDir implements FS by fsyncing the directory.
func (OSFS) SyncDir(dir string) error { return fsutil.SyncDir(dir) }

// readFile reads a whole file of fs.
func readFile(fs FS, name string) ([]byte, error) {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, st.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(err == io.EOF && n == len(buf)) {
		return nil, err
	}
	return buf[:n], nil
}

// writeFileAtomic replaces name with data durably through fs: write a
// temporary file, fsync it, rename it over name and fsync the directory
// (internal/fsutil does it; the FS seam keeps MemFS's power-loss tests).
func writeFileAtomic(fs FS, name string, data []byte) error {
	return fsutil.WriteFileFS[File](fs, name, data, 0o644)
}
