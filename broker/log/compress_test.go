package log

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func compressForTest(codec int, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CompressionGzip:
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case CompressionSnappy:
		return s2.EncodeSnappy(nil, b), nil
	case 100 + CompressionSnappy: // xerial framing
		buf.Write(xerialMagic)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		blk := s2.EncodeSnappy(nil, b)
		buf.Write([]byte{byte(len(blk) >> 24), byte(len(blk) >> 16), byte(len(blk) >> 8), byte(len(blk))})
		buf.Write(blk)
	case CompressionLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(b)
		w.Close()
	case CompressionZstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(b)
		w.Close()
	default:
		return nil, fmt.Errorf("codec %d", codec)
	}
	return buf.Bytes(), nil
}
