// Package fsutil holds the few file system routines Gregor's storage code
// shares: replacing a file atomically and durably, making a directory's
// entries durable, and an exclusive lock on a file that guards a directory.
//
// WriteFile replaces a file so that a crash leaves either the old contents
// or the new, never a mix: it writes a temporary file beside the target,
// fsyncs it, renames it over the target and fsyncs the directory. The
// temporary file is named after the target with a ".tmp" suffix, and it is
// removed on any failure, so a failed write leaves the directory as it was.
// A crash can still leave one behind; it is overwritten by the next write,
// and startup code that scans a directory may delete "*.tmp" files.
//
//	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
//		return fmt.Errorf("write checkpoint: %w", err)
//	}
//
// WriteFileFS does the same through a file system seam (broker/log's FS,
// whose in-memory implementation simulates power loss in tests).
//
// LockFile takes an exclusive lock on a file, for as long as the process
// keeps it: a broker's data directory, a streams task directory. On Unix it
// is a flock, released by the kernel when the process dies; elsewhere the
// file is created exclusively and removed on unlock, so a crash leaves it
// to be removed by hand.
//
//	f, err := fsutil.LockFile(filepath.Join(dir, ".lock"))
//	if errors.Is(err, fsutil.ErrLocked) {
//		return fmt.Errorf("%s is in use: %w", dir, err)
//	}
//	defer fsutil.UnlockFile(f)
package fsutil
