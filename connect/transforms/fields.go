package transforms

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// InsertField adds the record's topic, partition, offset (sink records),
// timestamp and a static value as fields (Kafka's InsertField$Key and
// $Value). A field name ending in "!" is required, "?" (the default)
// optional. Tombstones pass through unchanged.
type InsertField struct {
	part                                 part
	topic, partition, offset, ts, static insertSpec
	staticValue                          string
}

type insertSpec struct {
	name     string
	optional bool
}

func parseInsertSpec(v string) insertSpec {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return insertSpec{}
	case strings.HasSuffix(v, "!"):
		return insertSpec{name: strings.TrimSuffix(v, "!")}
	default:
		return insertSpec{name: strings.TrimSuffix(v, "?"), optional: true}
	}
}

var insertFieldDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "topic.field", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(connect.ConfigKey{Name: "partition.field", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field name for Kafka partition."}).
	Define(connect.ConfigKey{Name: "offset.field", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field name for Kafka offset - only applicable to sink connectors."}).
	Define(connect.ConfigKey{Name: "timestamp.field", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field name for record timestamp."}).
	Define(connect.ConfigKey{Name: "static.field", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Field name for static data field."}).
	Define(connect.ConfigKey{Name: "static.value", Type: connect.ConfigString, Importance: connect.Medium, Doc: "Static field value, if field name configured."})

// Config implements connect.Transformation.
func (t *InsertField) Config() *connect.ConfigDef { return insertFieldDef }

// Configure implements connect.Transformation.
func (t *InsertField) Configure(props map[string]string) error {
	c, err := parseConfig(insertFieldDef, props)
	if err != nil {
		return err
	}
	t.topic, t.partition = parseInsertSpec(c.String("topic.field")), parseInsertSpec(c.String("partition.field"))
	t.offset, t.ts = parseInsertSpec(c.String("offset.field")), parseInsertSpec(c.String("timestamp.field"))
	t.static, t.staticValue = parseInsertSpec(c.String("static.field")), c.String("static.value")
	return nil
}

// Apply implements connect.Transformation.
func (t *InsertField) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if v == nil {
		return r, nil
	}
	type add struct {
		spec   insertSpec
		schema *connect.Schema
		value  any
	}
	var adds []add
	if t.topic.name != "" {
		adds = append(adds, add{t.topic, connect.StringSchema, r.Topic})
	}
	if t.partition.name != "" && r.Partition != nil {
		adds = append(adds, add{t.partition, connect.Int32Schema, *r.Partition})
	} else if t.partition.name != "" {
		adds = append(adds, add{t.partition, connect.Int32Schema, nil})
	}
	if t.offset.name != "" {
		if r.Offset == nil {
			return nil, fmt.Errorf("%w: offset.field is only applicable to sink connectors", ErrData)
		}
		adds = append(adds, add{t.offset, connect.Int64Schema, *r.Offset})
	}
	if t.ts.name != "" {
		var tv any
		if !r.Timestamp.IsZero() {
			if s == nil {
				tv = r.Timestamp.UnixMilli()
			} else {
				tv = r.Timestamp.UTC()
			}
		}
		adds = append(adds, add{t.ts, connect.TimestampSchema().Build(), tv})
	}
	if t.static.name != "" {
		adds = append(adds, add{t.static, connect.StringSchema, t.staticValue})
	}
	if s == nil {
		m, err := requireMap(v, "field insertion")
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for _, a := range adds {
			if a.value != nil {
				out[a.spec.name] = a.value
			}
		}
		return t.part.with(r, nil, out), nil
	}
	st, err := requireStruct(v, "field insertion")
	if err != nil {
		return nil, err
	}
	fields := slices.Clone(s.Fields)
	vals := map[string]any{}
	for _, f := range s.Fields {
		vals[f.Name] = st.Get(f.Name)
	}
	for _, a := range adds {
		fs := a.schema
		if a.spec.optional {
			fs = optional(fs)
		}
		fields = append(fields, connect.Field{Name: a.spec.name, Schema: fs})
		vals[a.spec.name] = a.value
	}
	ns := structSchema(s, fields)
	out, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, ns, out), nil
}

// ReplaceField filters and renames fields (Kafka's ReplaceField$Key and
// $Value): exclude (formerly blacklist), include (formerly whitelist) and
// renames (old:new,...).
type ReplaceField struct {
	part    part
	exclude map[string]bool
	include map[string]bool
	renames map[string]string
}

var replaceFieldDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "exclude", Type: connect.ConfigList, Importance: connect.Medium, Doc: "Fields to exclude. This takes precedence over the fields to include."}).
	Define(connect.ConfigKey{Name: "include", Type: connect.ConfigList, Importance: connect.Medium, Doc: "Fields to include. If specified, only these fields will be used."}).
	Define(connect.ConfigKey{Name: "blacklist", Type: connect.ConfigList, Importance: connect.Low, Doc: "Deprecated. Use exclude instead."}).
	Define(connect.ConfigKey{Name: "whitelist", Type: connect.ConfigList, Importance: connect.Low, Doc: "Deprecated. Use include instead."}).
	Define(connect.ConfigKey{Name: "renames", Type: connect.ConfigList, Importance: connect.Medium, Validator: validRenames, Doc: "Field rename mappings."})

func validRenames(v string) error {
	for _, p := range connect.SplitList(v) {
		if a, b, ok := strings.Cut(p, ":"); !ok || a == "" || b == "" {
			return fmt.Errorf("Invalid rename mapping: %s", p)
		}
	}
	return nil
}

// Config implements connect.Transformation.
func (t *ReplaceField) Config() *connect.ConfigDef { return replaceFieldDef }

// Configure implements connect.Transformation.
func (t *ReplaceField) Configure(props map[string]string) error {
	c, err := parseConfig(replaceFieldDef, props)
	if err != nil {
		return err
	}
	set := func(names ...[]string) map[string]bool {
		m := map[string]bool{}
		for _, ns := range names {
			for _, n := range ns {
				m[n] = true
			}
		}
		return m
	}
	t.exclude = set(c.List("exclude"), c.List("blacklist"))
	t.include = set(c.List("include"), c.List("whitelist"))
	t.renames = map[string]string{}
	for _, p := range c.List("renames") {
		a, b, _ := strings.Cut(p, ":")
		t.renames[a] = b
	}
	return nil
}

func (t *ReplaceField) keep(name string) bool {
	return !t.exclude[name] && (len(t.include) == 0 || t.include[name])
}

func (t *ReplaceField) rename(name string) string {
	if n, ok := t.renames[name]; ok {
		return n
	}
	return name
}

// Apply implements connect.Transformation.
func (t *ReplaceField) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if v == nil {
		return r, nil
	}
	if s == nil {
		m, err := requireMap(v, "field replacement")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			if t.keep(k) {
				out[t.rename(k)] = e
			}
		}
		return t.part.with(r, nil, out), nil
	}
	st, err := requireStruct(v, "field replacement")
	if err != nil {
		return nil, err
	}
	var fields []connect.Field
	vals := map[string]any{}
	for _, f := range s.Fields {
		if t.keep(f.Name) {
			n := t.rename(f.Name)
			fields = append(fields, connect.Field{Name: n, Schema: f.Schema})
			vals[n] = st.Get(f.Name)
		}
	}
	ns := structSchema(s, fields)
	out, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, ns, out), nil
}

// MaskField replaces fields with a valid null value for their type (0,
// false, "", empty bytes, arrays and maps, the epoch for dates) or with
// replacement, converted to the field's type (Kafka's MaskField$Key and
// $Value).
type MaskField struct {
	part        part
	fields      map[string]bool
	replacement string
	hasRepl     bool
}

var maskFieldDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "fields", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: nonEmptyList, Doc: "Names of fields to mask."}).
	Define(connect.ConfigKey{Name: "replacement", Type: connect.ConfigString, Importance: connect.Low, Validator: func(v string) error {
		if v == "" {
			return fmt.Errorf("String must be non-empty")
		}
		return nil
	}, Doc: "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only)."})

