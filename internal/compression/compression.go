package compression

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrUnknown is the error for a name that is not one of Kafka's
// compression types.
var ErrUnknown = errors.New("unknown compression")

// Names lists the names Codec accepts, as a usage message spells them.
const Names = "none, gzip, snappy, lz4 or zstd"

// Codec returns the codec of a Kafka compression type: none (or the
// empty string), gzip, snappy, lz4 or zstd, in any case. White space is
// the caller's to trim: a name with it is unknown.
func Codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("%w %q: want %s", ErrUnknown, name, Names)
}
