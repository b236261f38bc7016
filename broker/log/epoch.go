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

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka does: for the
// latest epoch, the log end offset; for an older one, the start offset of
// the next higher epoch together with the largest epoch <= the requested one;
// (-1, -1) if the epoch is unknown or newer than the latest.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.epochs)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if l.epochs[n-1].epoch == epoch {
		return epoch, l.leo.Load()
	}
	hi := sort.Search(n, func(i int) bool { return l.epochs[i].epoch > epoch })
	if hi == n {
		return -1, -1
	}
	if hi == 0 {
		return epoch, l.epochs[0].start
	}
	return l.epochs[hi-1].epoch, l.epochs[hi].start
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
