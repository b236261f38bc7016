package fsutil

import (
	"errors"
	"os"
)

// ErrLocked is returned (wrapped) by LockFile when another holder, in this
// process or another, has the lock.
var ErrLocked = errors.New("file is locked")

// LockFile takes an exclusive, non-blocking lock on the file at path,
// creating it if missing. While a holder keeps the lock, LockFile fails
// with an error wrapping ErrLocked, also within the same process. Release
// the lock with UnlockFile.
func LockFile(path string) (*os.File, error) { return lockFile(path) }

// UnlockFile releases a lock taken by LockFile and closes its file.
func UnlockFile(f *os.File) error { return unlockFile(f) }
