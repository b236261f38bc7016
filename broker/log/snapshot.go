package log

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/broker/txn"
)

// Producer state snapshots: <20-digit offset>.snapshot holds the
// idempotence state of all batches below offset.

func parseSnapshotName(name string) (int64, bool) {
	if !strings.HasSuffix(name, ".snapshot") {
		return 0, false
	}
	o, err := strconv.ParseInt(strings.TrimSuffix(name, ".snapshot"), 10, 64)
	return o, err == nil && o >= 0
}

func (l *Log) snapshotPath(o int64) string {
	return filepath.Join(l.dir, segFileName(o, ".snapshot"))
}

// writeSnapshot writes the producer state as of the log end offset (caller
// holds mu) and keeps only the two newest snapshots. Failures only cost
// replay time on the next open, so they are logged.
func (l *Log) writeSnapshot(sync bool) {
	o := l.leo.Load()
	data, err := l.pst.MarshalBinary()
	if err == nil {
		var f File
		f, err = l.fs.OpenFile(l.snapshotPath(o), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.Write(data)
			if err == nil && sync {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		l.logger.Warn("write producer snapshot", "offset", o, "err", err)
		l.fs.Remove(l.snapshotPath(o))
		return
	}
	l.dirDirty = true
	if n := len(l.snapshots); n == 0 || l.snapshots[n-1] != o {
		l.snapshots = append(l.snapshots, o)
	}
	for len(l.snapshots) > 2 {
		l.fs.Remove(l.snapshotPath(l.snapshots[0]))
		l.snapshots = l.snapshots[1:]
	}
}

// loadProducerState restores the idempotence state: the newest readable
// snapshot at or below the log end, then the batch headers after it.
func (l *Log) loadProducerState(snaps []int64) error {
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] < snaps[j] })
	leo := l.leo.Load()
	from := int64(-1)
	for i := len(snaps) - 1; i >= 0; i-- {
		o := snaps[i]
		if from >= 0 || o > leo {
			if o > leo {
				l.fs.Remove(l.snapshotPath(o))
				snaps = snaps[:i]
			}
			continue
		}
		b, err := readFile(l.fs, l.snapshotPath(o))
		if err == nil {
			t := txn.NewProducerStateTable()
			if err = t.UnmarshalBinary(b); err == nil {
				l.pst, from = t, o
				continue
			}
		}
		l.logger.Warn("dropping unreadable producer snapshot", "offset", o, "err", err)
		l.fs.Remove(l.snapshotPath(o))
		snaps = append(snaps[:i], snaps[i+1:]...)
	}
	l.snapshots = snaps
	segs := *l.segs.Load()
	if from < segs[0].base {
		from = segs[0].base
	}
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= from {
			continue
		}
		if err := l.replaySegment(s, from); err != nil {
			return err
		}
	}
	l.pst.TruncateBefore(l.logStart.Load())
	return nil
}

// readControlMarker reads the marker type and coordinator epoch of the
// control batch at pos, or -1s.
func readControlMarker(f File, pos int64, h *BatchHeader) (int16, int32) {
	buf := make([]byte, min(h.Size(), BatchHeaderSize+64))
	if _, err := f.ReadAt(buf, pos); err != nil && err != io.EOF {
		return -1, -1
	}
	m, ce, err := ControlMarker(buf)
	if err != nil {
		return -1, -1
	}
	return m, ce
}

func (l *Log) replaySegment(s *segment, from int64) error {
	f, err := l.cache.acquire(s, l)
	if err != nil {
		return err
	}
	defer l.cache.release(s)
	pos := s.idx.lookup(from - s.base)
	_, err = scanBatches(f, pos, s.size.Load(), 0, false, func(at int64, h *BatchHeader, _ []byte) error {
		if h.BaseOffset >= from && h.ProducerID >= 0 {
			marker, coord := int16(-1), int32(-1)
			if h.IsControl() {
				marker, coord = readControlMarker(f, at, h)
			}
			l.recordProducerBatch(s, txn.Batch{
				ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
				FirstSequence: h.BaseSequence, LastSequence: h.LastSequence(),
				BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp,
				Transactional: h.IsTransactional(), Control: h.IsControl(), CoordinatorEpoch: coord,
			}, marker)
		}
		return nil
	})
	return err
}
