package log

import (
	"errors"
	"fmt"
	"math"

	"github.com/gregorhq/gregor/broker/txn"
)

// ErrOffsetMismatch: AppendAsFollower got batches that do not continue the
// log: the first one starts below the log end offset, or one starts at or
// below the last offset of the batch before it.
var ErrOffsetMismatch = errors.New("batch offsets do not continue the log")

// AppendFollowerResult is the outcome of AppendAsFollower.
type AppendFollowerResult struct {
	// FirstOffset is the base offset of the first appended batch and
	// LastOffset the last offset of the last one; both -1 when nothing was
	// appended.
	FirstOffset, LastOffset int64
	// LogEndOffset is the log end offset after the append.
	LogEndOffset int64
	// LastEpoch is the partition leader epoch of the last appended batch
	// (-1 when nothing was appended): the follower's next LastFetchedEpoch.
	LastEpoch int32
	// Batches, Records and Bytes count what was appended.
	Batches int
	Records int64
	Bytes   int64
	// MaxTimestamp is the largest batch max timestamp appended (-1 if none).
	MaxTimestamp int64
}

// followerBatch is one validated batch of an AppendAsFollower input.
type followerBatch struct {
	h   BatchHeader
	pos int // position in the input
}

// splitFollowerBatches validates the record batches of a replica fetch:
// whole v2 batches (magic, length, CRC-32C, record count against offset
// span) with offsets that increase strictly from one batch to the next. A
// trailing incomplete batch is ignored, as Kafka's follower does (a fetch
// response may end with a partial batch); anything else that is not a valid
// batch is an error wrapping ErrInvalidBatch or ErrOffsetMismatch.
func splitFollowerBatches(b []byte) ([]followerBatch, error) {
	var out []followerBatch
	prevLast := int64(-1)
	for pos := 0; pos < len(b); {
		rest := b[pos:]
		if len(rest) < BatchHeaderSize {
			break // partial trailing batch
		}
		h, err := ParseBatchHeader(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatch, pos, err)
		}
		if h.Size() > len(rest) {
			break // partial trailing batch
		}
		if h, err = ValidateBatch(rest[:h.Size()]); err != nil {
			return nil, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatch, pos, err)
		}
		if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-1-int64(h.LastOffsetDelta) {
			return nil, fmt.Errorf("%w: batch at byte %d: base offset %d, last offset delta %d",
				ErrInvalidBatch, pos, h.BaseOffset, h.LastOffsetDelta)
		}
		if h.BaseOffset <= prevLast {
			return nil, fmt.Errorf("%w: batch at byte %d starts at %d, after a batch ending at %d",
				ErrOffsetMismatch, pos, h.BaseOffset, prevLast)
		}
		prevLast = h.LastOffset()
		out = append(out, followerBatch{h: h, pos: pos})
		pos += h.Size()
	}
	return out, nil
}

// AppendAsFollower appends record batches copied from the partition leader
// (a replica fetch's records) unchanged: their offsets, partition leader
// epochs, producer IDs, epochs and sequences, timestamps and transaction
// markers stay as the leader wrote them, so the replica holds the leader's
// bytes at the leader's offsets.
//
// Every batch is validated first (ValidateBatch: magic 2, length, CRC-32C,
// record count); a trailing incomplete batch is ignored. The first batch
// must start at or after the log end offset (a gap is what compaction
// leaves on the leader) and each batch after the one before it, else
// nothing is appended and the error wraps ErrOffsetMismatch. One exception,
// as in Kafka: when the log is empty (log end == log start) and the first
// batch straddles the log end, the log restarts at that batch's base offset
// (TruncateFullyAndStartAt), which happens when the leader's log start falls
// inside a batch.
//
// The append updates what a leader append updates: segments (rolled by the
// same rules as Append), offset and time indexes, the log end offset, the
// producer state (sequences, so that this replica can deduplicate retries
// once it leads; transaction markers; the aborted-transaction index; the
// first unstable offset) and the leader-epoch cache (a batch whose epoch is
// newer than the latest cached one starts that epoch at its base offset).
// It neither checks producer sequences nor moves the high watermark: the
// caller sets that from the leader's fetch response (SetHighWatermark).
// flush.messages and flush.ms apply as for Append.
//
// Consecutive batches that go to the same segment are written with one
// write call. A storage error stops the append at a batch boundary: the
// batches before the failed write stay appended (the result counts them)
// and the error wraps ErrStorage.
func (l *Log) AppendAsFollower(batches []byte) (AppendFollowerResult, error) {
	res := AppendFollowerResult{FirstOffset: -1, LastOffset: -1, LastEpoch: -1, MaxTimestamp: -1}
	bs, err := splitFollowerBatches(batches)
	if err != nil {
		res.LogEndOffset = l.leo.Load()
		return res, fmt.Errorf("log %s: %w", l.name, err)
	}
	for restarted := false; ; restarted = true {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return res, ErrClosed
		}
		leo := l.leo.Load()
		res.LogEndOffset = leo
		if len(bs) == 0 {
			l.mu.Unlock()
			return res, nil
		}
		first := bs[0].h
		if first.BaseOffset < leo {
			empty := leo == l.logStart.Load()
			l.mu.Unlock()
			if empty && !restarted && first.LastOffset() >= leo {
				if err := l.TruncateFullyAndStartAt(first.BaseOffset); err != nil {
					return res, err
				}
				continue
			}
			return res, fmt.Errorf("log %s: %w: first batch starts at %d, log end offset is %d",
				l.name, ErrOffsetMismatch, first.BaseOffset, leo)
		}
		flush, err := l.appendFollowerLocked(batches, bs, &res)
		l.mu.Unlock()
		if err != nil || !flush {
			return res, err
		}
		return res, l.Sync(res.LastOffset + 1)
	}
}

