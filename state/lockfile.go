package state

import (
	"errors"
	"fmt"
	"os"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// LockFile takes an exclusive, non-blocking lock of the file at path, creating it if
// missing, as task directories are locked: while one holder (in this process or
// another) keeps it, LockFile fails with an error wrapping ErrTaskLocked. Release it with
// UnlockFile. On Unix the lock is a flock that dies with the process; elsewhere the file
// is created exclusively, and one left behind by a crash must be removed by hand.
func LockFile(path string) (*os.File, error) {
	f, err := fsutil.LockFile(path)
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", ErrTaskLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return f, nil
}

// UnlockFile releases a lock taken by LockFile and closes its file.
func UnlockFile(f *os.File) error {
	if err := fsutil.UnlockFile(f); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
