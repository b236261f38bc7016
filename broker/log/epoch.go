package log

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// epochEntry says that leader epoch epoch began at offset start.
type epochEntry struct {
	epoch int32
	start int64
}

// LeaderEpoch returns the latest leader epoch of the log, -1 if none.
func (l *Log) LeaderEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.epochs) == 0 {
		return -1
	}
	return l.epochs[len(l.epochs)-1].epoch
}

// AssignLeaderEpoch records that epoch starts at startOffset, persisting the
// leader-epoch-checkpoint file. Assigning the latest epoch again does
// nothing; an older epoch is ErrStaleLeaderEpoch.
func (l *Log) AssignLeaderEpoch(epoch int32, startOffset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.assignEpochLocked(epoch, startOffset)
}

// StartLeaderEpoch records that epoch starts at the log end offset, read
// under the log's lock, as a new leader does on election: an append racing
// it (a follower's last fetch from the old leader) lands wholly before the
// new epoch's start or after it. Reading the end first and assigning after
// let such a batch, stamped with the old epoch, end up past the start of
// the new one, and the followers of the new leader then truncated and
// fetched it again for ever.
func (l *Log) StartLeaderEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.assignEpochLocked(epoch, l.leo.Load())
}

func (l *Log) assignEpochLocked(epoch int32, start int64) error {
	if l.closed {
		return ErrClosed
	}
	if n := len(l.epochs); n > 0 {
		last := l.epochs[n-1]
		if epoch == last.epoch {
			return nil
		}
		if epoch < last.epoch {
			return fmt.Errorf("%w: %d < %d", ErrStaleLeaderEpoch, epoch, last.epoch)
		}
		if start < last.start {
			start = last.start
		}
	}
	next := append(l.epochs[:len(l.epochs):len(l.epochs)], epochEntry{epoch, start})
	if err := writeFileAtomic(l.fs, filepath.Join(l.dir, leaderEpochFile), formatEpochs(next)); err != nil {
		return storageErr("write leader epoch checkpoint", err)
	}
	l.epochs = next
	return nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka does
// (LeaderEpochFileCache.endOffsetFor, KIP-101/KIP-279): for the latest
// epoch, the log end offset; for an older one, the largest epoch <= the
// requested one together with the start offset of the next higher epoch; for
// an epoch older than every known one, the requested epoch and the start
// offset of the first known epoch; (-1, -1) if the epoch is undefined (< 0),
// newer than the latest, or the log knows no epochs.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return endOffsetFor(l.epochs, epoch, l.leo.Load())
}

// endOffsetFor is EndOffsetForEpoch over an epoch list (oldest first) and a
// log end offset.
func endOffsetFor(es []epochEntry, epoch int32, leo int64) (int32, int64) {
	n := len(es)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if es[n-1].epoch == epoch {
		return epoch, leo
	}
	hi := sort.Search(n, func(i int) bool { return es[i].epoch > epoch })
	if hi == n {
		return -1, -1
	}
	if hi == 0 {
		return epoch, es[0].start
	}
	return es[hi-1].epoch, es[hi].start
}

func formatEpochs(es []epochEntry) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return []byte(b.String())
}

func parseEpochs(b []byte) ([]epochEntry, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("%w: leader epoch header", ErrCorruptCheckpoint)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("%w: leader epoch count", ErrCorruptCheckpoint)
	}
	var out []epochEntry
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: leader epoch line %q", ErrCorruptCheckpoint, line)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		s, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: leader epoch line %q", ErrCorruptCheckpoint, line)
		}
		out = append(out, epochEntry{int32(e), s})
	}
	return out, nil
}

// loadEpochs reads the leader epoch checkpoint, dropping epochs that start
// past the log end (a truncated tail).
func (l *Log) loadEpochs() {
	b, err := readFile(l.fs, filepath.Join(l.dir, leaderEpochFile))
	if err != nil {
		return
	}
	es, err := parseEpochs(b)
	if err != nil {
		l.logger.Warn("ignoring leader epoch checkpoint", "err", err)
		return
	}
	leo := l.leo.Load()
	i := len(es)
	for i > 0 && es[i-1].start > leo {
		i--
	}
	l.epochs = es[:i]
	if i != len(es) {
		if err := writeFileAtomic(l.fs, filepath.Join(l.dir, leaderEpochFile), formatEpochs(l.epochs)); err != nil {
			l.logger.Warn("rewrite leader epoch checkpoint", "err", err)
		}
	}
}
