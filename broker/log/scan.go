package log

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Why a scan stopped before the end of a segment.
var (
	errTornBatch     = errors.New("torn batch at segment end")
	errOffsetsOrder  = errors.New("batch offsets not increasing")
	errOffsetOverrun = errors.New("batch offset too far from segment base")
)

// batchScanner reads a segment's batches in order through one buffer.
type batchScanner struct {
	f        File
	size     int64
	full     bool // read whole batches (for CRC checks), not only headers
	buf      []byte
	bufStart int64
}

func (sc *batchScanner) ensure(pos int64, n int) ([]byte, error) {
	if pos >= sc.bufStart && pos+int64(n) <= sc.bufStart+int64(len(sc.buf)) {
		off := pos - sc.bufStart
		return sc.buf[off : off+int64(n)], nil
	}
	want := n
	chunk := 4096
	if sc.full {
		chunk = 1 << 20
	}
	want = max(want, chunk)
	if rest := sc.size - pos; int64(want) > rest {
		want = int(rest)
	}
	if want < n {
		return nil, io.ErrUnexpectedEOF
	}
	if cap(sc.buf) < want {
		sc.buf = make([]byte, want)
	}
	sc.buf = sc.buf[:want]
	m, err := sc.f.ReadAt(sc.buf, pos)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		sc.buf = sc.buf[:0]
		return nil, err
	}
	sc.buf, sc.bufStart = sc.buf[:m], pos
	return sc.buf[:n], nil
}

// scanBatches calls fn for each batch of f from position from up to size,
// with the batch bytes if full (else only its header bytes). It stops at the
// first batch that is torn, malformed, fails its CRC (full), whose base
// offset is below expectNext or that fn rejects, and returns the position after the last good
// batch with the reason it stopped early (nil if it reached size). An I/O
// error is returned as such, wrapped in ErrStorage.
func scanBatches(f File, from, size, expectNext int64, full bool, fn func(pos int64, h *BatchHeader, b []byte) error) (int64, error) {
	sc := batchScanner{f: f, size: size, full: full}
	pos := from
	for pos < size {
		if size-pos < BatchHeaderSize {
			return pos, errTornBatch
		}
		hb, err := sc.ensure(pos, BatchHeaderSize)
		if err != nil {
			return pos, storageErr("read segment", err)
		}
		h, err := ParseBatchHeader(hb)
		if err != nil {
			return pos, err
		}
		total := int64(h.Size())
		if pos+total > size {
			return pos, errTornBatch
		}
		b := hb
		if full {
			if b, err = sc.ensure(pos, int(total)); err != nil {
				return pos, storageErr("read segment", err)
			}
			if h, err = ValidateBatch(b); err != nil {
				return pos, err
			}
		} else if h.LastOffsetDelta < 0 {
			return pos, ErrBatchRecordSpan
		}
		if h.BaseOffset < expectNext {
			return pos, fmt.Errorf("%w: base %d, expected >= %d", errOffsetsOrder, h.BaseOffset, expectNext)
		}
		if err := fn(pos, &h, b); err != nil {
			return pos, err
		}
		expectNext = h.NextOffset()
		pos += total
	}
	return pos, nil
}

// scanInto scans s's file from position from, noting each good batch in s
// (index entries, next offset, max timestamp). It returns the end of the
// good batches and why the scan stopped early.
func scanInto(s *segment, f File, from, size int64, interval int32, full bool) (int64, error) {
	return scanBatches(f, from, size, max(s.next, s.base), full, func(pos int64, h *BatchHeader, _ []byte) error {
		if h.LastOffset()-s.base > math.MaxInt32 {
			return errOffsetOverrun
		}
		s.noteBatch(pos, h.Size(), h, interval)
		return nil
	})
}

// buildIndex rebuilds a segment's index entries from its batch headers.
func buildIndex(f File, dir string, base, size int64, interval int32) ([]offEntry, []timeEntry) {
	tmp := newSegment(dir, base)
	scanInto(tmp, f, 0, size, interval, false)
	tmp.finishIndex()
	return tmp.idx.off, tmp.idx.tim
}

// finishIndex adds the final time index entry for the segment's max
// timestamp, as Kafka does when a segment stops being active.
func (s *segment) finishIndex() {
	if s.maxTs >= 0 {
		s.idx.addTime(s.maxTs, int32(s.maxTsOff-s.base))
	}
}
