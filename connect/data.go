package connect

import (
	"fmt"
	"strings"
	"time"
)

// Struct is a value of a struct schema: one value per field, in field order.
type Struct struct {
	schema *Schema
	values []any
}

// NewStruct returns an empty struct of schema s (which must be a struct
// schema).
func NewStruct(s *Schema) *Struct {
	return &Struct{schema: s, values: make([]any, len(s.Fields))}
}

// StructOf returns a struct of schema s (which must be a struct schema)
// holding values, one per field in the schema's order; it keeps values
// without copying or checking them (Validate checks). It saves the
// per-field lookups of Put for code that builds many structs of one
// schema.
func StructOf(s *Schema, values []any) *Struct {
	return &Struct{schema: s, values: values}
}

// StructsOf is StructOf for many structs at once, in one allocation:
// values holds the field values of len(values)/len(s.Fields) structs one
// after another, and the i-th struct returned keeps the i-th run of them.
func StructsOf(s *Schema, values []any) []Struct {
	nf := len(s.Fields)
	if nf == 0 {
		return nil
	}
	out := make([]Struct, len(values)/nf)
	for i := range out {
		out[i] = Struct{schema: s, values: values[i*nf : (i+1)*nf : (i+1)*nf]}
	}
	return out
}

// Schema returns the struct's schema.
func (st *Struct) Schema() *Schema { return st.schema }

// Put sets a field's value, checking it against the field's schema, and
// returns the struct for chaining errors-last calls.
func (st *Struct) Put(name string, v any) error {
	f, ok := st.schema.Field(name)
	if !ok {
		return fmt.Errorf("%w: no field %q in %s", ErrSchema, name, st.schema)
	}
	if err := Validate(f.Schema, v); err != nil {
		return fmt.Errorf("field %q: %w", name, err)
	}
	st.values[f.Index] = v
	return nil
}

// MustPut is Put that panics on error, for values built in code.
func (st *Struct) MustPut(name string, v any) *Struct {
	if err := st.Put(name, v); err != nil {
		panic(err)
	}
	return st
}

// Get returns a field's value, or the field's default when it is unset.
func (st *Struct) Get(name string) any {
	f, ok := st.schema.Field(name)
	if !ok {
		return nil
	}
	if v := st.values[f.Index]; v != nil {
		return v
	}
	return f.Schema.Default
}

// GetAt returns the value of the i-th field of the struct's schema, or
// the field's default when it is unset: Get without the lookup by name,
// for code that walks the fields in order.
func (st *Struct) GetAt(i int) any {
	if v := st.values[i]; v != nil {
		return v
	}
	return st.schema.Fields[i].Schema.Default
}

// Validate checks that every required field has a value.
func (st *Struct) Validate() error {
	for _, f := range st.schema.Fields {
		if st.values[f.Index] == nil && f.Schema.Default == nil && !f.Schema.Optional {
			return fmt.Errorf("%w: required field %q is missing", ErrSchema, f.Name)
		}
	}
	return nil
}

// String renders the struct as Kafka Connect does: Struct{a=1,b=x}.
func (st *Struct) String() string {
	var b strings.Builder
	b.WriteString("Struct{")
	n := 0
	for _, f := range st.schema.Fields {
		v := st.values[f.Index]
		if v == nil {
			continue
		}
		if n > 0 {
			b.WriteString(",")
		}
		n++
		fmt.Fprintf(&b, "%s=%v", f.Name, v)
	}
	b.WriteString("}")
	return b.String()
}

// Validate checks that v is a valid Go value for schema s (see Schema for
// the mapping). A nil schema accepts anything (schemaless data).
func Validate(s *Schema, v any) error {
	if s == nil {
		return nil
	}
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return fmt.Errorf("%w: null value for required %s", ErrSchema, s)
	}
	switch s.Name {
	case DecimalName:
		if _, ok := v.(Decimal); !ok {
			return mismatch(s, v)
		}
		return nil
	case DateName, TimeName, TimestampName:
		if _, ok := v.(time.Time); !ok {
			return mismatch(s, v)
		}
		return nil
	}
	ok := false
	switch s.Type {
	case TypeInt8:
		_, ok = v.(int8)
	case TypeInt16:
		_, ok = v.(int16)
	case TypeInt32:
		_, ok = v.(int32)
	case TypeInt64:
		_, ok = v.(int64)
	case TypeFloat32:
		_, ok = v.(float32)
	case TypeFloat64:
		_, ok = v.(float64)
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeString:
		_, ok = v.(string)
	case TypeBytes:
		_, ok = v.([]byte)
	case TypeArray:
		arr, isArr := v.([]any)
		if !isArr {
			return mismatch(s, v)
		}
		for i, e := range arr {
			if err := Validate(s.Value, e); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	case TypeMap:
		m, isMap := v.(map[any]any)
		if !isMap {
			return mismatch(s, v)
		}
		for k, e := range m {
			if err := Validate(s.Key, k); err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			if err := Validate(s.Value, e); err != nil {
				return fmt.Errorf("map value for %v: %w", k, err)
			}
		}
		return nil
	case TypeStruct:
		st, isStruct := v.(*Struct)
		if !isStruct {
			return mismatch(s, v)
		}
		if !sameStructSchema(st.schema, s) {
			return fmt.Errorf("%w: struct schema %s does not match %s", ErrSchema, st.schema, s)
		}
		return st.Validate()
	}
	if !ok {
		return mismatch(s, v)
	}
	return nil
}

func mismatch(s *Schema, v any) error {
	return fmt.Errorf("%w: %T is not a valid value for %s", ErrSchema, v, s)
}

// sameStructSchema compares struct schemas by identity, or else by name
// and field layout.
func sameStructSchema(a, b *Schema) bool {
	if a == b {
		return true
	}
	if a.Name != b.Name || len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || a.Fields[i].Schema.Type != b.Fields[i].Schema.Type {
			return false
		}
	}
	return true
}
