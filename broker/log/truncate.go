package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gregorhq/gregor/broker/txn"
)

// Truncation (Kafka's truncateTo and truncateFullyAndStartAt): a follower
// removes the tail where its log diverges from the leader's.
//
// Crash safety comes from the order of the steps. TruncateTo first removes
// the segments after the one holding the cut, newest first, and makes the
// removals durable; then it cuts that segment's file and fsyncs it; only
// then does it rewrite the indexes, the leader-epoch checkpoint, the
// aborted-transaction index and remove the producer snapshots past the cut,
// and finally the recovery-point checkpoint. A crash at any point leaves
// the old log or a prefix of it whose metadata recovery makes consistent:
// the last segment is always re-scanned after an unclean shutdown, and
// epochs, aborted transactions and snapshots past the recovered log end are
// dropped on open. The epochs go after the data on purpose: data without
// its epoch entry could later be appended to without ever being truncated.
//
// A storage failure after the first file changed closes the log (its
// operations then return ErrClosed) and tells the Manager not to mark the
// shutdown clean: reopening the log runs recovery.

// truncResult says what truncateTo did.
type truncResult int

const (
	truncNone        truncResult = iota // no data removed
	truncDone                           // the tail was cut
	truncFullAtStart                    // the cut falls below the log start: empty the log at the log start
)

// TruncateTo removes every record batch that holds an offset >= offset:
// the segments after it go, the segment holding it is cut (with its offset
// and time indexes), and the log end offset becomes offset, or the base
// offset of the batch holding offset when offset falls inside a batch
// (LogEndOffset tells). An offset in a gap that compaction left stays in
// the gap: the end is offset (after a restart, the end of the last batch).
// The leader-epoch cache loses the entries that start at or after the new
// end (Kafka's truncateFromEnd), the producer state is rebuilt as it was at
// the new end (from the newest producer snapshot at or below it, then
// replaying the batches after the snapshot), the aborted-transaction index
// and the first unstable offset follow, and the high watermark, recovery
// point and cleaner checkpoint come down to the new end if they were above
// it. The recovery point is checkpointed before TruncateTo returns.
//
// offset >= the log end offset changes no data but still drops epoch entries
// starting at or after the log end (a leader that assigned an epoch and
// appended nothing). offset below the log start offset is an error wrapping
// ErrOffsetOutOfRange: call TruncateFullyAndStartAt instead, as Kafka does
// when the truncation point precedes the log. When the batch holding offset
// begins below the log start, the log is emptied at the log start.
//
// TruncateTo aborts a cleaning of this log in progress and waits for it.
// Reads racing with it see the log before or after the truncation.
func (l *Log) TruncateTo(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log %s: %w: truncate to %d", l.name, ErrOffsetOutOfRange, offset)
	}
	done := l.beginTruncate()
	r, err := l.truncateTo(offset)
	done()
	switch {
	case err != nil:
		return err
	case r == truncFullAtStart:
		return l.TruncateFullyAndStartAt(l.LogStartOffset())
	case r == truncNone:
		return nil
	}
	return l.persistTruncation()
}

// TruncateFullyAndStartAt deletes every segment, producer snapshot, aborted
// transaction and leader epoch, and starts the log empty at offset: log
// start, log end, high watermark and recovery point all become offset, and
// the log start and recovery point are checkpointed before it returns. A
// follower calls it when the leader's log starts past the follower's end
// (the leader answered OFFSET_OUT_OF_RANGE) or when it must truncate below
// its own log start. offset may be below the current log start.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log %s: %w: start at %d", l.name, ErrOffsetOutOfRange, offset)
	}
	done := l.beginTruncate()
	err := l.truncateFully(offset)
	done()
	if err != nil {
		return err
	}
	return l.persistTruncation()
}

// beginTruncate stops a cleaning of this log in progress (the cleaner
// checks l.truncating) and takes the cleaner lock and the flusher role, so
// that no fsync or cleaner swap runs while the files change. The returned
// function gives them back.
func (l *Log) beginTruncate() func() {
	l.truncating.Add(1)
	l.cleanMu.Lock()
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()
	return func() {
		l.syncMu.Lock()
		l.syncing = false
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
		l.cleanMu.Unlock()
		l.truncating.Add(-1)
	}
}