// appendFollowerLocked writes the validated batches (caller holds mu) and
// reports whether the flush policy asks for a flush.
func (l *Log) appendFollowerLocked(buf []byte, bs []followerBatch, res *AppendFollowerResult) (bool, error) {
	now := l.opts.Now()
	nowMs := now.UnixMilli()
	var err error
	for i := 0; i < len(bs) && err == nil; {
		s := l.active
		first := &bs[i].h
		if s.size.Load() > 0 && l.shouldRoll(s, first.Size(), first.LastOffset(), nowMs) ||
			first.LastOffset()-s.base > math.MaxInt32 {
			next := l.leo.Load()
			if first.LastOffset()-next > math.MaxInt32 {
				next = first.BaseOffset // a gap too wide for one segment's relative offsets
			}
			if err = l.rollAt(next); err != nil {
				break
			}
			s = l.active
		}
		j := l.planRun(s, bs, i)
		if err = l.writeRun(s, buf, bs[i:j], res, nowMs); err != nil {
			break
		}
		for _, b := range bs[i:j] {
			l.unflushed += int64(max(b.h.RecordCount, 1))
		}
		i = j
	}
	if res.Batches > 0 && l.sig != nil {
		close(l.sig)
		l.sig = nil
	}
	if err != nil {
		return false, err
	}
	return l.unflushed >= l.cfg.FlushMessages ||
		(l.cfg.FlushMs != math.MaxInt64 && now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs), nil
}

// planRun returns j such that bs[i:j] all fit in segment s without a roll,
// by the rules of shouldRoll applied batch after batch (the time index
// count is an upper bound, so a run may end one batch early when the index
// is nearly full).
func (l *Log) planRun(s *segment, bs []followerBatch, i int) int {
	size, since := s.size.Load(), s.bytesSinceIdx
	noff, ntim := s.idx.counts()
	interval := int64(l.cfg.IndexIntervalBytes)
	note := func(n int) {
		if since > interval {
			noff, ntim, since = noff+1, ntim+1, 0
		}
		since += int64(n)
		size += int64(n)
	}
	note(bs[i].h.Size())
	j := i + 1
	for ; j < len(bs); j++ {
		h := &bs[j].h
		if size+int64(h.Size()) > l.cfg.SegmentBytes || h.LastOffset()-s.base > math.MaxInt32 ||
			int64(noff+1)*offEntrySize > int64(l.cfg.SegmentIndexBytes) ||
			int64(ntim+1)*timeEntrySize > int64(l.cfg.SegmentIndexBytes) {
			break
		}
		note(h.Size())
	}
	return j
}

// writeRun writes the batches run (contiguous in buf) to the end of s with
// one write and records them: leader epochs, indexes, producer state, log
// end offset (caller holds mu). A failed write is cut back and leaves
// nothing behind.
func (l *Log) writeRun(s *segment, buf []byte, run []followerBatch, res *AppendFollowerResult, nowMs int64) error {
	for k := range run {
		h := &run[k].h
		if e := h.PartitionLeaderEpoch; e >= 0 && (len(l.epochs) == 0 || e > l.epochs[len(l.epochs)-1].epoch) {
			if err := l.assignEpochLocked(e, h.BaseOffset); err != nil {
				return err
			}
		}
	}
	if s.idx.numPending() >= indexWriteBatch {
		if err := l.writeIndexes(s); err != nil {
			return err
		}
	}
	lastB := run[len(run)-1]
	data := buf[run[0].pos : lastB.pos+lastB.h.Size()]
	pos := s.size.Load()
	if _, err := s.f.WriteAt(data, pos); err != nil {
		if terr := s.f.Truncate(pos); terr != nil {
			l.logger.Error("cannot cut back failed write", "err", terr)
		}
		return storageErr("append to "+l.name, err)
	}
	s.size.Store(pos + int64(len(data)))
	if s.rollAtMs == 0 {
		s.rollAtMs = nowMs
	}
	for k := range run {
		b := &run[k]
		h := &b.h
		s.noteBatch(pos+int64(b.pos-run[0].pos), h.Size(), h, l.cfg.IndexIntervalBytes)
		if h.ProducerID >= 0 {
			marker, coord := int16(-1), int32(-1)
			if h.IsControl() {
				if m, ce, err := ControlMarker(buf[b.pos : b.pos+h.Size()]); err == nil {
					marker, coord = m, ce
				}
			}
			l.recordProducerBatch(s, txn.Batch{
				ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
				FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
				BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp,
				Transactional: h.IsTransactional(), Control: h.IsControl(), CoordinatorEpoch: coord,
			}, marker)
		}
		if res.FirstOffset < 0 {
			res.FirstOffset = h.BaseOffset
		}
		res.LastOffset, res.LastEpoch = h.LastOffset(), h.PartitionLeaderEpoch
		res.MaxTimestamp = max(res.MaxTimestamp, h.MaxTimestamp)
		res.Batches++
		res.Records += int64(h.RecordCount)
		res.Bytes += int64(h.Size())
	}
	l.leo.Store(lastB.h.NextOffset())
	res.LogEndOffset = l.leo.Load()
	return nil
}
