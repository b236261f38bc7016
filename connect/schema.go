package connect

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Type is the type of a Schema, named as in Kafka Connect's JSON schemas
// ("int8", "struct", ...).
type Type string

// The schema types of Kafka Connect's data model.
const (
	TypeInt8    Type = "int8"
	TypeInt16   Type = "int16"
	TypeInt32   Type = "int32"
	TypeInt64   Type = "int64"
	TypeFloat32 Type = "float32"
	TypeFloat64 Type = "float64"
	TypeBoolean Type = "boolean"
	TypeString  Type = "string"
	TypeBytes   Type = "bytes"
	TypeArray   Type = "array"
	TypeMap     Type = "map"
	TypeStruct  Type = "struct"
)

// IsPrimitive reports whether t is neither array, map nor struct.
func (t Type) IsPrimitive() bool {
	switch t {
	case TypeArray, TypeMap, TypeStruct:
		return false
	}
	return t.Valid()
}

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool {
	switch t {
	case TypeInt8, TypeInt16, TypeInt32, TypeInt64, TypeFloat32, TypeFloat64, TypeBoolean,
		TypeString, TypeBytes, TypeArray, TypeMap, TypeStruct:
		return true
	}
	return false
}

// Names of the logical types, as Kafka Connect spells them.
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"
	DateName      = "org.apache.kafka.connect.data.Date"
	TimeName      = "org.apache.kafka.connect.data.Time"
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
	// DecimalScaleParam is the schema parameter holding a Decimal's scale.
	DecimalScaleParam = "scale"
)

// ErrSchema is returned (wrapped) when a value does not match its schema or
// a schema is malformed.
var ErrSchema = errors.New("schema mismatch")

// Schema describes a value in Connect's data model. Struct schemas have
// Fields; array schemas have Value (the element schema); map schemas have Key
// and Value. A Name together with a primitive Type marks a logical type.
//
// Go values for each type: int8, int16, int32, int64, float32, float64, bool,
// string, []byte, []any (array), map[any]any (map), *Struct (struct);
// Decimal for the Decimal logical type and time.Time for Date, Time and
// Timestamp. Optional schemas also accept nil.
type Schema struct {
	Type       Type
	Optional   bool
	Default    any
	Name       string
	Version    int
	Doc        string
	Parameters map[string]string
	Fields     []Field // struct
	Key        *Schema // map keys
	Value      *Schema // map values, array elements
}

// Field is one field of a struct schema.
type Field struct {
	Name   string
	Index  int
	Schema *Schema
}

// Predefined primitive schemas, required and optional.
var (
	Int8Schema            = &Schema{Type: TypeInt8}
	Int16Schema           = &Schema{Type: TypeInt16}
	Int32Schema           = &Schema{Type: TypeInt32}
	Int64Schema           = &Schema{Type: TypeInt64}
	Float32Schema         = &Schema{Type: TypeFloat32}
	Float64Schema         = &Schema{Type: TypeFloat64}
	BooleanSchema         = &Schema{Type: TypeBoolean}
	StringSchema          = &Schema{Type: TypeString}
	BytesSchema           = &Schema{Type: TypeBytes}
	OptionalInt8Schema    = &Schema{Type: TypeInt8, Optional: true}
	OptionalInt16Schema   = &Schema{Type: TypeInt16, Optional: true}
	OptionalInt32Schema   = &Schema{Type: TypeInt32, Optional: true}
	OptionalInt64Schema   = &Schema{Type: TypeInt64, Optional: true}
	OptionalFloat32Schema = &Schema{Type: TypeFloat32, Optional: true}
	OptionalFloat64Schema = &Schema{Type: TypeFloat64, Optional: true}
	OptionalBooleanSchema = &Schema{Type: TypeBoolean, Optional: true}
	OptionalStringSchema  = &Schema{Type: TypeString, Optional: true}
	OptionalBytesSchema   = &Schema{Type: TypeBytes, Optional: true}
)

// SchemaBuilder builds a Schema fluently:
//
//	s := connect.NewStructBuilder().Name("user").
//		Field("id", connect.Int64Schema).
//		Field("email", connect.OptionalStringSchema).Build()
type SchemaBuilder struct {
	s   Schema
	err error
}

// NewSchemaBuilder starts a schema of type t.
func NewSchemaBuilder(t Type) *SchemaBuilder { return &SchemaBuilder{s: Schema{Type: t}} }

