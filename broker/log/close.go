package log

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Close flushes the log, writes a producer state snapshot and closes its
// files. A standalone log also writes its checkpoints and clean-shutdown
// marker. Closing twice is harmless.
func (l *Log) Close() error {
	// Take the flusher role so no fsync is in flight while files close.
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()
	defer func() {
		l.syncMu.Lock()
		l.syncing = false
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
	}()

	err := l.flushOnce()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	a := l.active
	a.finishIndex()
	if werr := l.writeIndexes(a); werr != nil && err == nil {
		err = werr
	}
	if a.indexDirty {
		for _, f := range []File{a.idxF, a.timF} {
			if serr := f.Sync(); serr != nil && err == nil {
				err = storageErr("fsync index", serr)
			}
		}
	}
	l.writeSnapshot(true)
	if serr := l.fs.SyncDir(l.dir); serr != nil && err == nil {
		err = storageErr("fsync dir", serr)
	}
	l.closed = true
	l.isClosed.Store(true)
	if l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	l.closeFiles()
	l.mu.Unlock()

	if l.mgr == nil && err == nil {
		err = l.writeOwnCheckpoints(true)
	}
	return err
}

// writeOwnCheckpoints persists a standalone log's log start offset (and at
// close its recovery point and clean-shutdown marker) in its directory.
func (l *Log) writeOwnCheckpoints(clean bool) error {
	key := topicPartition{l.topic, l.part}
	if err := writeCheckpoint(l.fs, filepath.Join(l.dir, logStartCheckpoint), map[topicPartition]int64{key: l.logStart.Load()}); err != nil {
		return err
	}
	if !clean {
		return nil
	}
	if err := writeCheckpoint(l.fs, filepath.Join(l.dir, recoveryPointCheckpoint), map[topicPartition]int64{key: l.recoveryPoint.Load()}); err != nil {
		return err
	}
	if err := writeFileAtomic(l.fs, filepath.Join(l.dir, cleanShutdownFile), nil); err != nil {
		return storageErr("write clean-shutdown marker", err)
	}
	return nil
}

// persistLogStart makes the current log start offset durable.
func (l *Log) persistLogStart() error {
	if l.mgr != nil {
		return l.mgr.writeCheckpoints()
	}
	return l.writeOwnCheckpoints(false)
}

// Delete closes the log and removes its directory (DeleteTopics). A log
// owned by a Manager is deleted through Manager.DeleteLog.
func (l *Log) Delete() error {
	if l.mgr != nil {
		return l.mgr.DeleteLog(l.topic, l.part)
	}
	l.closeForDelete()
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return storageErr(fmt.Sprintf("remove %s", l.dir), err)
	}
	return nil
}

// closeForDelete closes the log's files without flushing anything.
func (l *Log) closeForDelete() {
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.isClosed.Store(true)
		if l.sig != nil {
			close(l.sig)
			l.sig = nil
		}
		l.closeFiles()
	}
	l.mu.Unlock()
	l.syncMu.Lock()
	l.syncing = false
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
}
