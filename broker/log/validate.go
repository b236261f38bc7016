package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// ValidateRecords decodes every record of a v2 batch (decompressing it as
// needed), as Kafka's validator does before accepting a produce: the record
// count must match the header, offset deltas must run 0, 1, 2 ..., and every
// length (record, key, value, header keys and values) must fit, with nothing
// left over. It reports whether any record has a null key (refused on
// compacted topics). Errors wrap ErrCorruptRecords. Control batches are not
// checked.
func ValidateRecords(batch []byte) (nullKey bool, err error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return false, err
	}
	if h.Size() > len(batch) {
		return false, fmt.Errorf("%w: batch says %d bytes, have %d", ErrBatchLength, h.Size(), len(batch))
	}
	if h.IsControl() {
		return false, nil
	}
	recs, release, err := pooledRecords(batch, &h)
	if err != nil {
		return false, err
	}
	defer release()
	for i := int64(0); i < int64(h.RecordCount); i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 1 || length > int64(len(recs)-n) {
			return false, fmt.Errorf("%w: record %d of %d: bad or missing length", ErrCorruptRecords, i, h.RecordCount)
		}
		keyNull, err := checkRecord(recs[n:n+int(length)], i)
		if err != nil {
			return false, fmt.Errorf("record %d: %w", i, err)
		}
		nullKey = nullKey || keyNull
		recs = recs[n+int(length):]
	}
	if len(recs) != 0 {
		return false, fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorruptRecords, len(recs), h.RecordCount)
	}
	return nullKey, nil
}

// validateBufs recycles decompression buffers across produce requests, so
// validating compressed batches does not feed the garbage collector.
var validateBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// pooledRecords is batchRecords with the output in a pooled buffer for the
// codecs that can decode into one (plain snappy, zstd); release returns it.
func pooledRecords(batch []byte, h *BatchHeader) ([]byte, func(), error) {
	data := batch[BatchHeaderSize:h.Size()]
	noop := func() {}
	switch h.Compression() {
	case CompressionNone:
		return data, noop, nil
	case CompressionSnappy:
		if bytes.HasPrefix(data, xerialMagic) {
			break
		}
		n, err := s2.DecodedLen(data)
		if err != nil || n > maxDecompressed {
			return nil, noop, fmt.Errorf("%w: snappy: bad length", ErrCorruptRecords)
		}
		bp := validateBufs.Get().(*[]byte)
		if cap(*bp) < n {
			*bp = make([]byte, 0, n)
		}
		out, err := s2.Decode((*bp)[:n], data)
		if err != nil {
			validateBufs.Put(bp)
			return nil, noop, fmt.Errorf("%w: snappy: %w", ErrCorruptRecords, err)
		}
		return out, func() { validateBufs.Put(bp) }, nil
	case CompressionZstd:
		bp := validateBufs.Get().(*[]byte)
		out, err := zstdDecoder().DecodeAll(data, (*bp)[:0])
		if err != nil {
			validateBufs.Put(bp)
			return nil, noop, fmt.Errorf("%w: zstd: %w", ErrCorruptRecords, err)
		}
		if cap(out) <= 16<<20 {
			*bp = out[:0]
		}
		return out, func() { validateBufs.Put(bp) }, nil
	}
	out, err := batchRecords(batch, h)
	return out, noop, err
}

// recordReader walks the fields of one record body.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: %s", ErrCorruptRecords, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytesField skips a varint-length-prefixed field; -1 means null when
// nullable. It reports whether the field was null. what names the field in
// errors only (no string is built on the good path).
func (r *recordReader) bytesField(what string, nullable bool) bool {
	if r.err != nil {
		return false
	}
	l, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: %s length", ErrCorruptRecords, what)
		return false
	}
	r.b = r.b[n:]
	if l == -1 && nullable {
		return true
	}
	if l < 0 || l > int64(len(r.b)) {
		r.err = fmt.Errorf("%w: %s length %d", ErrCorruptRecords, what, l)
		return false
	}
	r.b = r.b[l:]
	return false
}

// checkRecord checks one record body (after its length) and returns
// whether its key is null.
func checkRecord(body []byte, index int64) (bool, error) {
	if len(body) < 1 {
		return false, fmt.Errorf("%w: empty record", ErrCorruptRecords)
	}
	r := recordReader{b: body[1:]} // attributes
	r.varint("timestamp delta")
	if off := r.varint("offset delta"); r.err == nil && off != index {
		return false, fmt.Errorf("%w: offset delta %d, expected %d", ErrCorruptRecords, off, index)
	}
	keyNull := r.bytesField("key", true)
	r.bytesField("value", true)
	headers := r.varint("header count")
	if r.err == nil && (headers < 0 || headers > int64(len(r.b))) {
		return false, fmt.Errorf("%w: header count %d", ErrCorruptRecords, headers)
	}
	for j := int64(0); j < headers && r.err == nil; j++ {
		r.bytesField("header key", false)
		r.bytesField("header value", true)
	}
	if r.err != nil {
		return false, r.err
	}
	if len(r.b) != 0 {
		return false, fmt.Errorf("%w: %d bytes after the headers", ErrCorruptRecords, len(r.b))
	}
	return keyNull, nil
}
