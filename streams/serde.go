package streams

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Serde turns values of T into record bytes and back, as Kafka's Serde does. The
// streams runtime calls it only for non-null data: a nil key or value on the wire is
// handed to operations as T's zero value (values then as tombstones).
type Serde[T any] interface {
	Serialize(v T) ([]byte, error)
	Deserialize(b []byte) (T, error)
}

// SerdeFuncs adapts a pair of functions to Serde.
type SerdeFuncs[T any] struct {
	Ser func(T) ([]byte, error)
	De  func([]byte) (T, error)
}

// Serialize calls Ser.
func (s SerdeFuncs[T]) Serialize(v T) ([]byte, error) { return s.Ser(v) }

// Deserialize calls De.
func (s SerdeFuncs[T]) Deserialize(b []byte) (T, error) { return s.De(b) }

type stringSerde struct{}

func (stringSerde) Serialize(v string) ([]byte, error) { return []byte(v), nil }
func (stringSerde) serializeView(v string) []byte {
	if v == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(v), len(v))
}
func (stringSerde) Deserialize(b []byte) (string, error) { return string(b), nil }

// viewSerializer is implemented by serdes that can serialize without copying, into
// bytes nobody may modify: String's are the string's own bytes. Sinks and stores, which
// only read what they are given (or copy it), use it through serialize.
type viewSerializer[T any] interface {
	serializeView(v T) []byte
}

// serialize serializes v with s, without copying when s allows it. The result must not
// be modified.
func serialize[T any](s Serde[T], v T) ([]byte, error) {
	if vs, ok := s.(viewSerializer[T]); ok {
		return vs.serializeView(v), nil
	}
	return s.Serialize(v)
}

// String is the UTF-8 string serde (Kafka's StringSerde).
func String() Serde[string] { return stringSerde{} }

type bytesSerde struct{}

func (bytesSerde) Serialize(v []byte) ([]byte, error)   { return v, nil }
func (bytesSerde) Deserialize(b []byte) ([]byte, error) { return b, nil }

// Bytes passes byte slices through unchanged (Kafka's ByteArraySerde).
func Bytes() Serde[[]byte] { return bytesSerde{} }

type int64Serde struct{}

func (int64Serde) Serialize(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}
func (int64Serde) Deserialize(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 needs 8 bytes, got %d", ErrSerde, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Int64 encodes int64 as 8 bytes big-endian, as Kafka's LongSerializer does.
func Int64() Serde[int64] { return int64Serde{} }

type int32Serde struct{}

func (int32Serde) Serialize(v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}
func (int32Serde) Deserialize(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: int32 needs 4 bytes, got %d", ErrSerde, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// Int32 encodes int32 as 4 bytes big-endian, as Kafka's IntegerSerializer does.
func Int32() Serde[int32] { return int32Serde{} }

type float64Serde struct{}

func (float64Serde) Serialize(v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v)), nil
}
func (float64Serde) Deserialize(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: float64 needs 8 bytes, got %d", ErrSerde, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// Float64 encodes float64 as its IEEE 754 bits, 8 bytes big-endian, as Kafka's
// DoubleSerializer does.
func Float64() Serde[float64] { return float64Serde{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSerde, err)
	}
	return b, nil
}
func (jsonSerde[T]) Deserialize(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrSerde, err)
	}
	return v, nil
}

// JSON encodes any T with encoding/json.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type decimalStringSerde struct{}

func (decimalStringSerde) Serialize(v int64) ([]byte, error) {
	return strconv.AppendInt(nil, v, 10), nil
}
func (decimalStringSerde) Deserialize(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSerde, err)
	}
	return v, nil
}

// Int64String encodes int64 as decimal text, for topics read by people or tools.
func Int64String() Serde[int64] { return decimalStringSerde{} }

// defaultSerde returns the serde used when none is given: String, Bytes, Int64, Int32
// and Float64 for those types, nil otherwise.
func defaultSerde[T any]() Serde[T] {
	var z T
	var s any
	switch any(z).(type) {
	case string:
		s = String()
	case []byte:
		s = Bytes()
	case int64:
		s = Int64()
	case int32:
		s = Int32()
	case float64:
		s = Float64()
	default:
		return nil
	}
	return s.(Serde[T])
}

// orDefault returns s, or the default serde of T when s is nil.
func orDefault[T any](s Serde[T]) Serde[T] {
	if s != nil {
		return s
	}
	return defaultSerde[T]()
}
