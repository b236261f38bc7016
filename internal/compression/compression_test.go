package compression_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/compression"
)

func TestCodec(t *testing.T) {
	cases := []struct {
		name string
		want kgo.CompressionCodec
		err  bool
	}{
		{"", kgo.NoCompression(), false},
		{"none", kgo.NoCompression(), false},
		{"NONE", kgo.NoCompression(), false},
		{"gzip", kgo.GzipCompression(), false},
		{"GZip", kgo.GzipCompression(), false},
		{"snappy", kgo.SnappyCompression(), false},
		{"lz4", kgo.Lz4Compression(), false},
		{"LZ4", kgo.Lz4Compression(), false},
		{"zstd", kgo.ZstdCompression(), false},
		{"brotli", kgo.CompressionCodec{}, true},
		{"zstd ", kgo.CompressionCodec{}, true},
		{" gzip", kgo.CompressionCodec{}, true},
		{"producer", kgo.CompressionCodec{}, true},
	}
	for _, tc := range cases {
		got, err := compression.Codec(tc.name)
		if tc.err {
			if !errors.Is(err, compression.ErrUnknown) {
				t.Errorf("Codec(%q): err = %v, want ErrUnknown", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Codec(%q): %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Codec(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
