package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TempSuffix is appended to a file's name to name the temporary file an
// atomic write goes through.
const TempSuffix = ".tmp"

// File is what an atomic write needs of an open file.
type File interface {
	io.Writer
	// Sync makes the file's data durable.
	Sync() error
	// Close closes the file.
	Close() error
}

// FS is what an atomic write needs of a file system, with F the type of
// its open files. OS is the operating system's; broker/log's FS has these
// methods too.
type FS[F File] interface {
	// OpenFile opens a file like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (F, error)
	// Remove removes a file.
	Remove(name string) error
	// Rename renames a file, replacing newpath.
	Rename(oldpath, newpath string) error
	// SyncDir makes the directory's entries durable.
	SyncDir(dir string) error
}

// OS is the operating system's file system.
type OS struct{}

// OpenFile implements FS with os.OpenFile.
func (OS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Remove implements FS with os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS with os.Rename.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// SyncDir implements FS with SyncDir.
func (OS) SyncDir(dir string) error { return SyncDir(dir) }

// WriteFile replaces the file at path with data, atomically and durably:
// it writes path+TempSuffix with permissions perm, fsyncs it, renames it
// over path and fsyncs the directory. On any failure before the rename the
// temporary file is removed and path is untouched. Errors name the step
// that failed and wrap the file system's error.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileFS[*os.File](OS{}, path, data, perm)
}

// WriteFileFS is WriteFile through fsys.
func WriteFileFS[F File](fsys FS[F], path string, data []byte, perm os.FileMode) error {
	tmp := path + TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	fail := func(step string, err error) error {
		if rerr := fsys.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", tmp, rerr))
		}
		return fmt.Errorf("%s %s: %w", step, tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail("sync", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fail("rename", err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("sync directory of %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs the directory dir, making the creation, removal and
// renaming of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