// Config implements connect.Transformation.
func (t *MaskField) Config() *connect.ConfigDef { return maskFieldDef }

// Configure implements connect.Transformation.
func (t *MaskField) Configure(props map[string]string) error {
	c, err := parseConfig(maskFieldDef, props)
	if err != nil {
		return err
	}
	t.fields = map[string]bool{}
	for _, f := range c.List("fields") {
		t.fields[f] = true
	}
	t.replacement, t.hasRepl = props["replacement"]
	return nil
}

// masked returns the masked form of v (whose schema is s, or nil).
func (t *MaskField) masked(s *connect.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t.hasRepl {
		target := s
		if target == nil {
			target = schemaOf(v)
		}
		if target == nil || !target.Type.IsPrimitive() || target.Type == connect.TypeBytes || target.Type == connect.TypeBoolean {
			return nil, fmt.Errorf("%w: Cannot mask value of type %T with custom replacement", ErrData, v)
		}
		return castTo(t.replacement, target.Type)
	}
	switch x := v.(type) {
	case time.Time:
		return time.UnixMilli(0).UTC(), nil
	case connect.Decimal:
		return connect.NewDecimal(0, x.Scale), nil
	case []any:
		return []any{}, nil
	case map[any]any:
		return map[any]any{}, nil
	case map[string]any:
		return map[string]any{}, nil
	case int8:
		return int8(0), nil
	case int16:
		return int16(0), nil
	case int32:
		return int32(0), nil
	case int64:
		return int64(0), nil
	case float32:
		return float32(0), nil
	case float64:
		return float64(0), nil
	case bool:
		return false, nil
	case string:
		return "", nil
	case []byte:
		return []byte{}, nil
	case int:
		return 0, nil
	}
	return nil, fmt.Errorf("%w: Cannot mask value of type %T", ErrData, v)
}

