package converters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gregorhq/gregor/connect"
)

// ErrConversion is returned (wrapped) when data cannot be converted.
var ErrConversion = errors.New("conversion error")

// JsonConverter settings (Kafka's names).
const (
	SchemasEnableConfig      = "schemas.enable"
	SchemasCacheSizeConfig   = "schemas.cache.size"
	DecimalFormatConfig      = "decimal.format"
	ReplaceNullDefaultConfig = "replace.null.with.default"
)

// JSON is Kafka Connect's JsonConverter. With schemas.enable=true (the
// default) every message is an envelope {"schema": ..., "payload": ...};
// without, it is the bare JSON value and data read back is schemaless
// (integers int64, other numbers float64, objects map[string]any).
type JSON struct {
	schemasEnabled bool
	decimal        decimalFormat
	replaceNull    bool
	cacheSize      int

	mu       sync.Mutex // guards the caches
	toJSON   map[*connect.Schema][]byte
	fromJSON map[string]*connect.Schema

	// names holds the field names of the last struct schema written as a
	// top-level value, encoded: most records of a stream share a schema.
	names atomic.Pointer[fieldNames]
}

// fieldNames is a struct schema's fields as they open in JSON: `{"a":`,
// then `,"b":`, ...
type fieldNames struct {
	schema *connect.Schema
	open   [][]byte
}

// fieldNamesOf returns s's encoded field names, from the one-schema cache.
func (c *JSON) fieldNamesOf(s *connect.Schema) *fieldNames {
	if n := c.names.Load(); n != nil && n.schema == s {
		return n
	}
	n := &fieldNames{schema: s, open: make([][]byte, len(s.Fields))}
	for i, f := range s.Fields {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		n.open[i] = append(appendString([]byte{sep}, f.Name), ':')
	}
	c.names.Store(n)
	return n
}

// appendValue is the package's appendValue with the converter's settings,
// writing a struct of the value's own schema with cached field names.
func (c *JSON) appendValue(b []byte, s *connect.Schema, v any) ([]byte, error) {
	st, ok := v.(*connect.Struct)
	if !ok || s == nil || s.Type != connect.TypeStruct || len(s.Fields) == 0 || st.Schema() != s {
		return appendValue(b, s, v, c.decimal, c.replaceNull)
	}
	names := c.fieldNamesOf(s)
	for i, f := range s.Fields {
		b = append(b, names.open[i]...)
		var err error
		if b, err = appendValue(b, f.Schema, st.GetAt(i), c.decimal, c.replaceNull); err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return append(b, '}'), nil
}

// NewJSON returns a JsonConverter with Kafka's defaults.
func NewJSON() *JSON {
	return &JSON{schemasEnabled: true, replaceNull: true, cacheSize: 1000,
		toJSON: map[*connect.Schema][]byte{}, fromJSON: map[string]*connect.Schema{}}
}

// Configure implements connect.Converter.
func (c *JSON) Configure(props map[string]string, _ bool) error {
	for k, v := range props {
		v = strings.TrimSpace(v)
		switch k {
		case SchemasEnableConfig, ReplaceNullDefaultConfig:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%w: %s=%q must be true or false", connect.ErrInvalidConfig, k, v)
			}
			if k == SchemasEnableConfig {
				c.schemasEnabled = b
			} else {
				c.replaceNull = b
			}
		case SchemasCacheSizeConfig:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: %s=%q must be a non-negative integer", connect.ErrInvalidConfig, k, v)
			}
			c.cacheSize = n
		case DecimalFormatConfig:
			switch strings.ToUpper(v) {
			case "BASE64":
				c.decimal = decimalBase64
			case "NUMERIC":
				c.decimal = decimalNumeric
			default:
				return fmt.Errorf("%w: %s=%q must be BASE64 or NUMERIC", connect.ErrInvalidConfig, k, v)
			}
		}
	}
	return nil
}

