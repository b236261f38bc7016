package transforms

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/gregorhq/gregor/connect"
)

// Filter drops every record; use it with a predicate (Kafka's Filter).
type Filter struct{}

// Config implements connect.Transformation.
func (Filter) Config() *connect.ConfigDef { return connect.NewConfigDef() }

// Configure implements connect.Transformation.
func (Filter) Configure(map[string]string) error { return nil }

// Apply implements connect.Transformation.
func (Filter) Apply(*connect.Record) (*connect.Record, error) { return nil, nil }

// InsertHeader adds a header with a literal value (Kafka's InsertHeader);
// the value is written as its UTF-8 text, as SimpleHeaderConverter does.
type InsertHeader struct {
	header string
	value  []byte
}

var insertHeaderDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "header", Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "The name of the header."}).
	Define(connect.ConfigKey{Name: "value.literal", Type: connect.ConfigString, Required: true, Importance: connect.High, Doc: "The literal value that is to be set as the header value on all records."})

// Config implements connect.Transformation.
func (t *InsertHeader) Config() *connect.ConfigDef { return insertHeaderDef }

// Configure implements connect.Transformation.
func (t *InsertHeader) Configure(props map[string]string) error {
	c, err := parseConfig(insertHeaderDef, props)
	if err != nil {
		return err
	}
	t.header, t.value = c.String("header"), []byte(c.String("value.literal"))
	return nil
}

// Apply implements connect.Transformation.
func (t *InsertHeader) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Headers = append(out.Headers, connect.Header{Key: t.header, Value: slices.Clone(t.value)})
	return out, nil
}

// DropHeaders removes every header with one of the given names (Kafka's
// DropHeaders).
type DropHeaders struct{ names map[string]bool }

var dropHeadersDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "headers", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: nonEmptyList, Doc: "The name of the headers to be removed."})

// Config implements connect.Transformation.
func (t *DropHeaders) Config() *connect.ConfigDef { return dropHeadersDef }

// Configure implements connect.Transformation.
func (t *DropHeaders) Configure(props map[string]string) error {
	c, err := parseConfig(dropHeadersDef, props)
	if err != nil {
		return err
	}
	t.names = map[string]bool{}
	for _, n := range c.List("headers") {
		t.names[n] = true
	}
	return nil
}

// Apply implements connect.Transformation.
func (t *DropHeaders) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Headers = slices.DeleteFunc(out.Headers, func(h connect.Header) bool { return t.names[h.Key] })
	return out, nil
}

// HeaderFrom moves or copies fields of the key or value into headers
// (Kafka's HeaderFrom$Key and $Value): fields[i] goes to headers[i].
type HeaderFrom struct {
	part    part
	fields  []string
	headers []string
	move    bool
}

var headerFromDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "fields", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: nonEmptyList, Doc: "Field names in the record whose values are to be copied or moved to headers."}).
	Define(connect.ConfigKey{Name: "headers", Type: connect.ConfigList, Required: true, Importance: connect.High, Validator: nonEmptyList, Doc: "Header names, in the same order as the field names listed in the fields configuration property."}).
	Define(connect.ConfigKey{Name: "operation", Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.OneOf("move", "copy"), Doc: "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value)."}).
	Define(connect.ConfigKey{Name: "replace.null.with.default", Type: connect.ConfigBoolean, Default: "true", Importance: connect.Medium, Doc: "Whether to replace fields that have a default value and that are null to the default value."})

// Config implements connect.Transformation.
func (t *HeaderFrom) Config() *connect.ConfigDef { return headerFromDef }

// Configure implements connect.Transformation.
func (t *HeaderFrom) Configure(props map[string]string) error {
	c, err := parseConfig(headerFromDef, props)
	if err != nil {
		return err
	}
	t.fields, t.headers, t.move = c.List("fields"), c.List("headers"), c.String("operation") == "move"
	if len(t.fields) != len(t.headers) {
		return fmt.Errorf("%w: 'fields' config must have the same number of elements as 'headers' config.", connect.ErrInvalidConfig)
	}
	return nil
}

