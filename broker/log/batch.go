package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record batch layout (magic v2), as Kafka puts it on the wire and on disk.
// All integers are big-endian.
const (
	offBaseOffset           = 0  // int64
	offBatchLength          = 8  // int32: bytes after this field
	offPartitionLeaderEpoch = 12 // int32
	offMagic                = 16 // int8
	offCRC                  = 17 // uint32: CRC-32C of bytes [offAttributes:]
	offAttributes           = 21 // int16
	offLastOffsetDelta      = 23 // int32
	offBaseTimestamp        = 27 // int64
	offMaxTimestamp         = 35 // int64
	offProducerID           = 43 // int64
	offProducerEpoch        = 51 // int16
	offBaseSequence         = 53 // int32
	offRecordCount          = 57 // int32

	// BatchHeaderSize is the size of a v2 record batch header.
	BatchHeaderSize = 61
	// BatchOverhead is the number of bytes before the batch length counts:
	// base offset (8) and the length field itself (4).
	BatchOverhead = 12
)

// Attribute bits of a v2 record batch.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
	AttrDeleteHorizon   = 0x40
)

// Compression codecs as stored in the low attribute bits.
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

// Errors returned when a record batch cannot be parsed.
var (
	ErrBatchTooShort   = errors.New("record batch shorter than its header")
	ErrBatchLength     = errors.New("record batch length field does not match its bytes")
	ErrBatchMagic      = errors.New("record batch magic is not 2")
	ErrBatchCRC        = errors.New("record batch CRC mismatch")
	ErrBatchRecordSpan = errors.New("record batch record count does not match its offset span")
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed-size header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the total size of the batch in bytes, header included.
func (h *BatchHeader) Size() int { return int(h.Length) + BatchOverhead }

// LastOffset is the offset of the last record in the batch.
func (h *BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset that follows the batch.
func (h *BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec the batch's records are compressed with.
func (h *BatchHeader) Compression() int { return int(h.Attributes & AttrCompressionMask) }

// IsControl reports whether this is a control batch (transaction marker).
func (h *BatchHeader) IsControl() bool { return h.Attributes&AttrControl != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *BatchHeader) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// LastSequence is the sequence number of the last record, wrapping as Kafka does.
func (h *BatchHeader) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// ParseBatchHeader decodes the header at the start of b. It checks that b
// holds at least the header and that the magic byte is 2; it neither checks
// the CRC nor that b holds the whole batch (see ValidateBatch).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) < BatchHeaderSize {
		return h, ErrBatchTooShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offPartitionLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrBatchMagic, h.Magic)
	}
	if h.Length < BatchHeaderSize-BatchOverhead {
		return h, fmt.Errorf("%w: length %d", ErrBatchTooShort, h.Length)
	}
	return h, nil
}

// ValidateBatch parses the batch at the start of b and checks that b holds
// at least the whole batch, that its CRC matches, and that the
// record count is consistent with the offset span. It returns the header.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() > len(b) {
		return h, fmt.Errorf("%w: batch says %d bytes, have %d", ErrBatchLength, h.Size(), len(b))
	}
	if got := crc32.Checksum(b[offAttributes:h.Size()], crc32c); got != h.CRC {
		return h, fmt.Errorf("%w: stored %08x, computed %08x", ErrBatchCRC, h.CRC, got)
	}
	if h.LastOffsetDelta < 0 || (h.RecordCount > 0 && h.LastOffsetDelta < h.RecordCount-1) {
		return h, fmt.Errorf("%w: %d records, last offset delta %d", ErrBatchRecordSpan, h.RecordCount, h.LastOffsetDelta)
	}
	return h, nil
}

// SetBaseOffset writes the base offset into the batch header in place.
// The base offset is outside the CRC, so the CRC stays valid.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the partition leader epoch in place.
// The epoch is outside the CRC, so the CRC stays valid.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as using LogAppendTime, sets its max
// timestamp to ts and recomputes the CRC, as Kafka's validator does for
// topics with message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	RecomputeCRC(b)
}

// RecomputeCRC recomputes and stores the CRC of the batch at the start of b.
func RecomputeCRC(b []byte) {
	length := int(binary.BigEndian.Uint32(b[offBatchLength:])) + BatchOverhead
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:length], crc32c))
}
