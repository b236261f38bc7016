package transforms

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// schemaOf infers the schema type of a schemaless value (nil for
// structures).
func schemaOf(v any) *connect.Schema {
	switch v.(type) {
	case int8:
		return connect.Int8Schema
	case int16:
		return connect.Int16Schema
	case int32:
		return connect.Int32Schema
	case int64, int:
		return connect.Int64Schema
	case float32:
		return connect.Float32Schema
	case float64:
		return connect.Float64Schema
	case bool:
		return connect.BooleanSchema
	case string:
		return connect.StringSchema
	case []byte:
		return connect.BytesSchema
	}
	return nil
}

// castTo converts a primitive value to type t as Kafka's Cast does:
// numbers convert (truncating towards zero), booleans are 1 or 0, strings
// parse, and anything becomes a string.
func castTo(v any, t connect.Type) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t == connect.TypeString {
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		case time.Time:
			return x.UTC().Format("2006-01-02T15:04:05.000Z"), nil
		case float32:
			return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case connect.Decimal:
			return x.String(), nil
		case *connect.Struct:
			return x.String(), nil
		}
		return fmt.Sprint(v), nil
	}
	var f float64
	var i int64
	isInt := true
	switch x := v.(type) {
	case int8:
		i = int64(x)
	case int16:
		i = int64(x)
	case int32:
		i = int64(x)
	case int64:
		i = x
	case int:
		i = int64(x)
	case float32:
		f, isInt = float64(x), false
	case float64:
		f, isInt = x, false
	case bool:
		if x {
			i = 1
		}
	case connect.Decimal:
		r := new(big.Rat).SetFrac(x.Unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
		f, _ = r.Float64()
		isInt = false
	case time.Time:
		i = x.UnixMilli()
	case string:
		s := strings.TrimSpace(x)
		if t == connect.TypeBoolean {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, fmt.Errorf("%w: Cannot cast %q to boolean", ErrData, x)
			}
			return b, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i = n
		} else if fl, err := strconv.ParseFloat(s, 64); err == nil {
			f, isInt = fl, false
		} else {
			return nil, fmt.Errorf("%w: Cannot cast %q to %s", ErrData, x, t)
		}
	default:
		return nil, fmt.Errorf("%w: Cast transformation does not support casting %T to %s", ErrData, v, t)
	}
	if !isInt {
		if t != connect.TypeFloat32 && t != connect.TypeFloat64 && t != connect.TypeBoolean {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%w: Cannot cast %v to %s", ErrData, f, t)
			}
			i = int64(f)
		}
	} else {
		f = float64(i)
	}
	switch t {
	case connect.TypeInt8:
		return int8(i), nil
	case connect.TypeInt16:
		return int16(i), nil
	case connect.TypeInt32:
		return int32(i), nil
	case connect.TypeInt64:
		return i, nil
	case connect.TypeFloat32:
		return float32(f), nil
	case connect.TypeFloat64:
		return f, nil
	case connect.TypeBoolean:
		if isInt {
			return i != 0, nil
		}
		return f != 0, nil
	}
	return nil, fmt.Errorf("%w: Cast transformation does not support casting to %s", ErrData, t)
}

var castTypes = map[string]connect.Type{"int8": connect.TypeInt8, "int16": connect.TypeInt16, "int32": connect.TypeInt32,
	"int64": connect.TypeInt64, "float32": connect.TypeFloat32, "float64": connect.TypeFloat64, "boolean": connect.TypeBoolean, "string": connect.TypeString}

// Cast casts fields, or the whole key or value, to another primitive type
// (Kafka's Cast$Key and $Value): spec is "field:type,..." or a single type
// for the whole key or value.
type Cast struct {
	part   part
	whole  connect.Type
	fields map[string]connect.Type
}

func parseCastSpec(v string) (connect.Type, map[string]connect.Type, error) {
	list := connect.SplitList(v)
	if len(list) == 0 {
		return "", nil, fmt.Errorf("Must specify at least one field to cast.")
	}
	fields := map[string]connect.Type{}
	for _, e := range list {
		name, typ, ok := strings.Cut(e, ":")
		if !ok {
			t, known := castTypes[strings.ToLower(strings.TrimSpace(e))]
			if !known || len(list) > 1 {
				return "", nil, fmt.Errorf("Invalid cast mapping: %s", e)
			}
			return t, nil, nil
		}
		t, known := castTypes[strings.ToLower(strings.TrimSpace(typ))]
		if !known {
			return "", nil, fmt.Errorf("Invalid type found in casting spec: %s", typ)
		}
		fields[strings.TrimSpace(name)] = t
	}
	return "", fields, nil
}

var castDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "spec", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: func(v string) error {
		_, _, err := parseCastSpec(v)
		return err
	}, Doc: "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value."}).
	Define(connect.ConfigKey{Name: "replace.null.with.default", Type: connect.ConfigBoolean, Default: "true", Importance: connect.Medium, Doc: "Whether to replace fields that have a default value and that are null to the default value."})

// Config implements connect.Transformation.
func (t *Cast) Config() *connect.ConfigDef { return castDef }

