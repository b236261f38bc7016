package log

import (
	"fmt"
	"time"
)

// DeleteRecordsBefore moves the log start offset up to offset (DeleteRecords)
// and deletes the segments wholly below it. The new log start is made
// durable before any file goes, so a restart never undoes it. offset above
// the high watermark is ErrOffsetOutOfRange.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	if offset > l.hw.Load() || offset < 0 {
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: delete before %d, high watermark %d", ErrOffsetOutOfRange, offset, l.hw.Load())
	}
	if offset <= l.logStart.Load() {
		l.mu.Unlock()
		return l.logStart.Load(), nil
	}
	l.logStart.Store(offset)
	l.pst.TruncateBefore(offset)
	l.mu.Unlock()
	if err := l.persistLogStart(); err != nil {
		return offset, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.deleteSegmentsLocked(func(s *segment, next int64) bool { return next <= l.logStart.Load() })
	return l.logStart.Load(), err
}

// ApplyRetention deletes the oldest whole segments that retention.ms (by
// the segment's max timestamp) or retention.bytes call for (only with
// cleanup.policy delete or compact,delete; a compact-only log keeps them), rolling first
// when the active segment itself is due, so the log always keeps an active
// segment. It moves the log start offset to the first remaining segment.
//
// Files are removed at once rather than after file.delete.delay.ms: readers
// holding a deleted segment open keep reading it (POSIX unlink semantics).
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	cfg := l.cfg
	if !cfg.Delete() {
		return 0, nil
	}
	nowMs := now.UnixMilli()
	excess := int64(-1)
	if cfg.RetentionBytes >= 0 {
		excess = l.Size() - cfg.RetentionBytes
	}
	return l.deleteSegmentsLocked(func(s *segment, _ int64) bool {
		if s.size.Load() == 0 {
			// A cold segment that compaction emptied holds nothing to keep.
			return s != l.active
		}
		if cfg.RetentionMs >= 0 {
			ts := s.maxTs
			if ts < 0 {
				ts = s.rollAtMs
			}
			if ts >= 0 && nowMs-ts > cfg.RetentionMs {
				excess -= s.size.Load()
				return true
			}
		}
		if excess >= 0 && excess-s.size.Load() >= 0 {
			excess -= s.size.Load()
			return true
		}
		return false
	})
}

// deleteSegmentsLocked deletes the longest prefix of segments for which
// due(segment, its next offset) holds. If that includes the active segment,
// the log rolls first.
func (l *Log) deleteSegmentsLocked(due func(s *segment, next int64) bool) (int, error) {
	segs := *l.segs.Load()
	n := 0
	for n < len(segs) {
		next := l.leo.Load()
		if n+1 < len(segs) {
			next = segs[n+1].base
		}
		if next > l.hw.Load() || !due(segs[n], next) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		if l.active.size.Load() > 0 {
			if err := l.roll(); err != nil {
				return 0, err
			}
		} else {
			n--
		}
		segs = *l.segs.Load()
	}
	if n == 0 {
		return 0, nil
	}
	for _, s := range segs[:n] {
		l.cache.markDeleted(s)
		closeActiveIndexFiles(s)
		removeSegmentFiles(l.fs, s)
	}
	rest := append([]*segment(nil), segs[n:]...)
	l.setSegs(rest)
	if rest[0].base > l.logStart.Load() {
		l.logStart.Store(rest[0].base)
		l.pst.TruncateBefore(rest[0].base)
	}
	if l.hw.Load() < l.logStart.Load() {
		l.hw.Store(l.logStart.Load())
	}
	for len(l.snapshots) > 1 && l.snapshots[0] < rest[0].base && l.snapshots[1] <= rest[0].base {
		l.fs.Remove(l.snapshotPath(l.snapshots[0]))
		l.snapshots = l.snapshots[1:]
	}
	return n, nil
}