// NewStructBuilder starts a struct schema.
func NewStructBuilder() *SchemaBuilder { return NewSchemaBuilder(TypeStruct) }

// ArrayOf returns a required array schema of elem.
func ArrayOf(elem *Schema) *SchemaBuilder {
	b := NewSchemaBuilder(TypeArray)
	b.s.Value = elem
	return b
}

// MapOf returns a required map schema from key to value.
func MapOf(key, value *Schema) *SchemaBuilder {
	b := NewSchemaBuilder(TypeMap)
	b.s.Key, b.s.Value = key, value
	return b
}

// Optional marks the schema optional.
func (b *SchemaBuilder) Optional() *SchemaBuilder { b.s.Optional = true; return b }

// Name sets the schema's name.
func (b *SchemaBuilder) Name(n string) *SchemaBuilder { b.s.Name = n; return b }

// Version sets the schema's version.
func (b *SchemaBuilder) Version(v int) *SchemaBuilder { b.s.Version = v; return b }

// Doc sets the schema's documentation.
func (b *SchemaBuilder) Doc(d string) *SchemaBuilder { b.s.Doc = d; return b }

// Default sets the default value; it must match the schema.
func (b *SchemaBuilder) Default(v any) *SchemaBuilder { b.s.Default = v; return b }

// Parameter sets one schema parameter.
func (b *SchemaBuilder) Parameter(k, v string) *SchemaBuilder {
	if b.s.Parameters == nil {
		b.s.Parameters = map[string]string{}
	}
	b.s.Parameters[k] = v
	return b
}

// Field appends a field to a struct schema.
func (b *SchemaBuilder) Field(name string, s *Schema) *SchemaBuilder {
	if b.s.Type != TypeStruct {
		b.err = fmt.Errorf("%w: field %q on a %s schema", ErrSchema, name, b.s.Type)
		return b
	}
	for _, f := range b.s.Fields {
		if f.Name == name {
			b.err = fmt.Errorf("%w: duplicate field %q", ErrSchema, name)
			return b
		}
	}
	b.s.Fields = append(b.s.Fields, Field{Name: name, Index: len(b.s.Fields), Schema: s})
	return b
}

// BuildErr returns the schema, or the first error in its definition
// (including a default value that does not match).
func (b *SchemaBuilder) BuildErr() (*Schema, error) {
	if b.err != nil {
		return nil, b.err
	}
	s := b.s
	if err := s.Check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Build returns the schema and panics on a definition error; use it for
// schemas written in code.
func (b *SchemaBuilder) Build() *Schema {
	s, err := b.BuildErr()
	if err != nil {
		panic(err)
	}
	return s
}

// Check validates the schema's own definition (types, nested schemas and
// default value).
func (s *Schema) Check() error {
	if s == nil {
		return fmt.Errorf("%w: nil schema", ErrSchema)
	}
	if !s.Type.Valid() {
		return fmt.Errorf("%w: unknown type %q", ErrSchema, s.Type)
	}
	switch s.Type {
	case TypeArray:
		if s.Value == nil {
			return fmt.Errorf("%w: array schema without items", ErrSchema)
		}
		if err := s.Value.Check(); err != nil {
			return err
		}
	case TypeMap:
		if s.Key == nil || s.Value == nil {
			return fmt.Errorf("%w: map schema without keys or values", ErrSchema)
		}
		if err := s.Key.Check(); err != nil {
			return err
		}
		if err := s.Value.Check(); err != nil {
			return err
		}
	case TypeStruct:
		seen := map[string]bool{}
		for i, f := range s.Fields {
			if seen[f.Name] {
				return fmt.Errorf("%w: duplicate field %q", ErrSchema, f.Name)
			}
			seen[f.Name] = true
			if f.Index != i {
				return fmt.Errorf("%w: field %q has index %d, want %d", ErrSchema, f.Name, f.Index, i)
			}
			if err := f.Schema.Check(); err != nil {
				return fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
	}
	if s.Name == DecimalName {
		if s.Type != TypeBytes {
			return fmt.Errorf("%w: Decimal must be bytes", ErrSchema)
		}
		if _, err := DecimalScale(s); err != nil {
			return err
		}
	}
	if s.Default != nil {
		if err := Validate(s, s.Default); err != nil {
			return fmt.Errorf("default value: %w", err)
		}
	}
	return nil
}

// Field returns the named field of a struct schema.
func (s *Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// String renders the schema compactly, for errors and logs.
func (s *Schema) String() string {
	if s == nil {
		return "<nil>"
	}
	var b strings.Builder
	if s.Name != "" {
		b.WriteString(s.Name + ":")
	}
	b.WriteString(string(s.Type))
	switch s.Type {
	case TypeArray:
		b.WriteString("<" + s.Value.String() + ">")
	case TypeMap:
		b.WriteString("<" + s.Key.String() + "," + s.Value.String() + ">")
	case TypeStruct:
		b.WriteString("{")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(f.Name + ":" + f.Schema.String())
		}
		b.WriteString("}")
	}
	if s.Optional {
		b.WriteString("?")
	}
	return b.String()
}

// Decimal is the Go value of the Decimal logical type: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// NewDecimal returns unscaled × 10^-scale.
func NewDecimal(unscaled int64, scale int32) Decimal {
	return Decimal{Unscaled: big.NewInt(unscaled), Scale: scale}
}

// String renders the decimal in plain notation ("12.34").
func (d Decimal) String() string {
	if d.Unscaled == nil {
		return "0"
	}
	r := new(big.Rat).SetFrac(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(d.Scale, 0))), nil))
	if d.Scale < 0 {
		r.SetInt(new(big.Int).Mul(d.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-d.Scale)), nil)))
	}
	return r.FloatString(int(max(d.Scale, 0)))
}