// Configure implements connect.Transformation.
func (t *Cast) Configure(props map[string]string) error {
	c, err := parseConfig(castDef, props)
	if err != nil {
		return err
	}
	t.whole, t.fields, err = parseCastSpec(c.String("spec"))
	return err
}

func castSchema(t connect.Type, optionalFlag bool) *connect.Schema {
	return &connect.Schema{Type: t, Optional: optionalFlag}
}

// Apply implements connect.Transformation.
func (t *Cast) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if t.whole != "" {
		nv, err := castTo(v, t.whole)
		if err != nil {
			return nil, err
		}
		var ns *connect.Schema
		if s != nil {
			ns = castSchema(t.whole, s.Optional)
		}
		return t.part.with(r, ns, nv), nil
	}
	if v == nil {
		return r, nil
	}
	if s == nil {
		m, err := requireMap(v, "cast")
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for f, typ := range t.fields {
			if e, ok := m[f]; ok {
				nv, err := castTo(e, typ)
				if err != nil {
					return nil, err
				}
				out[f] = nv
			}
		}
		return t.part.with(r, nil, out), nil
	}
	st, err := requireStruct(v, "cast")
	if err != nil {
		return nil, err
	}
	fields := make([]connect.Field, 0, len(s.Fields))
	vals := map[string]any{}
	for _, f := range s.Fields {
		e := st.Get(f.Name)
		typ, ok := t.fields[f.Name]
		if !ok {
			fields = append(fields, f)
			vals[f.Name] = e
			continue
		}
		if !f.Schema.Type.IsPrimitive() {
			return nil, fmt.Errorf("%w: Cast transformation does not support casting field %s of type %s", ErrData, f.Name, f.Schema.Type)
		}
		nv, err := castTo(e, typ)
		if err != nil {
			return nil, err
		}
		fields = append(fields, connect.Field{Name: f.Name, Schema: castSchema(typ, f.Schema.Optional)})
		vals[f.Name] = nv
	}
	ns := structSchema(s, fields)
	out, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, ns, out), nil
}

// Flatten flattens nested structs (or maps) into top-level fields named
// by their path joined with delimiter (Kafka's Flatten$Key and $Value).
// Fields under an optional struct become optional.
type Flatten struct {
	part      part
	delimiter string
}

var flattenDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "delimiter", Type: connect.ConfigString, Default: ".", Importance: connect.Medium, Doc: "Delimiter to insert between field names from the input record when generating field names for the output record."})

// Config implements connect.Transformation.
func (t *Flatten) Config() *connect.ConfigDef { return flattenDef }

// Configure implements connect.Transformation.
func (t *Flatten) Configure(props map[string]string) error {
	c, err := parseConfig(flattenDef, props)
	if err != nil {
		return err
	}
	t.delimiter = c.String("delimiter")
	if _, ok := props["delimiter"]; !ok {
		t.delimiter = "."
	}
	return nil
}

func (t *Flatten) name(prefix, n string) string {
	if prefix == "" {
		return n
	}
	return prefix + t.delimiter + n
}

func (t *Flatten) flattenMap(prefix string, m map[string]any, out map[string]any) error {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			if err := t.flattenMap(t.name(prefix, k), x, out); err != nil {
				return err
			}
		case map[any]any:
			sm, err := requireMap(x, "flattening")
			if err != nil {
				return err
			}
			if err := t.flattenMap(t.name(prefix, k), sm, out); err != nil {
				return err
			}
		default:
			out[t.name(prefix, k)] = v
		}
	}
	return nil
}

func (t *Flatten) flattenSchema(prefix string, s *connect.Schema, optionalParent bool, fields *[]connect.Field) {
	for _, f := range s.Fields {
		fs := f.Schema
		if fs.Type == connect.TypeStruct {
			t.flattenSchema(t.name(prefix, f.Name), fs, optionalParent || fs.Optional, fields)
			continue
		}
		if optionalParent {
			fs = optional(fs)
		}
		*fields = append(*fields, connect.Field{Name: t.name(prefix, f.Name), Schema: fs})
	}
}

func (t *Flatten) flattenStruct(prefix string, st *connect.Struct, out map[string]any) {
	for _, f := range st.Schema().Fields {
		v := st.Get(f.Name)
		if f.Schema.Type == connect.TypeStruct {
			if nested, ok := v.(*connect.Struct); ok {
				t.flattenStruct(t.name(prefix, f.Name), nested, out)
			}
			continue
		}
		out[t.name(prefix, f.Name)] = v
	}
}

// Apply implements connect.Transformation.
func (t *Flatten) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if s == nil {
		if v == nil {
			return r, nil
		}
		m, err := requireMap(v, "flattening")
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		if err := t.flattenMap("", m, out); err != nil {
			return nil, err
		}
		return t.part.with(r, nil, out), nil
	}
	if s.Type != connect.TypeStruct {
		return nil, fmt.Errorf("%w: Only Struct objects supported for [flattening], found schema %s", ErrData, s)
	}
	var fields []connect.Field
	t.flattenSchema("", s, false, &fields)
	ns := structSchema(s, fields)
	if v == nil {
		return t.part.with(r, ns, nil), nil
	}
	st, err := requireStruct(v, "flattening")
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	t.flattenStruct("", st, vals)
	out, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, ns, out), nil
}