// Apply implements connect.Transformation.
func (t *HeaderFrom) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if v == nil {
		return r, nil
	}
	out := r.Clone()
	if s == nil {
		m, err := requireMap(v, "header "+map[bool]string{true: "move", false: "copy"}[t.move])
		if err != nil {
			return nil, err
		}
		nm := maps.Clone(m)
		for i, f := range t.fields {
			out.Headers = append(out.Headers, connect.Header{Key: t.headers[i], Value: headerBytes(m[f])})
			if t.move {
				delete(nm, f)
			}
		}
		return t.part.with(out, nil, nm), nil
	}
	st, err := requireStruct(v, "header "+map[bool]string{true: "move", false: "copy"}[t.move])
	if err != nil {
		return nil, err
	}
	for i, f := range t.fields {
		if _, ok := s.Field(f); !ok {
			return nil, fmt.Errorf("%w: %s is not a valid field name", ErrData, f)
		}
		out.Headers = append(out.Headers, connect.Header{Key: t.headers[i], Value: headerBytes(st.Get(f))})
	}
	if !t.move {
		return out, nil
	}
	drop := map[string]bool{}
	for _, f := range t.fields {
		drop[f] = true
	}
	var fields []connect.Field
	vals := map[string]any{}
	for _, f := range s.Fields {
		if !drop[f.Name] {
			fields = append(fields, f)
			vals[f.Name] = st.Get(f.Name)
		}
	}
	ns := structSchema(s, fields)
	nv, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(out, ns, nv), nil
}

// TopicNameMatches matches records whose whole topic name matches pattern
// (Kafka's TopicNameMatches predicate).
type TopicNameMatches struct{ re *regexp.Regexp }

var topicNameMatchesDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "pattern", Type: connect.ConfigString, Required: true, Importance: connect.Medium, Validator: func(v string) error {
		if v == "" {
			return fmt.Errorf("String must be non-empty")
		}
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("Invalid regex: %w", err)
		}
		return nil
	}, Doc: "A Java regular expression for matching against the name of a record's topic."})

// Config implements connect.Predicate.
func (p *TopicNameMatches) Config() *connect.ConfigDef { return topicNameMatchesDef }

// Configure implements connect.Predicate.
func (p *TopicNameMatches) Configure(props map[string]string) error {
	c, err := parseConfig(topicNameMatchesDef, props)
	if err != nil {
		return err
	}
	p.re = regexp.MustCompile("^(?:" + c.String("pattern") + ")$")
	return nil
}

// Test implements connect.Predicate.
func (p *TopicNameMatches) Test(r *connect.Record) bool { return p.re.MatchString(r.Topic) }

// HasHeaderKey matches records with at least one header named name
// (Kafka's HasHeaderKey predicate).
type HasHeaderKey struct{ name string }

var hasHeaderKeyDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "name", Type: connect.ConfigString, Required: true, Importance: connect.Medium, Validator: connect.NonEmptyString, Doc: "The header name."})

// Config implements connect.Predicate.
func (p *HasHeaderKey) Config() *connect.ConfigDef { return hasHeaderKeyDef }

// Configure implements connect.Predicate.
func (p *HasHeaderKey) Configure(props map[string]string) error {
	c, err := parseConfig(hasHeaderKeyDef, props)
	if err != nil {
		return err
	}
	p.name = c.String("name")
	return nil
}

// Test implements connect.Predicate.
func (p *HasHeaderKey) Test(r *connect.Record) bool {
	return slices.ContainsFunc(r.Headers, func(h connect.Header) bool { return h.Key == p.name })
}

// RecordIsTombstone matches records with a null value (Kafka's
// RecordIsTombstone predicate).
type RecordIsTombstone struct{}

// Config implements connect.Predicate.
func (RecordIsTombstone) Config() *connect.ConfigDef { return connect.NewConfigDef() }

// Configure implements connect.Predicate.
func (RecordIsTombstone) Configure(map[string]string) error { return nil }

// Test implements connect.Predicate.
func (RecordIsTombstone) Test(r *connect.Record) bool { return r.Value == nil }
