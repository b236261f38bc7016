package log

import (
	"errors"
	"os"
	"time"
)

// Sync returns once every record below offset upto is fsynced, together
// with the indexes and directory entries needed to find it after a crash.
// It is a group commit: one caller fsyncs while the others wait, and those
// that arrive meanwhile share the next fsync.
func (l *Log) Sync(upto int64) error {
	upto = min(upto, l.leo.Load()) // nothing past the log end to wait for
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		if l.recoveryPoint.Load() >= upto {
			return nil
		}
		if l.isClosed.Load() {
			return ErrClosed
		}
		if !l.syncing {
			break
		}
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()
	err := l.flushOnce()
	l.syncMu.Lock()
	l.syncing = false
	l.syncCond.Broadcast()
	return err
}

// Flush fsyncs everything appended so far.
func (l *Log) Flush() error {
	return l.Sync(l.leo.Load())
}

// flushOnce fsyncs the segments holding data past the recovery point, their
// indexes and the directory, then advances the recovery point. The caller
// holds the flusher role (syncing).
func (l *Log) flushOnce() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	target := l.leo.Load()
	rp := l.recoveryPoint.Load()
	if err := l.writeIndexes(l.active); err != nil {
		l.mu.Unlock()
		return err
	}
	var dirty []*segment
	var indexDirty []*segment
	segs := *l.segs.Load()
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= rp {
			continue
		}
		dirty = append(dirty, s)
		if s.indexDirty {
			s.indexDirty = false
			indexDirty = append(indexDirty, s)
		}
	}
	dirDirty := l.dirDirty
	l.dirDirty = false
	unflushed := l.unflushed
	l.unflushed = 0
	l.mu.Unlock()

	start := time.Now()
	err := l.fsyncSegments(dirty, indexDirty, dirDirty)
	if err == nil && l.opts.OnFlush != nil {
		l.opts.OnFlush(time.Since(start))
	}

	l.mu.Lock()
	if err != nil {
		l.dirDirty = l.dirDirty || dirDirty
		l.unflushed += unflushed
		for _, s := range indexDirty {
			s.indexDirty = true
		}
	} else {
		l.lastFlush = l.opts.Now()
		if target > l.recoveryPoint.Load() {
			l.recoveryPoint.Store(target)
		}
	}
	l.mu.Unlock()
	return err
}

func (l *Log) fsyncSegments(dirty, indexDirty []*segment, dirDirty bool) error {
	for _, s := range dirty {
		f, err := l.cache.acquire(s, l)
		if errors.Is(err, errSegmentGone) {
			continue
		}
		if err != nil {
			return err
		}
		err = f.Sync()
		l.cache.release(s)
		if err != nil {
			return storageErr("fsync segment", err)
		}
	}
	for _, s := range indexDirty {
		for _, p := range []string{s.indexPath(), s.timePath()} {
			f, err := l.fs.OpenFile(p, os.O_RDONLY, 0)
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				return storageErr("open index", err)
			}
			err = f.Sync()
			f.Close()
			if err != nil {
				return storageErr("fsync index", err)
			}
		}
	}
	if dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr("fsync dir", err)
		}
	}
	return nil
}
