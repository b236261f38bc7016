package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrCorruptRecords: a batch's records cannot be decoded.
var ErrCorruptRecords = errors.New("corrupt records in batch")

// maxDecompressed bounds the decompressed size of one batch's records.
const maxDecompressed = 256 << 20

var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
	return d
})

// lz4Readers keeps readers (and their block buffers) for reuse.
var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

// xerialMagic starts snappy data framed by xerial's snappy-java, which the
// Java producer uses.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// batchRecords returns the uncompressed record bytes of a v2 batch.
func batchRecords(batch []byte, h *BatchHeader) ([]byte, error) {
	data := batch[BatchHeaderSize:h.Size()]
	switch h.Compression() {
	case CompressionNone:
		return data, nil
	case CompressionGzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrCorruptRecords, err)
		}
		return readLimited(r, "gzip")
	case CompressionSnappy:
		return snappyDecode(data)
	case CompressionLZ4:
		r := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(r)
		r.Reset(bytes.NewReader(data))
		return readLimited(r, "lz4")
	case CompressionZstd:
		out, err := zstdDecoder().DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorruptRecords, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrCorruptRecords, h.Compression())
}

func readLimited(r io.Reader, codec string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptRecords, codec, err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("%w: %s: too large", ErrCorruptRecords, codec)
	}
	return out, nil
}

// snappyDecode decodes a plain snappy block or xerial-framed snappy
// (magic, two int32 versions, then int32-length-prefixed blocks).
func snappyDecode(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, xerialMagic) {
		if n, err := s2.DecodedLen(data); err != nil || n > maxDecompressed {
			return nil, fmt.Errorf("%w: snappy: bad length", ErrCorruptRecords)
		}
		out, err := s2.Decode(nil, data)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %w", ErrCorruptRecords, err)
		}
		return out, nil
	}
	if len(data) < 16 {
		return nil, fmt.Errorf("%w: snappy: short xerial header", ErrCorruptRecords)
	}
	var out []byte
	for rest := data[16:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: snappy: torn xerial block", ErrCorruptRecords)
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n < 0 || n > len(rest)-4 {
			return nil, fmt.Errorf("%w: snappy: xerial block length %d", ErrCorruptRecords, n)
		}
		blk := rest[4 : 4+n]
		dn, err := s2.DecodedLen(blk)
		if err != nil || len(out)+dn > maxDecompressed {
			return nil, fmt.Errorf("%w: snappy: bad block", ErrCorruptRecords)
		}
		d, err := s2.Decode(nil, blk)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %w", ErrCorruptRecords, err)
		}
		out = append(out, d...)
		rest = rest[4+n:]
	}
	return out, nil
}

// recordTimes calls fn with the offset delta and timestamp of each record of
// the batch, in order, until fn returns false.
func recordTimes(batch []byte, h *BatchHeader, fn func(offsetDelta int32, ts int64) bool) error {
	if h.Attributes&AttrLogAppendTime != 0 {
		fn(0, h.MaxTimestamp)
		return nil
	}
	recs, err := batchRecords(batch, h)
	if err != nil {
		return err
	}
	for i := int32(0); i < h.RecordCount && len(recs) > 0; i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 0 || int64(len(recs)-n) < length {
			return fmt.Errorf("%w: record %d length", ErrCorruptRecords, i)
		}
		rec := recs[n : n+int(length)]
		recs = recs[n+int(length):]
		if len(rec) < 1 {
			return fmt.Errorf("%w: record %d empty", ErrCorruptRecords, i)
		}
		tsDelta, n1 := binary.Varint(rec[1:])
		if n1 <= 0 {
			return fmt.Errorf("%w: record %d timestamp", ErrCorruptRecords, i)
		}
		offDelta, n2 := binary.Varint(rec[1+n1:])
		if n2 <= 0 {
			return fmt.Errorf("%w: record %d offset delta", ErrCorruptRecords, i)
		}
		if !fn(int32(offDelta), h.BaseTimestamp+tsDelta) {
			return nil
		}
	}
	return nil
}

