package converters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gregorhq/gregor/connect"
)

// schemaJSON is Kafka Connect's JSON representation of a schema.
type schemaJSON struct {
	Type       string            `json:"type"`
	Fields     []fieldJSON       `json:"fields,omitempty"`
	Items      *schemaJSON       `json:"items,omitempty"`
	Keys       *schemaJSON       `json:"keys,omitempty"`
	Values     *schemaJSON       `json:"values,omitempty"`
	Optional   bool              `json:"optional"`
	Name       string            `json:"name,omitempty"`
	Version    *int              `json:"version,omitempty"`
	Doc        string            `json:"doc,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Default    json.RawMessage   `json:"default,omitempty"`
}

type fieldJSON struct {
	schemaJSON
	Field string `json:"field"`
}

// MarshalSchema returns the JSON form of a schema, as it appears in the
// "schema" part of JsonConverter's envelope.
func MarshalSchema(s *connect.Schema) ([]byte, error) {
	return appendSchema(nil, s, decimalBase64)
}

// appendSchema appends the schema JSON by hand, in Kafka's field order.
func appendSchema(b []byte, s *connect.Schema, df decimalFormat) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, jsonTypeName(s.Type))
	var err error
	switch s.Type {
	case connect.TypeStruct:
		b = append(b, `,"fields":[`...)
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			fb, err := appendSchema(nil, f.Schema, df)
			if err != nil {
				return nil, err
			}
			b = append(b, fb[:len(fb)-1]...)
			b = append(b, `,"field":`...)
			b = appendString(b, f.Name)
			b = append(b, '}')
		}
		b = append(b, ']')
	case connect.TypeArray:
		b = append(b, `,"items":`...)
		if b, err = appendSchema(b, s.Value, df); err != nil {
			return nil, err
		}
	case connect.TypeMap:
		b = append(b, `,"keys":`...)
		if b, err = appendSchema(b, s.Key, df); err != nil {
			return nil, err
		}
		b = append(b, `,"values":`...)
		if b, err = appendSchema(b, s.Value, df); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"optional":`...)
	b = strconv.AppendBool(b, s.Optional)
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, s.Name)
	}
	if s.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(s.Version), 10)
	}
	if s.Doc != "" {
		b = append(b, `,"doc":`...)
		b = appendString(b, s.Doc)
	}
	if len(s.Parameters) > 0 {
		p, err := json.Marshal(s.Parameters)
		if err != nil {
			return nil, fmt.Errorf("%w: parameters: %w", ErrConversion, err)
		}
		b = append(b, `,"parameters":`...)
		b = append(b, p...)
	}
	if s.Default != nil {
		b = append(b, `,"default":`...)
		if b, err = appendValue(b, s, s.Default, df, false); err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
	}
	return append(b, '}'), nil
}

// jsonTypeName is a type's name in the schema JSON: Kafka's JsonConverter
// calls the floating-point types "float" and "double".
func jsonTypeName(t connect.Type) string {
	switch t {
	case connect.TypeFloat32:
		return "float"
	case connect.TypeFloat64:
		return "double"
	}
	return string(t)
}

// typeFromJSONName reverses jsonTypeName; it also takes "float32" and
// "float64", which gregor wrote before it matched Kafka.
func typeFromJSONName(name string) connect.Type {
	switch name {
	case "float":
		return connect.TypeFloat32
	case "double":
		return connect.TypeFloat64
	}
	return connect.Type(name)
}

// UnmarshalSchema parses a schema in Kafka Connect's JSON form.
func UnmarshalSchema(data []byte) (*connect.Schema, error) {
	var sj schemaJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&sj); err != nil {
		return nil, fmt.Errorf("%w: schema: %w", ErrConversion, err)
	}
	return fromSchemaJSON(&sj, 0)
}

const maxSchemaDepth = 64

func fromSchemaJSON(sj *schemaJSON, depth int) (*connect.Schema, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("%w: schema nested too deeply", ErrConversion)
	}
	t := typeFromJSONName(sj.Type)
	if !t.Valid() {
		return nil, fmt.Errorf("%w: unknown schema type %q", ErrConversion, sj.Type)
	}
	s := &connect.Schema{Type: t, Optional: sj.Optional, Name: sj.Name, Doc: sj.Doc, Parameters: sj.Parameters}
	if sj.Version != nil {
		s.Version = *sj.Version
	}
	var err error
	switch t {
	case connect.TypeStruct:
		for i := range sj.Fields {
			f := &sj.Fields[i]
			fs, err := fromSchemaJSON(&f.schemaJSON, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := s.Field(f.Field); dup {
				return nil, fmt.Errorf("%w: duplicate field %q", ErrConversion, f.Field)
			}
			s.Fields = append(s.Fields, connect.Field{Name: f.Field, Index: i, Schema: fs})
		}
	case connect.TypeArray:
		if sj.Items == nil {
			return nil, fmt.Errorf("%w: array schema must have \"items\"", ErrConversion)
		}
		if s.Value, err = fromSchemaJSON(sj.Items, depth+1); err != nil {
			return nil, err
		}
	case connect.TypeMap:
		if sj.Keys == nil || sj.Values == nil {
			return nil, fmt.Errorf("%w: map schema must have \"keys\" and \"values\"", ErrConversion)
		}
		if s.Key, err = fromSchemaJSON(sj.Keys, depth+1); err != nil {
			return nil, err
		}
		if s.Value, err = fromSchemaJSON(sj.Values, depth+1); err != nil {
			return nil, err
		}
	}
	if s.Name == connect.DecimalName {
		if _, err := connect.DecimalScale(s); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConversion, err)
		}
	}
	if len(sj.Default) > 0 && string(sj.Default) != "null" {
		v, err := decodeValue(sj.Default, s, depth+1)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		s.Default = v
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConversion, err)
	}
	return s, nil
}
