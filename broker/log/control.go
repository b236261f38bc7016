package log

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Control record types: the key of a transaction marker says which.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// ErrNotControl is returned by ControlType for a batch that is not a
// readable transaction marker.
var ErrNotControl = errors.New("not a transaction marker batch")

// EncodeControlBatch builds the transaction marker that ends a producer's
// transaction on one partition: a control, transactional batch with one
// record whose key is (version 0, type) and whose value is (version 0,
// coordinator epoch), as Kafka writes it. The base offset is left 0 for
// Append to assign.
func EncodeControlBatch(producerID int64, epoch int16, marker int16, coordinatorEpoch int32, timestampMs int64) []byte {
	var rec []byte
	rec = append(rec, 0)                                     // attributes
	rec = binary.AppendVarint(rec, 0)                        // timestamp delta
	rec = binary.AppendVarint(rec, 0)                        // offset delta
	rec = binary.AppendVarint(rec, 4)                        // key length
	rec = binary.BigEndian.AppendUint16(rec, 0)              // key version
	rec = binary.BigEndian.AppendUint16(rec, uint16(marker)) // marker type
	rec = binary.AppendVarint(rec, 6)                        // value length
	rec = binary.BigEndian.AppendUint16(rec, 0)              // value version
	rec = binary.BigEndian.AppendUint32(rec, uint32(coordinatorEpoch))
	rec = binary.AppendVarint(rec, 0) // headers

	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(rec)+5)
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-BatchOverhead))
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], 0)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], AttrControl|AttrTransactional)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0)
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(timestampMs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(timestampMs))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(producerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0xFFFFFFFF)
	binary.BigEndian.PutUint32(b[offRecordCount:], 1)
	RecomputeCRC(b)
	return b
}

// ControlType reads the marker type (ControlAbort or ControlCommit) of a
// control batch from its first record's key. b must hold the batch header
// and at least the start of its first record.
func ControlType(b []byte) (int16, error) {
	m, _, err := ControlMarker(b)
	return m, err
}

// ControlMarker reads a transaction marker's type (ControlAbort or
// ControlCommit) and the epoch of the coordinator that wrote it (-1 when
// the value is too short to hold one) from the batch's first record. b must
// hold the batch header and the first record.
func ControlMarker(b []byte) (marker int16, coordinatorEpoch int32, err error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return 0, -1, err
	}
	if !h.IsControl() || h.Compression() != CompressionNone {
		return 0, -1, ErrNotControl
	}
	p := b[BatchHeaderSize:]
	next := func() (int64, bool) {
		v, n := binary.Varint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	if _, ok := next(); !ok { // record length
		return 0, -1, fmt.Errorf("%w: bad record length", ErrNotControl)
	}
	if len(p) < 1 {
		return 0, -1, fmt.Errorf("%w: truncated record", ErrNotControl)
	}
	p = p[1:] // attributes
	if _, ok := next(); !ok {
		return 0, -1, fmt.Errorf("%w: bad timestamp delta", ErrNotControl)
	}
	if _, ok := next(); !ok {
		return 0, -1, fmt.Errorf("%w: bad offset delta", ErrNotControl)
	}
	klen, ok := next()
	if !ok || klen < 4 || len(p) < 4 {
		return 0, -1, fmt.Errorf("%w: bad control key", ErrNotControl)
	}
	marker = int16(binary.BigEndian.Uint16(p[2:]))
	if int64(len(p)) < klen {
		return marker, -1, nil
	}
	p = p[klen:]
	coordinatorEpoch = -1
	if vlen, ok := next(); ok && vlen >= 6 && len(p) >= 6 {
		coordinatorEpoch = int32(binary.BigEndian.Uint32(p[2:]))
	}
	return marker, coordinatorEpoch, nil
}