// OffsetForTimestamp finds the first record whose timestamp is >= ts
// (ListOffsets by time): the time index narrows the search to a segment and
// position, then the records are decoded (decompressing as needed). For
// LogAppendTime batches every record has the batch's max timestamp.
// found=false if there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	for attempt := 0; ; attempt++ {
		offset, timestamp, found, err = l.offsetForTimestamp(ts)
		if !errors.Is(err, errSegmentGone) || attempt >= maxSegmentGoneRetries || l.isClosed.Load() {
			return offset, timestamp, found, err
		}
		l.mu.Lock()
		//lint:ignore SA2001 taking mu waits for a cleaner swap under way to finish
		l.mu.Unlock()
	}
}

func (l *Log) offsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	l.mu.Lock()
	segs := *l.segs.Load()
	type cand struct {
		s     *segment
		maxTs int64
	}
	cands := make([]cand, len(segs))
	for i, s := range segs {
		cands[i] = cand{s, s.maxTs}
	}
	start := l.logStart.Load()
	l.mu.Unlock()
	// Segment max timestamps need not grow from one segment to the next
	// (CreateTime is the producer's, and a truncated or rolled log may end
	// with an empty segment), so look at each in order, as Kafka does.
	for i := 0; i < len(cands); i++ {
		if cands[i].maxTs < ts {
			continue
		}
		off, t, ok, err := l.searchSegment(cands[i].s, ts, start)
		if err != nil || ok {
			return off, t, ok, err
		}
	}
	return -1, -1, false, nil
}

func (l *Log) searchSegment(s *segment, ts, start int64) (int64, int64, bool, error) {
	f, err := l.cache.acquire(s, l)
	if err != nil {
		return 0, 0, false, err
	}
	defer l.cache.release(s)
	from := max(start, s.base)
	if rel, ok := s.idx.lookupTime(ts); ok {
		from = max(from, s.base+int64(rel))
	}
	pos := s.idx.lookup(from - s.base)
	var off, got int64
	found := false
	_, err = scanBatches(f, pos, s.size.Load(), 0, true, func(_ int64, h *BatchHeader, b []byte) error {
		if h.LastOffset() < from || h.MaxTimestamp < ts {
			return nil
		}
		rerr := recordTimes(b, h, func(d int32, t int64) bool {
			o := h.BaseOffset + int64(d)
			if o >= from && t >= ts {
				off, got, found = o, t, true
				return false
			}
			return true
		})
		if rerr != nil {
			return rerr
		}
		if found {
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		// A truncation may have cut the file under this scan: then the
		// lookup starts over on the current segment list.
		return 0, 0, false, goneOr(s, err)
	}
	return off, got, found, nil
}

var errStopScan = errors.New("stop scan")

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the earliest such on ties), for ListOffsets
// MAX_TIMESTAMP; (-1, -1) if the log is empty. Segments track their largest
// batch timestamp, so only one batch is decoded.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	l.mu.Lock()
	var best *segment
	var bestTs, bestOff int64 = -1, -1
	for _, s := range *l.segs.Load() {
		if s.maxTs > bestTs && s.maxTsOff >= l.logStart.Load() {
			best, bestTs, bestOff = s, s.maxTs, s.maxTsOff
		}
	}
	l.mu.Unlock()
	if best == nil {
		return -1, -1
	}
	f, err := l.cache.acquire(best, l)
	if err != nil {
		return bestOff, bestTs
	}
	defer l.cache.release(best)
	pos, size, err := l.locate(best, f, bestOff)
	if err != nil || pos < 0 {
		return bestOff, bestTs
	}
	b := make([]byte, size)
	if _, err := readFull(f, b, pos); err != nil {
		return bestOff, bestTs
	}
	h, err := ValidateBatch(b)
	if err != nil {
		return bestOff, bestTs
	}
	off := h.BaseOffset
	recordTimes(b, &h, func(d int32, t int64) bool {
		if t == h.MaxTimestamp {
			off = h.BaseOffset + int64(d)
			return false
		}
		return true
	})
	return off, bestTs
}