// persistTruncation checkpoints the log start offset and recovery point
// (and the cleaner checkpoint) after a truncation lowered them. It runs
// without the log's locks: a Manager writes the checkpoints of every log.
func (l *Log) persistTruncation() error {
	var err error
	if l.mgr != nil {
		err = l.mgr.writeCheckpoints()
	} else {
		key := topicPartition{l.topic, l.part}
		err = writeCheckpoint(l.fs, filepath.Join(l.dir, logStartCheckpoint), map[topicPartition]int64{key: l.logStart.Load()})
		if err == nil {
			err = writeCheckpoint(l.fs, filepath.Join(l.dir, recoveryPointCheckpoint), map[topicPartition]int64{key: l.recoveryPoint.Load()})
		}
	}
	if err != nil {
		return fmt.Errorf("log %s: checkpoint after truncation: %w", l.name, err)
	}
	if err := l.persistCleanerCheckpoint(); err != nil {
		return fmt.Errorf("log %s: cleaner checkpoint after truncation: %w", l.name, err)
	}
	return nil
}

// failLocked closes the log after a storage failure part-way through a
// truncation (caller holds mu): its files may be between two consistent
// states, which only recovery on reopening sorts out.
func (l *Log) failLocked(what string, err error) error {
	l.logger.Error("closing log after a storage failure during truncation", "step", what, "err", err)
	l.closed = true
	l.isClosed.Store(true)
	if l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	l.closeFiles()
	if l.mgr != nil {
		l.mgr.needsRecovery.Store(true)
	}
	return fmt.Errorf("%w: log %s: %s: %w (log closed; reopen it to recover)", ErrStorage, l.name, what, err)
}

// cutPlan is where a segment is cut and what it looks like afterwards.
type cutPlan struct {
	pos, end        int64 // file position of the cut; new log end offset
	off             []offEntry
	tim             []timeEntry
	maxTs, maxTsOff int64
	since           int64 // bytes since the last offset index entry
}

func (l *Log) truncateTo(offset int64) (truncResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return truncNone, ErrClosed
	}
	start, leo := l.logStart.Load(), l.leo.Load()
	if offset < start {
		return truncNone, fmt.Errorf("log %s: %w: truncate to %d, below the log start %d (use TruncateFullyAndStartAt)",
			l.name, ErrOffsetOutOfRange, offset, start)
	}
	if offset >= leo {
		if err := l.truncateEpochsLocked(leo); err != nil {
			return truncNone, err
		}
		return truncNone, nil
	}
	segs := *l.segs.Load()
	k := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if k < 0 {
		return truncNone, fmt.Errorf("%w: log %s: no segment holds offset %d", ErrStorage, l.name, offset)
	}
	p, err := l.planCut(segs[k], offset)
	if err != nil {
		return truncNone, err
	}
	if p.end < start {
		return truncFullAtStart, nil
	}
	return truncDone, l.applyCut(segs, k, p)
}