// Equal reports whether two decimals have the same unscaled value and scale.
func (d Decimal) Equal(o Decimal) bool {
	if d.Scale != o.Scale || (d.Unscaled == nil) != (o.Unscaled == nil) {
		return false
	}
	return d.Unscaled == nil || d.Unscaled.Cmp(o.Unscaled) == 0
}

// DecimalSchema returns a Decimal schema builder with the given scale.
func DecimalSchema(scale int32) *SchemaBuilder {
	return NewSchemaBuilder(TypeBytes).Name(DecimalName).Version(1).Parameter(DecimalScaleParam, fmt.Sprint(scale))
}

// DateSchema returns a Date schema builder (int32 days since the epoch).
func DateSchema() *SchemaBuilder { return NewSchemaBuilder(TypeInt32).Name(DateName).Version(1) }

// TimeSchema returns a Time schema builder (int32 milliseconds since midnight).
func TimeSchema() *SchemaBuilder { return NewSchemaBuilder(TypeInt32).Name(TimeName).Version(1) }

// TimestampSchema returns a Timestamp schema builder (int64 milliseconds since the epoch).
func TimestampSchema() *SchemaBuilder {
	return NewSchemaBuilder(TypeInt64).Name(TimestampName).Version(1)
}

// DecimalScale returns the scale parameter of a Decimal schema.
func DecimalScale(s *Schema) (int32, error) {
	var scale int32
	p, ok := s.Parameters[DecimalScaleParam]
	if !ok {
		return 0, fmt.Errorf("%w: Decimal schema without a scale parameter", ErrSchema)
	}
	if _, err := fmt.Sscan(p, &scale); err != nil {
		return 0, fmt.Errorf("%w: Decimal scale %q: %w", ErrSchema, p, err)
	}
	return scale, nil
}

const msPerDay = 24 * 60 * 60 * 1000

// DateToDays converts a Date value to days since the epoch; t must be
// midnight UTC.
func DateToDays(t time.Time) (int32, error) {
	ms := t.UnixMilli()
	if ms%msPerDay != 0 {
		return 0, fmt.Errorf("%w: Date %s is not midnight UTC", ErrSchema, t)
	}
	return int32(ms / msPerDay), nil
}

// DaysToDate converts days since the epoch to a Date value.
func DaysToDate(days int32) time.Time { return time.UnixMilli(int64(days) * msPerDay).UTC() }

// TimeToMillis converts a Time value (a time on 1970-01-01 UTC) to
// milliseconds since midnight.
func TimeToMillis(t time.Time) (int32, error) {
	ms := t.UnixMilli()
	if ms < 0 || ms >= msPerDay {
		return 0, fmt.Errorf("%w: Time %s is not on 1970-01-01 UTC", ErrSchema, t)
	}
	return int32(ms), nil
}

// MillisToTime converts milliseconds since midnight to a Time value.
func MillisToTime(ms int32) time.Time { return time.UnixMilli(int64(ms)).UTC() }
