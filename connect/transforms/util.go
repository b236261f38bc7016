package transforms

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// ErrData is returned (wrapped) when a record does not have the shape a
// transformation needs (Kafka's DataException).
var ErrData = errors.New("data error")

const (
	kafkaPkg     = "org.apache.kafka.connect.transforms."
	predicatePkg = "org.apache.kafka.connect.transforms.predicates."
)

// part selects the record key or value.
type part bool

const (
	keyPart   part = true
	valuePart part = false
)

func (p part) get(r *connect.Record) (*connect.Schema, any) {
	if p == keyPart {
		return r.KeySchema, r.Key
	}
	return r.ValueSchema, r.Value
}

// with returns a copy of r with the key or value replaced.
func (p part) with(r *connect.Record, s *connect.Schema, v any) *connect.Record {
	c := r.Clone()
	if p == keyPart {
		c.KeySchema, c.Key = s, v
	} else {
		c.ValueSchema, c.Value = s, v
	}
	return c
}

func (p part) suffix() string {
	if p == keyPart {
		return "$Key"
	}
	return "$Value"
}

// requireStruct checks a value with a struct schema.
func requireStruct(v any, purpose string) (*connect.Struct, error) {
	st, ok := v.(*connect.Struct)
	if !ok {
		return nil, fmt.Errorf("%w: Only Struct objects supported for [%s], found: %T", ErrData, purpose, v)
	}
	return st, nil
}

// requireMap checks a schemaless value; map[any]any with string keys is
// accepted too.
func requireMap(v any, purpose string) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, e := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%w: Only Map objects with string keys supported in absence of schema for [%s], found key %T", ErrData, purpose, k)
			}
			out[ks] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: Only Map objects supported in absence of schema for [%s], found: %T", ErrData, purpose, v)
}

// structSchema returns a struct schema like base (name, version, doc,
// optional) with the given fields, indexed in order.
func structSchema(base *connect.Schema, fields []connect.Field) *connect.Schema {
	s := &connect.Schema{Type: connect.TypeStruct}
	if base != nil {
		s.Name, s.Version, s.Doc, s.Optional, s.Parameters = base.Name, base.Version, base.Doc, base.Optional, maps.Clone(base.Parameters)
	}
	for i, f := range fields {
		s.Fields = append(s.Fields, connect.Field{Name: f.Name, Index: i, Schema: f.Schema})
	}
	return s
}

// putAll builds a struct of schema s from values by field name.
func putAll(s *connect.Schema, vals map[string]any) (*connect.Struct, error) {
	st := connect.NewStruct(s)
	for _, f := range s.Fields {
		if v, ok := vals[f.Name]; ok && v != nil {
			if err := st.Put(f.Name, v); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrData, err)
			}
		}
	}
	return st, nil
}

// optional returns an optional copy of s.
func optional(s *connect.Schema) *connect.Schema {
	if s == nil || s.Optional {
		return s
	}
	c := *s
	c.Optional = true
	return &c
}

// parseConfig validates props against def.
func parseConfig(def *connect.ConfigDef, props map[string]string) (*connect.Config, error) {
	c, err := def.Parse(props)
	if err != nil {
		var ve *connect.ValidationError
		if errors.As(err, &ve) {
			var msgs []string
			for _, v := range ve.Values {
				msgs = append(msgs, v.Errors...)
			}
			return nil, fmt.Errorf("%w: %s", connect.ErrInvalidConfig, strings.Join(msgs, "; "))
		}
		return nil, err
	}
	return c, nil
}

// nonEmptyList requires at least one list element.
func nonEmptyList(v string) error {
	if len(connect.SplitList(v)) == 0 {
		return errors.New("Empty list")
	}
	return nil
}

// headerBytes renders a value as a header value the way Kafka's
// SimpleHeaderConverter writes it: strings as they are, bytes raw,
// numbers and booleans in decimal, time in ISO 8601, structures as JSON.
func headerBytes(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case []byte:
		return x
	case time.Time:
		return []byte(x.UTC().Format("2006-01-02T15:04:05.000Z"))
	case connect.Decimal:
		return []byte(x.String())
	case *connect.Struct:
		b, _ := json.Marshal(structToMap(x))
		return b
	case float32:
		return []byte(strconv.FormatFloat(float64(x), 'g', -1, 32))
	case float64:
		return []byte(strconv.FormatFloat(x, 'g', -1, 64))
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err == nil {
			return b
		}
	}
	return []byte(fmt.Sprint(v))
}

func structToMap(st *connect.Struct) map[string]any {
	out := map[string]any{}
	for _, f := range st.Schema().Fields {
		v := st.Get(f.Name)
		switch x := v.(type) {
		case *connect.Struct:
			v = structToMap(x)
		case []byte:
			v = base64.StdEncoding.EncodeToString(x)
		}
		out[f.Name] = v
	}
	return out
}