// planCut finds where to cut segment s so that no batch holding an offset
// >= offset stays, and works out the segment's indexes and max timestamp
// after the cut, reading only the batches near the cut (caller holds mu).
func (l *Log) planCut(s *segment, offset int64) (cutPlan, error) {
	f, err := l.cache.acquire(s, l)
	if err != nil {
		return cutPlan{}, err
	}
	defer l.cache.release(s)
	size := s.size.Load()
	p := cutPlan{pos: size, end: offset, maxTs: -1, maxTsOff: -1}
	_, err = scanBatches(f, s.idx.lookup(offset-s.base), size, 0, false, func(pos int64, h *BatchHeader, _ []byte) error {
		if h.LastOffset() >= offset {
			p.pos, p.end = pos, min(offset, h.BaseOffset)
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return cutPlan{}, fmt.Errorf("%w: log %s: segment %d: %w", ErrStorage, l.name, s.base, err)
	}
	// Index entries of the batches kept: offset entries before the cut,
	// time entries whose batch starts below the new end.
	s.idx.mu.RLock()
	for _, e := range s.idx.off {
		if int64(e.pos) < p.pos {
			p.off = append(p.off, e)
		}
	}
	for _, e := range s.idx.tim {
		if s.base+int64(e.rel) < p.end {
			p.tim = append(p.tim, e)
		}
	}
	s.idx.mu.RUnlock()
	// The max timestamp: the last time entry kept covers the batches before
	// the last offset entry kept; scan the rest up to the cut.
	if n := len(p.tim); n > 0 {
		p.maxTs, p.maxTsOff = p.tim[n-1].ts, s.base+int64(p.tim[n-1].rel)
	}
	scanFrom := int64(0)
	if n := len(p.off); n > 0 {
		scanFrom = int64(p.off[n-1].pos)
	}
	p.since = p.pos - scanFrom
	_, err = scanBatches(f, scanFrom, p.pos, 0, false, func(_ int64, h *BatchHeader, _ []byte) error {
		if h.MaxTimestamp > p.maxTs {
			p.maxTs, p.maxTsOff = h.MaxTimestamp, h.BaseOffset
		}
		return nil
	})
	if err != nil {
		return cutPlan{}, fmt.Errorf("%w: log %s: segment %d: %w", ErrStorage, l.name, s.base, err)
	}
	return p, nil
}

// applyCut replaces segs[k] by a copy cut by p, which becomes the active
// segment, and deletes the segments after it (caller holds mu and the
// flusher role).
func (l *Log) applyCut(segs []*segment, k int, p cutPlan) error {
	old := segs[k]
	ns := newSegment(l.dir, old.base)
	ns.size.Store(p.pos)
	ns.next, ns.maxTs, ns.maxTsOff, ns.bytesSinceIdx = p.end, p.maxTs, p.maxTsOff, p.since
	ns.idx.set(p.off, p.tim)
	if p.pos > 0 {
		ns.rollAtMs = old.rollAtMs
		if ns.rollAtMs == 0 {
			ns.rollAtMs = l.opts.Now().UnixMilli()
		}
	}
	// Failing here changes nothing.
	if err := l.openActiveFiles(ns); err != nil {
		return err
	}
	// Retire the old segment objects (readers holding one retry on the new
	// list) and the files of the segments after the cut, newest first.
	later := segs[k+1:]
	for _, s := range later {
		l.cache.markDeleted(s)
		closeActiveIndexFiles(s)
	}
	l.cache.markDeleted(old)
	closeActiveIndexFiles(old)
	next := append(segs[:k:k], ns)
	l.setSegs(next)
	l.active = ns
	l.leo.Store(p.end)
	for j := len(later) - 1; j >= 0; j-- {
		if err := removeSegmentFilesStrict(l.fs, later[j]); err != nil {
			return l.failLocked("remove segment", err)
		}
	}
	if len(later) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.failLocked("fsync dir after removing segments", err)
		}
	}
	if p.pos < old.size.Load() {
		if err := ns.f.Truncate(p.pos); err != nil {
			return l.failLocked("cut segment", err)
		}
		if err := ns.f.Sync(); err != nil {
			return l.failLocked("fsync cut segment", err)
		}
	}
	ob, tb := encodeIndex(p.off, p.tim)
	for _, w := range []struct {
		f File
		b []byte
	}{{ns.idxF, ob}, {ns.timF, tb}} {
		if _, err := w.f.WriteAt(w.b, 0); err != nil {
			return l.failLocked("rewrite index", err)
		}
		if err := w.f.Truncate(int64(len(w.b))); err != nil {
			return l.failLocked("cut index", err)
		}
	}
	ns.idx.markWritten()
	ns.indexDirty = true
	if err := l.truncateEpochsLocked(p.end); err != nil {
		return l.failLocked("truncate leader epochs", err)
	}
	if err := l.truncateTxnStateLocked(ns, p.end); err != nil {
		return err
	}
	l.hw.Store(min(l.hw.Load(), p.end))
	l.recoveryPoint.Store(min(l.recoveryPoint.Load(), p.end))
	if l.cleanedTo.Load() > p.end {
		l.cleanedTo.Store(p.end)
	}
	l.dirDirty = true
	if l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	return nil
}

