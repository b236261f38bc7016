package log

import "path/filepath"

// The leader-epoch cache as the replication protocol uses it (KIP-101,
// KIP-279, KIP-320): a leader answers a follower's Fetch with a diverging
// epoch when the follower's last fetched epoch ends earlier on the leader;
// the follower then works out where to truncate from its own cache. The
// pure functions below hold the logic; the Log methods apply them to the
// log's cache under its lock.

// EpochEntry says that leader epoch Epoch began at offset StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// Epochs returns a copy of the leader-epoch cache, oldest first.
func (l *Log) Epochs() []EpochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]EpochEntry, len(l.epochs))
	for i, e := range l.epochs {
		out[i] = EpochEntry{e.epoch, e.start}
	}
	return out
}

// LatestEpochEntry returns the newest entry of the leader-epoch cache; ok is
// false when the cache is empty. A follower sends its epoch as the Fetch's
// LastFetchedEpoch.
func (l *Log) LatestEpochEntry() (e EpochEntry, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.epochs); n > 0 {
		return EpochEntry{l.epochs[n-1].epoch, l.epochs[n-1].start}, true
	}
	return EpochEntry{Epoch: -1, StartOffset: -1}, false
}

// EpochForOffset returns the leader epoch that offset belongs to by the
// cache: the epoch of the last entry starting at or before offset (Kafka's
// epochForOffset). ok is false when offset precedes every entry.
func (l *Log) EpochForOffset(offset int64) (epoch int32, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return epochForOffset(l.epochs, offset)
}

func epochForOffset(es []epochEntry, offset int64) (int32, bool) {
	epoch, ok := int32(-1), false
	for _, e := range es {
		if e.start > offset {
			break
		}
		epoch, ok = e.epoch, true
	}
	return epoch, ok
}

// Divergence is a leader's verdict on a follower's fetch position.
type Divergence struct {
	// Diverged is true when the follower's log differs from the leader's at
	// or before the fetch offset: the follower must truncate (see
	// TruncationOffset) using Epoch and EndOffset, the Fetch response's
	// DivergingEpoch.
	Diverged  bool
	Epoch     int32
	EndOffset int64
	// Unknown is true when the leader cannot place LastFetchedEpoch (it is
	// newer than the leader's latest epoch, or the leader knows no epochs):
	// Kafka answers OFFSET_OUT_OF_RANGE.
	Unknown bool
}

// DivergingEpoch is the leader's check of a follower's Fetch (Kafka's
// validateFetchOffsetAndMaybeGetDivergingEpoch): with the end offset of
// lastFetchedEpoch on this log, the fetch diverges when the leader's epoch
// found is older than lastFetchedEpoch or ends before fetchOffset. A
// lastFetchedEpoch < 0 (not sent) never diverges.
func (l *Log) DivergingEpoch(fetchOffset int64, lastFetchedEpoch int32) Divergence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return divergingEpoch(l.epochs, l.leo.Load(), fetchOffset, lastFetchedEpoch)
}

func divergingEpoch(es []epochEntry, leo, fetchOffset int64, lastFetchedEpoch int32) Divergence {
	if lastFetchedEpoch < 0 {
		return Divergence{Epoch: -1, EndOffset: -1}
	}
	epoch, end := endOffsetFor(es, lastFetchedEpoch, leo)
	if epoch < 0 || end < 0 {
		return Divergence{Epoch: -1, EndOffset: -1, Unknown: true}
	}
	if epoch < lastFetchedEpoch || end < fetchOffset {
		return Divergence{Diverged: true, Epoch: epoch, EndOffset: end}
	}
	return Divergence{Epoch: -1, EndOffset: -1}
}

// TruncationOffset is the follower's answer to a DivergingEpoch (Kafka's
// getOffsetTruncationState): the offset to truncate to and whether that
// finishes truncation. When the follower knows the leader's epoch, it
// truncates to the smaller of the two end offsets of that epoch (complete).
// When it does not, it truncates to the end of its own largest epoch below
// it (not complete: fetch again with the new latest epoch, and the leader
// answers with an older diverging epoch or with data). Without epochs on
// either side it falls back to the leader's end offset, and with an
// undefined end offset to the high watermark. The result never exceeds the
// log end offset.
func (l *Log) TruncationOffset(leaderEpoch int32, leaderEndOffset int64) (offset int64, complete bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return truncationOffset(l.epochs, l.leo.Load(), l.hw.Load(), leaderEpoch, leaderEndOffset)
}

func truncationOffset(es []epochEntry, leo, hw int64, leaderEpoch int32, leaderEnd int64) (int64, bool) {
	if leaderEnd < 0 {
		return min(hw, leo), true
	}
	if leaderEpoch < 0 {
		return min(leaderEnd, leo), true
	}
	epoch, end := endOffsetFor(es, leaderEpoch, leo)
	if epoch < 0 || end < 0 {
		return min(leaderEnd, leo), true
	}
	if epoch != leaderEpoch {
		return min(end, leo), false
	}
	return min(end, leaderEnd, leo), true
}

// truncateEpochs drops the entries starting at or after offset (Kafka's
// truncateFromEnd).
func truncateEpochs(es []epochEntry, offset int64) []epochEntry {
	i := len(es)
	for i > 0 && es[i-1].start >= offset {
		i--
	}
	return es[:i:i]
}

// truncateEpochsLocked applies truncateEpochs to the cache and rewrites
// leader-epoch-checkpoint if anything went (caller holds mu).
func (l *Log) truncateEpochsLocked(offset int64) error {
	next := truncateEpochs(l.epochs, offset)
	if len(next) == len(l.epochs) {
		return nil
	}
	return l.setEpochsLocked(next)
}

// setEpochsLocked replaces the cache and its checkpoint file (atomically).
// The memory copy changes even if the write fails; truncations then close
// the log, so that reopening reloads the file.
func (l *Log) setEpochsLocked(es []epochEntry) error {
	l.epochs = es
	if err := writeFileAtomic(l.fs, filepath.Join(l.dir, leaderEpochFile), formatEpochs(es)); err != nil {
		return storageErr("write leader epoch checkpoint", err)
	}
	return nil
}