// FromConnectData implements connect.Converter.
func (c *JSON) FromConnectData(_ string, s *connect.Schema, v any) ([]byte, error) {
	if v == nil && s == nil {
		return nil, nil
	}
	if v == nil && !c.schemasEnabled && s.Optional && (s.Default == nil || !c.replaceNull) {
		return nil, nil // a tombstone, as Kafka writes a null JSON value
	}
	// Encode into a pooled scratch buffer and return an exact-size copy:
	// one allocation per record instead of one per doubling.
	bp := scratchPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledScratch {
			scratchPool.Put(bp)
		}
	}()
	b, err := c.appendTo((*bp)[:0], s, v)
	if b != nil {
		*bp = b
	}
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil // as appending nothing to a nil slice gave before
	}
	return append(make([]byte, 0, len(b)), b...), nil
}

// AppendFromConnectData implements connect.AppendingConverter.
func (c *JSON) AppendFromConnectData(dst []byte, _ string, s *connect.Schema, v any) ([]byte, bool, error) {
	if v == nil && s == nil {
		return dst, true, nil
	}
	if v == nil && !c.schemasEnabled && s.Optional && (s.Default == nil || !c.replaceNull) {
		return dst, true, nil
	}
	b, err := c.appendTo(dst, s, v)
	if err != nil {
		return dst, false, err
	}
	if len(b) == len(dst) {
		return dst, true, nil // FromConnectData returns nil for nothing
	}
	return b, false, nil
}

// scratchPool holds encoding buffers for FromConnectData.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledScratch keeps huge one-off records' buffers out of the pool.
const maxPooledScratch = 1 << 20

// appendTo appends the serialized form of v (with the schema envelope when
// schemas are enabled).
func (c *JSON) appendTo(b []byte, s *connect.Schema, v any) ([]byte, error) {
	if !c.schemasEnabled {
		return c.appendValue(b, s, v)
	}
	b = append(b, `{"schema":`...)
	if s == nil {
		b = append(b, "null"...)
	} else {
		sj, err := c.schemaJSON(s)
		if err != nil {
			return nil, err
		}
		b = append(b, sj...)
	}
	b = append(b, `,"payload":`...)
	b, err := c.appendValue(b, s, v)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func (c *JSON) schemaJSON(s *connect.Schema) ([]byte, error) {
	c.mu.Lock()
	sj, ok := c.toJSON[s]
	c.mu.Unlock()
	if ok {
		return sj, nil
	}
	sj, err := appendSchema(nil, s, c.decimal)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.toJSON) >= c.cacheSize {
		clear(c.toJSON)
	}
	if c.cacheSize > 0 {
		c.toJSON[s] = sj
	}
	c.mu.Unlock()
	return sj, nil
}

// envelope is the schema-and-payload wrapper.
type envelope struct {
	Schema  json.RawMessage `json:"schema"`
	Payload json.RawMessage `json:"payload"`
}

const envelopeError = `JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`

// ToConnectData implements connect.Converter.
func (c *JSON) ToConnectData(_ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	if !c.schemasEnabled {
		v, err := decodeAny(data)
		if err != nil {
			return nil, nil, err
		}
		sv, err := schemaless(v)
		return nil, sv, err
	}
	env, err := parseEnvelope(data)
	if err != nil {
		return nil, nil, err
	}
	var s *connect.Schema
	if len(env.Schema) > 0 && string(env.Schema) != "null" {
		if s, err = c.schema(env.Schema); err != nil {
			return nil, nil, err
		}
	}
	v, err := decodeValue(env.Payload, s, 0)
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

// parseEnvelope checks that data is exactly {"schema":..., "payload":...}.
func parseEnvelope(data []byte) (envelope, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return envelope{}, fmt.Errorf("%w: %w", ErrConversion, err)
		}
		return envelope{}, fmt.Errorf("%w: %s", ErrConversion, envelopeError)
	}
	s, hasSchema := raw["schema"]
	p, hasPayload := raw["payload"]
	if len(raw) != 2 || !hasSchema || !hasPayload {
		return envelope{}, fmt.Errorf("%w: %s", ErrConversion, envelopeError)
	}
	return envelope{Schema: bytes.TrimSpace(s), Payload: p}, nil
}

func (c *JSON) schema(raw []byte) (*connect.Schema, error) {
	key := string(raw)
	c.mu.Lock()
	s, ok := c.fromJSON[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := UnmarshalSchema(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.fromJSON) >= c.cacheSize {
		clear(c.fromJSON)
	}
	if c.cacheSize > 0 {
		c.fromJSON[key] = s
	}
	c.mu.Unlock()
	return s, nil
}
