package log

import (
	"fmt"
	"math"

	"github.com/gregorhq/gregor/broker/txn"
)

// Append appends one v2 record batch that the caller has validated
// (ValidateBatch). Under the log's lock it checks idempotence (producer ID
// >= 0): a retried batch returns its original offsets with Duplicate set,
// and sequence or epoch errors wrap txn.ErrOutOfOrderSequence or
// txn.ErrInvalidEpoch. Otherwise it assigns the base offset (the log end),
// the leader epoch and, if asked, the LogAppendTime, rolls the segment if
// needed, writes the batch with one write call and advances the log end.
// A failed write leaves nothing behind and returns an error wrapping
// ErrStorage; the log stays usable.
//
// batch is modified in place (offset, epoch, timestamps) and not retained.
func (l *Log) Append(batch []byte, opt AppendOptions) (AppendResult, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if h.Size() != len(batch) {
		return AppendResult{}, fmt.Errorf("%w: batch says %d bytes, got %d", ErrInvalidBatch, h.Size(), len(batch))
	}
	l.mu.Lock()
	res, flush, err := l.appendLocked(batch, &h, opt)
	l.mu.Unlock()
	if err != nil || !flush {
		return res, err
	}
	if err := l.Sync(res.LastOffset + 1); err != nil {
		return res, err
	}
	return res, nil
}

func (l *Log) appendLocked(batch []byte, h *BatchHeader, opt AppendOptions) (AppendResult, bool, error) {
	if l.closed {
		return AppendResult{}, false, ErrClosed
	}
	var pb txn.Batch
	marker := int16(-1)
	if h.ProducerID >= 0 {
		pb = txn.Batch{
			ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
			FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
			Transactional: h.IsTransactional(), Control: h.IsControl(), CoordinatorEpoch: -1,
		}
		if pb.Control {
			if m, ce, err := ControlMarker(batch); err == nil {
				marker, pb.CoordinatorEpoch = m, ce
			}
		}
		d, err := l.pst.Check(pb)
		if err != nil {
			return AppendResult{}, false, fmt.Errorf("log %s: %w", l.name, err)
		}
		if d.Duplicate {
			return AppendResult{
				BaseOffset: d.Original.BaseOffset, LastOffset: d.Original.LastOffset,
				LogStartOffset: l.logStart.Load(), Duplicate: true, MaxTimestamp: d.Original.MaxTimestamp,
			}, false, nil
		}
	}
	if n := len(l.epochs); opt.LeaderEpoch >= 0 && n > 0 && opt.LeaderEpoch < l.epochs[n-1].epoch {
		// Stamped with an epoch read before a newer one started here: in
		// the log past that start it would contradict the epoch cache.
		return AppendResult{}, false, fmt.Errorf("log %s: %w: append in epoch %d, the log is in epoch %d",
			l.name, ErrStaleLeaderEpoch, opt.LeaderEpoch, l.epochs[n-1].epoch)
	}
	base := l.leo.Load()
	last := base + int64(h.LastOffsetDelta)
	SetBaseOffset(batch, base)
	SetPartitionLeaderEpoch(batch, opt.LeaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, opt.LeaderEpoch
	if opt.LogAppendTime > 0 {
		SetLogAppendTime(batch, opt.LogAppendTime)
		h.MaxTimestamp = opt.LogAppendTime
		h.Attributes |= AttrLogAppendTime
	}
	if opt.LeaderEpoch >= 0 && (len(l.epochs) == 0 || opt.LeaderEpoch > l.epochs[len(l.epochs)-1].epoch) {
		if err := l.assignEpochLocked(opt.LeaderEpoch, base); err != nil {
			return AppendResult{}, false, err
		}
	}
	now := l.opts.Now()
	nowMs := now.UnixMilli()
	s := l.active
	if s.size.Load() > 0 && l.shouldRoll(s, len(batch), last, nowMs) {
		if err := l.roll(); err != nil {
			return AppendResult{}, false, err
		}
		s = l.active
	}
	if s.idx.numPending() >= indexWriteBatch {
		if err := l.writeIndexes(s); err != nil {
			return AppendResult{}, false, err
		}
	}
	pos := s.size.Load()
	if _, err := s.f.WriteAt(batch, pos); err != nil {
		if terr := s.f.Truncate(pos); terr != nil {
			l.logger.Error("cannot cut back failed write", "err", terr)
		}
		return AppendResult{}, false, storageErr("append to "+l.name, err)
	}
	s.size.Store(pos + int64(len(batch)))
	if s.rollAtMs == 0 {
		s.rollAtMs = nowMs
	}
	s.noteBatch(pos, len(batch), h, l.cfg.IndexIntervalBytes)
	if h.ProducerID >= 0 {
		pb.BaseOffset, pb.LastOffset, pb.MaxTimestamp = base, last, h.MaxTimestamp
		l.recordProducerBatch(s, pb, marker)
	}
	l.leo.Store(last + 1)
	if l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	l.unflushed += int64(max(h.RecordCount, 1))
	flush := l.unflushed >= l.cfg.FlushMessages ||
		(l.cfg.FlushMs != math.MaxInt64 && now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs)
	return AppendResult{
		BaseOffset: base, LastOffset: last, LogStartOffset: l.logStart.Load(), MaxTimestamp: h.MaxTimestamp,
	}, flush, nil
}

// shouldRoll reports whether the active segment must be rolled before a
// batch of size bytes ending at offset last is appended.
func (l *Log) shouldRoll(s *segment, size int, last, nowMs int64) bool {
	if s.size.Load()+int64(size) > l.cfg.SegmentBytes {
		return true
	}
	if s.rollAtMs > 0 && nowMs-s.rollAtMs >= l.cfg.maxSegmentMs() {
		return true
	}
	if last-s.base > math.MaxInt32 {
		return true
	}
	noff, ntim := s.idx.counts()
	return int64(noff+1)*offEntrySize > int64(l.cfg.SegmentIndexBytes) ||
		int64(ntim+1)*timeEntrySize > int64(l.cfg.SegmentIndexBytes)
}

// roll closes the active segment for appends and starts a new one at the
// log end offset (caller holds mu).
func (l *Log) roll() error { return l.rollAt(l.leo.Load()) }

// rollAt starts a new active segment at offset base, which is the log end
// offset except for a follower appending after a gap too wide for the
// active segment's relative offsets; the log end then moves up to base
// (caller holds mu).
func (l *Log) rollAt(base int64) error {
	old := l.active
	leo := base
	if old.base == leo {
		return nil // already empty at the log end
	}
	old.finishIndex()
	if err := l.writeIndexes(old); err != nil {
		return err
	}
	s := newSegment(l.dir, leo)
	if err := l.openActiveFiles(s); err != nil {
		removeSegmentFiles(l.fs, s)
		return err
	}
	closeActiveIndexFiles(old)
	segs := *l.segs.Load()
	next := make([]*segment, len(segs), len(segs)+1)
	copy(next, segs)
	l.setSegs(append(next, s))
	l.active = s
	if leo > l.leo.Load() {
		l.leo.Store(leo)
	}
	l.dirDirty = true
	l.cache.unpin(old)
	l.writeSnapshot(false)
	return nil
}

// closeFiles closes every file handle of the log (caller holds mu or owns l).
func (l *Log) closeFiles() {
	for _, s := range *l.segs.Load() {
		closeActiveIndexFiles(s)
		l.cache.markDeleted(s)
	}
}
