package converters

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/connect"
)

// String is Kafka Connect's StringConverter: values are written with
// fmt's %v (strings as they are) in UTF-8 and read back as optional
// strings. The zero value works; NewString's copies the strings it reads
// into shared chunks rather than one allocation each.
type String struct {
	arena *stringArena
}

// NewString returns a StringConverter that reads strings into shared
// chunks (see String).
func NewString() String { return String{arena: &stringArena{}} }

// Configure implements connect.Converter; only UTF-8 is supported.
func (String) Configure(props map[string]string, _ bool) error {
	for _, k := range []string{"converter.encoding", "encoding"} {
		if e, ok := props[k]; ok && !strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(e), "-", ""), "utf8") {
			return fmt.Errorf("%w: %s=%q: only UTF-8 is supported", connect.ErrInvalidConfig, k, e)
		}
	}
	return nil
}

// FromConnectData implements connect.Converter.
func (String) FromConnectData(_ string, _ *connect.Schema, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	// Integers and booleans without fmt; the text is fmt.Sprint's.
	case int8:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	}
	return []byte(fmt.Sprint(v)), nil
}

// AppendFromConnectData implements connect.AppendingConverter.
func (String) AppendFromConnectData(dst []byte, _ string, _ *connect.Schema, v any) ([]byte, bool, error) {
	switch x := v.(type) {
	case nil:
		return dst, true, nil
	case string:
		return append(dst, x...), false, nil
	case []byte:
		if x == nil {
			return dst, true, nil
		}
		return append(dst, x...), false, nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), false, nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), false, nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), false, nil
	case int64:
		return strconv.AppendInt(dst, x, 10), false, nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), false, nil
	case bool:
		return strconv.AppendBool(dst, x), false, nil
	}
	return fmt.Append(dst, v), false, nil
}

// ToConnectData implements connect.Converter.
func (c String) ToConnectData(_ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return connect.OptionalStringSchema, nil, nil
	}
	if c.arena == nil {
		return connect.OptionalStringSchema, string(data), nil
	}
	return connect.OptionalStringSchema, c.arena.clone(data), nil
}

// ByteArray is Kafka Connect's ByteArrayConverter: bytes pass through.
type ByteArray struct{}

// Configure implements connect.Converter.
func (ByteArray) Configure(map[string]string, bool) error { return nil }

// FromConnectData implements connect.Converter.
func (ByteArray) FromConnectData(_ string, s *connect.Schema, v any) ([]byte, error) {
	if s != nil && s.Type != connect.TypeBytes {
		return nil, fmt.Errorf("%w: invalid schema type for ByteArrayConverter: %s", ErrConversion, s.Type)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("%w: ByteArrayConverter is not compatible with objects of type %T", ErrConversion, v)
}

// ToConnectData implements connect.Converter.
func (ByteArray) ToConnectData(_ string, data []byte) (*connect.Schema, any, error) {
	return connect.OptionalBytesSchema, data, nil
}

// Number is one of Kafka Connect's number converters (ShortConverter,
// IntegerConverter, LongConverter, FloatConverter, DoubleConverter): the
// value is big-endian as Kafka's serializers write it.
type Number struct {
	typ connect.Type
}

// NewNumber returns the number converter for an int16, int32, int64,
// float32 or float64 schema type.
func NewNumber(t connect.Type) *Number { return &Number{typ: t} }

// Configure implements connect.Converter.
func (*Number) Configure(map[string]string, bool) error { return nil }

func (n *Number) size() int {
	switch n.typ {
	case connect.TypeInt16:
		return 2
	case connect.TypeInt32, connect.TypeFloat32:
		return 4
	}
	return 8
}

// FromConnectData implements connect.Converter.
func (n *Number) FromConnectData(_ string, s *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b := make([]byte, n.size())
	switch n.typ {
	case connect.TypeFloat32:
		f, ok := v.(float32)
		if !ok {
			return nil, fmt.Errorf("%w: FloatConverter cannot convert %T", ErrConversion, v)
		}
		binary.BigEndian.PutUint32(b, math.Float32bits(f))
	case connect.TypeFloat64:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("%w: DoubleConverter cannot convert %T", ErrConversion, v)
		}
		binary.BigEndian.PutUint64(b, math.Float64bits(f))
	default:
		i, ok := intValue("", v)
		lim := int64(1) << (8*n.size() - 1)
		if !ok || (n.size() < 8 && (i < -lim || i >= lim)) {
			return nil, fmt.Errorf("%w: %T %v does not fit a %s", ErrConversion, v, v, n.typ)
		}
		switch n.typ {
		case connect.TypeInt16:
			binary.BigEndian.PutUint16(b, uint16(i))
		case connect.TypeInt32:
			binary.BigEndian.PutUint32(b, uint32(i))
		default:
			binary.BigEndian.PutUint64(b, uint64(i))
		}
	}
	return b, nil
}

// ToConnectData implements connect.Converter.
func (n *Number) ToConnectData(_ string, data []byte) (*connect.Schema, any, error) {
	s := &connect.Schema{Type: n.typ, Optional: true}
	if data == nil {
		return s, nil, nil
	}
	if len(data) != n.size() {
		return nil, nil, fmt.Errorf("%w: size of data received by the %s converter is %d, not %d", ErrConversion, n.typ, len(data), n.size())
	}
	switch n.typ {
	case connect.TypeInt16:
		return s, int16(binary.BigEndian.Uint16(data)), nil
	case connect.TypeInt32:
		return s, int32(binary.BigEndian.Uint32(data)), nil
	case connect.TypeInt64:
		return s, int64(binary.BigEndian.Uint64(data)), nil
	case connect.TypeFloat32:
		return s, math.Float32frombits(binary.BigEndian.Uint32(data)), nil
	}
	return s, math.Float64frombits(binary.BigEndian.Uint64(data)), nil
}

// Class names of the converters, as Kafka Connect names them.
const (
	JSONClass      = "org.apache.kafka.connect.json.JsonConverter"
	StringClass    = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
	ShortClass     = "org.apache.kafka.connect.converters.ShortConverter"
	IntegerClass   = "org.apache.kafka.connect.converters.IntegerConverter"
	LongClass      = "org.apache.kafka.connect.converters.LongConverter"
	FloatClass     = "org.apache.kafka.connect.converters.FloatConverter"
	DoubleClass    = "org.apache.kafka.connect.converters.DoubleConverter"
)

// Register adds every converter of this package to reg.
func Register(reg *connect.Registry) error {
	for _, c := range []struct {
		class string
		f     func() connect.Converter
	}{
		{JSONClass, func() connect.Converter { return NewJSON() }},
		{StringClass, func() connect.Converter { return NewString() }},
		{ByteArrayClass, func() connect.Converter { return ByteArray{} }},
		{ShortClass, func() connect.Converter { return NewNumber(connect.TypeInt16) }},
		{IntegerClass, func() connect.Converter { return NewNumber(connect.TypeInt32) }},
		{LongClass, func() connect.Converter { return NewNumber(connect.TypeInt64) }},
		{FloatClass, func() connect.Converter { return NewNumber(connect.TypeFloat32) }},
		{DoubleClass, func() connect.Converter { return NewNumber(connect.TypeFloat64) }},
	} {
		if err := reg.AddConverter(c.class, c.f); err != nil {
			return fmt.Errorf("converters: %w", err)
		}
	}
	return nil
}

func init() {
	if err := Register(connect.DefaultRegistry); err != nil {
		panic(err)
	}
}