// truncateTxnStateLocked brings the aborted-transaction index and the
// producer state back to the log end end: entries whose abort marker is at
// or after end go from memory and from ns's .txnindex (rewritten
// atomically), producer snapshots past end are removed durably, and the
// producer state is reloaded from the newest snapshot left plus the batches
// after it (caller holds mu; a failure closes the log).
func (l *Log) truncateTxnStateLocked(ns *segment, end int64) error {
	keep := l.aborted[:0]
	for _, a := range l.aborted {
		if a.LastOffset < end {
			keep = append(keep, a)
		}
	}
	clear(l.aborted[len(keep):])
	l.aborted = keep
	if data, err := readFile(l.fs, ns.txnPath()); err == nil {
		all := decodeTxnIndex(data)
		kept := all[:0]
		for _, a := range all {
			if a.LastOffset < end {
				kept = append(kept, a)
			}
		}
		if len(kept)*txnEntrySize != len(data) {
			var buf []byte
			for _, a := range kept {
				buf = append(buf, encodeTxnEntry(a)...)
			}
			if err := writeFileAtomic(l.fs, ns.txnPath(), buf); err != nil {
				return l.failLocked("rewrite transaction index", err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return l.failLocked("read transaction index", err)
	}
	snaps := l.snapshots[:0:0]
	removed := false
	for _, o := range l.snapshots {
		if o <= end {
			snaps = append(snaps, o)
			continue
		}
		if err := l.fs.Remove(l.snapshotPath(o)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return l.failLocked("remove producer snapshot", err)
		}
		removed = true
	}
	if removed {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.failLocked("fsync dir after removing snapshots", err)
		}
	}
	l.pst = txn.NewProducerStateTable()
	if err := l.loadProducerState(snaps); err != nil {
		return l.failLocked("rebuild producer state", err)
	}
	l.firstUnstable.Store(l.pst.FirstUnstableOffset())
	return nil
}

// truncateFully empties the log at offset (caller holds the cleaner lock
// and the flusher role). The files go in an order that leaves, at every
// crash point, the old log, a prefix of it, or a prefix with its oldest
// segments gone (as retention leaves it), and never a new segment beside
// old ones that overlap it: the segments after offset, newest first; a
// segment based at offset is emptied in place once those are durably gone;
// the segments before offset, oldest first; a new segment at offset once
// all are durably gone; then snapshots and epochs.
func (l *Log) truncateFully(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	segs := *l.segs.Load()
	reuse := -1 // a segment already based at offset keeps its file name
	for i, s := range segs {
		if s.base == offset {
			reuse = i
		}
		l.cache.markDeleted(s)
		closeActiveIndexFiles(s)
	}
	ns := newSegment(l.dir, offset)
	l.setSegs([]*segment{ns})
	l.active = ns
	l.leo.Store(offset)
	l.logStart.Store(offset)
	l.hw.Store(offset)
	l.recoveryPoint.Store(offset)
	l.cleanedTo.Store(-1)
	l.pst = txn.NewProducerStateTable()
	l.aborted = nil
	l.firstUnstable.Store(-1)
	l.unflushed = 0
	if l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	for j := len(segs) - 1; j >= 0 && segs[j].base > offset; j-- {
		if err := removeSegmentFilesStrict(l.fs, segs[j]); err != nil {
			return l.failLocked("remove segment", err)
		}
	}
	if reuse >= 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.failLocked("fsync dir after removing segments", err)
		}
		if err := l.openActiveFiles(ns); err != nil {
			return l.failLocked("reopen segment", err)
		}
		for _, f := range []File{ns.f, ns.idxF, ns.timF} {
			if err := f.Truncate(0); err != nil {
				return l.failLocked("empty segment", err)
			}
		}
		if err := ns.f.Sync(); err != nil {
			return l.failLocked("fsync emptied segment", err)
		}
		if err := l.fs.Remove(ns.txnPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return l.failLocked("remove transaction index", err)
		}
	}
	for j := 0; j < len(segs) && segs[j].base < offset; j++ {
		if err := removeSegmentFilesStrict(l.fs, segs[j]); err != nil {
			return l.failLocked("remove segment", err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("fsync dir after removing segments", err)
	}
	if reuse < 0 {
		if err := l.openActiveFiles(ns); err != nil {
			return l.failLocked("create segment", err)
		}
	}
	for _, o := range l.snapshots {
		if err := l.fs.Remove(l.snapshotPath(o)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return l.failLocked("remove producer snapshot", err)
		}
	}
	l.snapshots = nil
	// Epochs last (writing the checkpoint also makes the new segment and
	// the snapshot removals durable).
	if err := l.setEpochsLocked(nil); err != nil {
		return l.failLocked("clear leader epochs", err)
	}
	l.dirDirty = false
	return nil
}

// removeSegmentFilesStrict removes a segment's files and reports a failure
// to remove its .log (an index file left without its .log goes on open).
func removeSegmentFilesStrict(fs FS, s *segment) error {
	err := fs.Remove(s.logPath())
	for _, p := range []string{s.indexPath(), s.timePath(), s.txnPath()} {
		fs.Remove(p)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