// Apply implements connect.Transformation.
func (t *MaskField) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if v == nil {
		return r, nil
	}
	if s == nil {
		m, err := requireMap(v, "masking fields")
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for f := range t.fields {
			if e, ok := m[f]; ok {
				mv, err := t.masked(nil, e)
				if err != nil {
					return nil, err
				}
				out[f] = mv
			}
		}
		return t.part.with(r, nil, out), nil
	}
	st, err := requireStruct(v, "masking fields")
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	for _, f := range s.Fields {
		e := st.Get(f.Name)
		if t.fields[f.Name] {
			if e, err = t.masked(f.Schema, e); err != nil {
				return nil, err
			}
		}
		vals[f.Name] = e
	}
	out, err := putAll(s, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, s, out), nil
}

// ValueToKey replaces the key with a struct (or map) of the named value
// fields (Kafka's ValueToKey).
type ValueToKey struct{ fields []string }

var valueToKeyDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "fields", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: nonEmptyList, Doc: "Field names on the record value to extract as the record key."})

// Config implements connect.Transformation.
func (t *ValueToKey) Config() *connect.ConfigDef { return valueToKeyDef }

// Configure implements connect.Transformation.
func (t *ValueToKey) Configure(props map[string]string) error {
	c, err := parseConfig(valueToKeyDef, props)
	if err != nil {
		return err
	}
	t.fields = c.List("fields")
	return nil
}

// Apply implements connect.Transformation.
func (t *ValueToKey) Apply(r *connect.Record) (*connect.Record, error) {
	if r.Value == nil {
		return r, nil
	}
	if r.ValueSchema == nil {
		m, err := requireMap(r.Value, "copying fields from value to key")
		if err != nil {
			return nil, err
		}
		key := map[string]any{}
		for _, f := range t.fields {
			key[f] = m[f]
		}
		return keyPart.with(r, nil, key), nil
	}
	st, err := requireStruct(r.Value, "copying fields from value to key")
	if err != nil {
		return nil, err
	}
	var fields []connect.Field
	vals := map[string]any{}
	for _, name := range t.fields {
		f, ok := r.ValueSchema.Field(name)
		if !ok {
			return nil, fmt.Errorf("%w: Field does not exist: %s", ErrData, name)
		}
		fields = append(fields, connect.Field{Name: name, Schema: f.Schema})
		vals[name] = st.Get(name)
	}
	ks := structSchema(nil, fields)
	key, err := putAll(ks, vals)
	if err != nil {
		return nil, err
	}
	return keyPart.with(r, ks, key), nil
}

// ExtractField replaces the key or value with one of its fields (Kafka's
// ExtractField$Key and $Value).
type ExtractField struct {
	part  part
	field string
}

var extractFieldDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "field", Type: connect.ConfigString, Required: true, Importance: connect.Medium, Validator: connect.NonEmptyString, Doc: "Field name to extract."})

// Config implements connect.Transformation.
func (t *ExtractField) Config() *connect.ConfigDef { return extractFieldDef }

// Configure implements connect.Transformation.
func (t *ExtractField) Configure(props map[string]string) error {
	c, err := parseConfig(extractFieldDef, props)
	if err != nil {
		return err
	}
	t.field = c.String("field")
	return nil
}

// Apply implements connect.Transformation.
func (t *ExtractField) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if s == nil {
		if v == nil {
			return t.part.with(r, nil, nil), nil
		}
		m, err := requireMap(v, "field extraction")
		if err != nil {
			return nil, err
		}
		return t.part.with(r, nil, m[t.field]), nil
	}
	f, ok := s.Field(t.field)
	if s.Type != connect.TypeStruct || !ok {
		return nil, fmt.Errorf("%w: Unknown field: %s", ErrData, t.field)
	}
	if v == nil {
		return t.part.with(r, f.Schema, nil), nil
	}
	st, err := requireStruct(v, "field extraction")
	if err != nil {
		return nil, err
	}
	return t.part.with(r, f.Schema, st.Get(t.field)), nil
}

// HoistField wraps the key or value in a struct (or map) with one field
// (Kafka's HoistField$Key and $Value).
type HoistField struct {
	part  part
	field string
}

var hoistFieldDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "field", Type: connect.ConfigString, Required: true, Importance: connect.Medium, Validator: connect.NonEmptyString, Doc: "Field name for the single field that will be created in the resulting Struct or Map."})

// Config implements connect.Transformation.
func (t *HoistField) Config() *connect.ConfigDef { return hoistFieldDef }

// Configure implements connect.Transformation.
func (t *HoistField) Configure(props map[string]string) error {
	c, err := parseConfig(hoistFieldDef, props)
	if err != nil {
		return err
	}
	t.field = c.String("field")
	return nil
}

// Apply implements connect.Transformation.
func (t *HoistField) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if s == nil {
		return t.part.with(r, nil, map[string]any{t.field: v}), nil
	}
	ns := structSchema(nil, []connect.Field{{Name: t.field, Schema: s}})
	st := connect.NewStruct(ns)
	if v != nil {
		if err := st.Put(t.field, v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrData, err)
		}
	}
	return t.part.with(r, ns, st), nil
}
