package log

import (
	"encoding/binary"
	"fmt"
)

// CodecByName maps a topic's compression.type to a codec; ok is false for
// "producer" (keep what the producer sent) and unknown names.
func CodecByName(name string) (codec int, ok bool) {
	switch name {
	case "uncompressed":
		return CompressionNone, true
	case "gzip":
		return CompressionGzip, true
	case "snappy":
		return CompressionSnappy, true
	case "lz4":
		return CompressionLZ4, true
	case "zstd":
		return CompressionZstd, true
	}
	return 0, false
}

// Recompress returns the batch with its records compressed with codec, as
// Kafka's validator does for a topic whose compression.type is a codec
// rather than "producer". The header fields stay (producer, sequence,
// timestamps, count); only the attributes' codec bits, the length and the
// CRC change. A batch already in codec, or a control batch, is returned as
// is.
func Recompress(batch []byte, codec int) ([]byte, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() > len(batch) {
		return nil, fmt.Errorf("%w: batch says %d bytes, have %d", ErrBatchLength, h.Size(), len(batch))
	}
	if h.Compression() == codec || h.IsControl() {
		return batch, nil
	}
	recs, err := batchRecords(batch, &h)
	if err != nil {
		return nil, err
	}
	data := recs
	if codec != CompressionNone {
		if data, err = compressRecords(codec, false, recs); err != nil {
			return nil, fmt.Errorf("recompress: %w", err)
		}
	}
	out := make([]byte, BatchHeaderSize, BatchHeaderSize+len(data))
	copy(out, batch[:BatchHeaderSize])
	attrs := (uint16(h.Attributes) &^ AttrCompressionMask) | uint16(codec)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(BatchHeaderSize-BatchOverhead+len(data)))
	out = append(out, data...)
	RecomputeCRC(out)
	return out, nil
}
