package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrNullKey: a record without a key was sent to a compacted topic (the
// broker answers INVALID_RECORD).
var ErrNullKey = errors.New("compacted topic cannot accept a record without a key")

// record is one decoded v2 record, pointing into its batch's record bytes.
//
//	length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
//	keyLength varint | key | valueLength varint | value | headers
type record struct {
	body      []byte // the record after its length varint
	afterTs   int    // index in body just past the timestamp delta
	tsDelta   int64
	offDelta  int64
	key       []byte // nil for a null key
	keyNull   bool
	valueNull bool
	value     []byte
}

// parseRecord decodes the record at the start of b and returns it with the
// number of bytes it takes (length prefix included).
func parseRecord(b []byte) (record, int, error) {
	var r record
	length, n := binary.Varint(b)
	if n <= 0 || length < 1 || int64(len(b)-n) < length {
		return r, 0, fmt.Errorf("%w: record length", ErrCorruptRecords)
	}
	body := b[n : n+int(length)]
	r.body = body
	p := 1 // attributes
	v, m := binary.Varint(body[p:])
	if m <= 0 {
		return r, 0, fmt.Errorf("%w: timestamp delta", ErrCorruptRecords)
	}
	r.tsDelta, p = v, p+m
	r.afterTs = p
	if v, m = binary.Varint(body[p:]); m <= 0 {
		return r, 0, fmt.Errorf("%w: offset delta", ErrCorruptRecords)
	}
	r.offDelta, p = v, p+m
	if v, m = binary.Varint(body[p:]); m <= 0 || v < -1 || v > int64(len(body)-p-m) {
		return r, 0, fmt.Errorf("%w: key length", ErrCorruptRecords)
	}
	p += m
	if v < 0 {
		r.keyNull = true
	} else {
		r.key, p = body[p:p+int(v)], p+int(v)
	}
	if v, m = binary.Varint(body[p:]); m <= 0 || v < -1 || v > int64(len(body)-p-m) {
		return r, 0, fmt.Errorf("%w: value length", ErrCorruptRecords)
	}
	p += m
	if v < 0 {
		r.valueNull = true
	} else {
		r.value = body[p : p+int(v)]
	}
	return r, n + int(length), nil
}

// forEachRecord decodes the uncompressed record bytes of a batch of count
// records, calling fn for each until it returns an error.
func forEachRecord(recs []byte, count int32, fn func(r *record) error) error {
	for i := int32(0); i < count; i++ {
		if len(recs) == 0 {
			return fmt.Errorf("%w: %d of %d records", ErrCorruptRecords, i, count)
		}
		r, n, err := parseRecord(recs)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// CheckKeys decodes the records of one v2 batch (decompressing as needed)
// and returns ErrNullKey if one has no key, as Kafka requires on compacted
// topics. It returns a wrapped ErrCorruptRecords if the records cannot be
// decoded. Uncompressed batches are checked without allocating.
func CheckKeys(batch []byte) error {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() > len(batch) {
		return fmt.Errorf("%w: batch says %d bytes, have %d", ErrBatchLength, h.Size(), len(batch))
	}
	if h.IsControl() {
		return nil
	}
	recs, err := batchRecords(batch, &h)
	if err != nil {
		return err
	}
	return forEachRecord(recs, h.RecordCount, func(r *record) error {
		if r.keyNull {
			return ErrNullKey
		}
		return nil
	})
}

// Control record keys: int16 version, int16 type.
const (
	controlAbort  = 0
	controlCommit = 1
)

// controlType returns the type of a control batch's first record (abort,
// commit, or another type), ok=false if the batch has no readable record.
func controlType(batch []byte, h *BatchHeader) (int16, bool) {
	if h.RecordCount < 1 {
		return 0, false
	}
	recs, err := batchRecords(batch, h)
	if err != nil {
		return 0, false
	}
	r, _, err := parseRecord(recs)
	if err != nil || r.keyNull || len(r.key) < 4 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(r.key[2:])), true
}

// batchBuilder re-encodes a batch with a subset of its records, keeping
// its base offset, last offset delta, producer fields, attributes and codec.
type batchBuilder struct {
	out []byte
}

// encodeBatch writes a batch that keeps orig's header fields, with the
// given records (bodies re-based on baseTs), record count n, base timestamp
// baseTs, max timestamp maxTs and attributes attrs, compressed with orig's
// codec. xerial keeps the Java client's snappy framing.
func (bb *batchBuilder) encodeBatch(orig []byte, recs []byte, n int32, attrs int16, baseTs, maxTs int64, xerial bool) ([]byte, error) {
	codec := int(attrs & AttrCompressionMask)
	data := recs
	if codec != CompressionNone && n > 0 {
		var err error
		if data, err = compressRecords(codec, xerial, recs); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		attrs &^= AttrCompressionMask
		data = nil
	}
	out := append(bb.out[:0], orig[:BatchHeaderSize]...)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(BatchHeaderSize-BatchOverhead+len(data)))
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint64(out[offBaseTimestamp:], uint64(baseTs))
	binary.BigEndian.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(n))
	out = append(out, data...)
	RecomputeCRC(out)
	bb.out = out
	return out, nil
}

// appendRecord appends r to the records being built, with its timestamp
// delta rewritten to tsDelta if that differs.
func appendRecord(dst []byte, r *record, tsDelta int64) []byte {
	if tsDelta == r.tsDelta {
		dst = binary.AppendVarint(dst, int64(len(r.body)))
		return append(dst, r.body...)
	}
	var tmp [binary.MaxVarintLen64]byte
	tn := binary.PutVarint(tmp[:], tsDelta)
	dst = binary.AppendVarint(dst, int64(1+tn+len(r.body)-r.afterTs))
	dst = append(dst, r.body[0])
	dst = append(dst, tmp[:tn]...)
	return append(dst, r.body[r.afterTs:]...)
}

var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		return e
	})
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
)

// compressRecords compresses record bytes with a Kafka codec.
func compressRecords(codec int, xerial bool, recs []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CompressionGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		w.Reset(&buf)
		if _, err := w.Write(recs); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case CompressionSnappy:
		if !xerial {
			return s2.EncodeSnappy(nil, recs), nil
		}
		buf.Write(xerialMagic)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		for rest := recs; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			blk := s2.EncodeSnappy(nil, rest[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(blk))))
			buf.Write(blk)
			rest = rest[n:]
		}
	case CompressionLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		w.Reset(&buf)
		if _, err := w.Write(recs); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
	case CompressionZstd:
		return zstdEncoder().EncodeAll(recs, nil), nil
	default:
		return nil, fmt.Errorf("%w: unknown compression %d", ErrCorruptRecords, codec)
	}
	return buf.Bytes(), nil
}
