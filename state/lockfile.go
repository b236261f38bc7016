package state

import "os"

// LockFile takes an exclusive, non-blocking lock of the file at path, creating it if
// missing, as task directories are locked: while one holder (in this process or
// another) keeps it, LockFile fails with an error wrapping ErrTaskLocked. Release it with
// UnlockFile.
func LockFile(path string) (*os.File, error) { return lockFile(path) }

// UnlockFile releases a lock taken by LockFile and closes its file.
func UnlockFile(f *os.File) error { return unlockFile(f) }
