package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrBadBatch is returned by DecodeBatch for bytes that are not a valid
// magic-v2 record batch.
var ErrBadBatch = errors.New("bad record batch")

// ErrCompressedBatch is returned by DecodeBatch for a compressed batch: the
// coordinator only writes uncompressed ones.
var ErrCompressedBatch = errors.New("compressed record batch")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Offsets of the magic-v2 batch header fields.
const (
	batchLengthAt   = 8
	batchMagicAt    = 16
	batchCRCAt      = 17
	batchAttrsAt    = 21
	batchHeaderSize = 61
)

// EncodeBatch encodes records as one uncompressed magic-v2 record batch
// with base offset 0 (the log assigns the real one), no producer, and every
// record stamped with timestampMs.
func EncodeBatch(recs []Record, timestampMs int64) []byte {
	b := make([]byte, batchHeaderSize, batchHeaderSize+64*len(recs))
	be := binary.BigEndian
	be.PutUint32(b[12:], 0xFFFFFFFF) // partition leader epoch: -1 (the log sets it)
	b[batchMagicAt] = 2
	be.PutUint32(b[23:], uint32(len(recs)-1)) // last offset delta
	be.PutUint64(b[27:], uint64(timestampMs)) // base timestamp
	be.PutUint64(b[35:], uint64(timestampMs)) // max timestamp
	be.PutUint64(b[43:], ^uint64(0))          // producer ID -1
	be.PutUint16(b[51:], 0xFFFF)              // producer epoch -1
	be.PutUint32(b[53:], 0xFFFFFFFF)          // base sequence -1
	be.PutUint32(b[57:], uint32(len(recs)))
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0)              // attributes
		body = binary.AppendVarint(body, 0) // timestamp delta
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, int64(len(r.Key)))
		body = append(body, r.Key...)
		if r.Value == nil {
			body = binary.AppendVarint(body, -1)
		} else {
			body = binary.AppendVarint(body, int64(len(r.Value)))
			body = append(body, r.Value...)
		}
		body = binary.AppendVarint(body, 0) // headers
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	be.PutUint32(b[batchLengthAt:], uint32(len(b)-12))
	be.PutUint32(b[batchCRCAt:], crc32.Checksum(b[batchAttrsAt:], castagnoli))
	return b
}

// EncodeTxnBatch is EncodeBatch for a transactional producer's offset
// commits: the batch carries the producer's ID and epoch and the
// transactional attribute, so its transaction's marker commits or aborts it.
func EncodeTxnBatch(recs []Record, timestampMs, producerID int64, epoch int16) []byte {
	b := EncodeBatch(recs, timestampMs)
	be := binary.BigEndian
	be.PutUint16(b[batchAttrsAt:], be.Uint16(b[batchAttrsAt:])|0x10)
	be.PutUint64(b[43:], uint64(producerID))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[batchCRCAt:], crc32.Checksum(b[batchAttrsAt:], castagnoli))
	return b
}

// DecodeBatch decodes the records of one magic-v2 record batch, checking
// its CRC. Control batches decode to no records. It returns the batch size
// so a caller can walk a run of batches.
func DecodeBatch(b []byte) (recs []Record, size int, err error) {
	if len(b) < batchHeaderSize {
		return nil, 0, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrBadBatch, len(b))
	}
	be := binary.BigEndian
	length := int(int32(be.Uint32(b[batchLengthAt:])))
	size = length + 12
	if length < batchHeaderSize-12 || size > len(b) {
		return nil, 0, fmt.Errorf("%w: length %d with %d bytes left", ErrBadBatch, length, len(b))
	}
	b = b[:size]
	if b[batchMagicAt] != 2 {
		return nil, size, fmt.Errorf("%w: magic %d", ErrBadBatch, b[batchMagicAt])
	}
	if crc32.Checksum(b[batchAttrsAt:], castagnoli) != be.Uint32(b[batchCRCAt:]) {
		return nil, size, fmt.Errorf("%w: CRC mismatch", ErrBadBatch)
	}
	attrs := be.Uint16(b[batchAttrsAt:])
	if attrs&0x20 != 0 { // control batch (transaction markers)
		return nil, size, nil
	}
	if attrs&0x7 != 0 {
		return nil, size, ErrCompressedBatch
	}
	n := int(int32(be.Uint32(b[57:])))
	if n < 0 || n > len(b) {
		return nil, size, fmt.Errorf("%w: record count %d", ErrBadBatch, n)
	}
	pos := batchHeaderSize
	for i := 0; i < n; i++ {
		l, k := binary.Varint(b[pos:])
		if k <= 0 || l < 0 || int64(len(b)-pos-k) < l {
			return nil, size, fmt.Errorf("%w: record %d length", ErrBadBatch, i)
		}
		pos += k
		r, err := decodeRecord(b[pos : pos+int(l)])
		if err != nil {
			return nil, size, fmt.Errorf("%w: record %d: %w", ErrBadBatch, i, err)
		}
		recs = append(recs, r)
		pos += int(l)
	}
	return recs, size, nil
}

func decodeRecord(b []byte) (Record, error) {
	pos := 1 // attributes
	if len(b) < 1 {
		return Record{}, errors.New("empty record")
	}
	for range 2 { // timestamp delta, offset delta
		_, k := binary.Varint(b[pos:])
		if k <= 0 {
			return Record{}, errors.New("bad varint")
		}
		pos += k
	}
	field := func() ([]byte, error) {
		l, k := binary.Varint(b[pos:])
		if k <= 0 || l < -1 || (l >= 0 && int64(len(b)-pos-k) < l) {
			return nil, errors.New("bad length")
		}
		pos += k
		if l < 0 {
			return nil, nil
		}
		v := b[pos : pos+int(l) : pos+int(l)]
		pos += int(l)
		return v, nil
	}
	key, err := field()
	if err != nil {
		return Record{}, err
	}
	value, err := field()
	if err != nil {
		return Record{}, err
	}
	if value != nil && len(value) == 0 {
		value = []byte{}
	}
	return Record{Key: key, Value: value}, nil
}
