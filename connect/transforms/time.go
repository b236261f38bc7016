package transforms

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/gregorhq/gregor/connect"
)

// javaLayout translates a java.text.SimpleDateFormat pattern (the syntax
// Kafka's transforms take) into a Go time layout. It covers the letters
// used for timestamps: y M d H h m s S a E z Z X, quoted text and ” .
func javaLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote in date format %q", p)
			}
			if j == 0 {
				b.WriteByte('\'')
			} else {
				b.WriteString(p[i+1 : i+1+j])
			}
			i += j + 2
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		i += n
		var s string
		switch c {
		case 'y', 'u':
			s = "2006"
			if n == 2 {
				s = "06"
			}
		case 'M':
			s = map[int]string{1: "1", 2: "01", 3: "Jan"}[min(n, 4)]
			if n >= 4 {
				s = "January"
			}
		case 'd':
			s = map[bool]string{true: "2", false: "02"}[n == 1]
		case 'H':
			s = "15"
		case 'h':
			s = map[bool]string{true: "3", false: "03"}[n == 1]
		case 'm':
			s = map[bool]string{true: "4", false: "04"}[n == 1]
		case 's':
			s = map[bool]string{true: "5", false: "05"}[n == 1]
		case 'S':
			s = strings.Repeat("0", n)
			if b.Len() == 0 || !strings.HasSuffix(b.String(), ".") && !strings.HasSuffix(b.String(), ",") {
				return "", fmt.Errorf("fractional seconds must follow '.' or ',' in date format %q", p)
			}
		case 'a':
			s = "PM"
		case 'E':
			s = "Mon"
			if n >= 4 {
				s = "Monday"
			}
		case 'z':
			s = "MST"
		case 'Z':
			s = "-0700"
		case 'X':
			s = map[int]string{1: "Z07", 2: "Z0700", 3: "Z07:00"}[min(n, 3)]
		default:
			return "", fmt.Errorf("unsupported pattern letter %q in date format %q", c, p)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func validJavaLayout(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	_, err := javaLayout(v)
	return err
}

// TimestampConverter converts a timestamp field (or the whole key or
// value) between Unix epoch numbers, formatted strings and the Date, Time
// and Timestamp logical types (Kafka's TimestampConverter$Key and $Value).
type TimestampConverter struct {
	part      part
	field     string
	target    string
	layout    string
	precision time.Duration
}

var tsTargets = map[string]string{"string": "string", "unix": "unix", "date": "Date", "time": "Time", "timestamp": "Timestamp"}

var timestampConverterDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "target.type", Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: func(v string) error {
		if _, ok := tsTargets[strings.ToLower(strings.TrimSpace(v))]; !ok {
			return fmt.Errorf("Unknown timestamp type in TimestampConverter: %s. Valid values are string, unix, Date, Time, Timestamp.", v)
		}
		return nil
	}, Doc: "The desired timestamp representation: string, unix, Date, Time, or Timestamp"}).
	Define(connect.ConfigKey{Name: "field", Type: connect.ConfigString, Importance: connect.High, Doc: "The field containing the timestamp, or empty if the entire value is a timestamp"}).
	Define(connect.ConfigKey{Name: "format", Type: connect.ConfigString, Importance: connect.Medium, Validator: validJavaLayout, Doc: "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string."}).
	Define(connect.ConfigKey{Name: "unix.precision", Type: connect.ConfigString, Default: "milliseconds", Importance: connect.Low, Validator: connect.OneOf("seconds", "milliseconds", "microseconds", "nanoseconds"), Doc: "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds."}).
	Define(connect.ConfigKey{Name: "replace.null.with.default", Type: connect.ConfigBoolean, Default: "true", Importance: connect.Medium, Doc: "Whether to replace fields that have a default value and that are null to the default value."})

// Config implements connect.Transformation.
func (t *TimestampConverter) Config() *connect.ConfigDef { return timestampConverterDef }

// Configure implements connect.Transformation.
func (t *TimestampConverter) Configure(props map[string]string) error {
	c, err := parseConfig(timestampConverterDef, props)
	if err != nil {
		return err
	}
	t.field = c.String("field")
	t.target = tsTargets[strings.ToLower(strings.TrimSpace(c.String("target.type")))]
	if f := c.String("format"); strings.TrimSpace(f) != "" {
		t.layout, _ = javaLayout(f)
	} else if t.target == "string" {
		return fmt.Errorf("%w: TimestampConverter requires format option to be specified when using string timestamps", connect.ErrInvalidConfig)
	}
	t.precision = map[string]time.Duration{"seconds": time.Second, "milliseconds": time.Millisecond,
		"microseconds": time.Microsecond, "nanoseconds": time.Nanosecond}[c.String("unix.precision")]
	if _, ok := props["unix.precision"]; !ok {
		t.precision = time.Millisecond
	}
	return nil
}

// toTime reads a timestamp in any supported representation.
func (t *TimestampConverter) toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case int64:
		return time.Unix(0, 0).Add(time.Duration(x) * t.precision).UTC(), nil
	case int32:
		return time.Unix(0, 0).Add(time.Duration(x) * t.precision).UTC(), nil
	case int:
		return time.Unix(0, 0).Add(time.Duration(x) * t.precision).UTC(), nil
	case float64:
		return time.Unix(0, 0).Add(time.Duration(x) * t.precision).UTC(), nil
	case string:
		if t.layout == "" {
			return time.Time{}, fmt.Errorf("%w: TimestampConverter requires format option to be specified when using string timestamps", ErrData)
		}
		tm, err := time.ParseInLocation(t.layout, x, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: Could not parse timestamp: value (%s) does not match pattern: %w", ErrData, x, err)
		}
		return tm.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: TimestampConverter does not support %T", ErrData, v)
}

func (t *TimestampConverter) targetSchema(optionalFlag bool) *connect.Schema {
	var b *connect.SchemaBuilder
	switch t.target {
	case "string":
		b = connect.NewSchemaBuilder(connect.TypeString)
	case "unix":
		b = connect.NewSchemaBuilder(connect.TypeInt64)
	case "Date":
		b = connect.DateSchema()
	case "Time":
		b = connect.TimeSchema()
	default:
		b = connect.TimestampSchema()
	}
	if optionalFlag {
		b.Optional()
	}
	return b.Build()
}

func (t *TimestampConverter) convert(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, err := t.toTime(v)
	if err != nil {
		return nil, err
	}
	switch t.target {
	case "string":
		return tm.Format(t.layout), nil
	case "unix":
		return tm.UnixNano() / int64(t.precision), nil
	case "Date":
		return time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC), nil
	case "Time":
		return time.UnixMilli(tm.UnixMilli() % (24 * 3600 * 1000)).UTC(), nil
	}
	return tm, nil
}

// Apply implements connect.Transformation.
func (t *TimestampConverter) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.part.get(r)
	if t.field == "" {
		nv, err := t.convert(v)
		if err != nil {
			return nil, err
		}
		var ns *connect.Schema
		if s != nil {
			ns = t.targetSchema(s.Optional)
		}
		return t.part.with(r, ns, nv), nil
	}
	if v == nil {
		return r, nil
	}
	if s == nil {
		m, err := requireMap(v, "converting timestamp formats")
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		if out[t.field], err = t.convert(m[t.field]); err != nil {
			return nil, err
		}
		return t.part.with(r, nil, out), nil
	}
	st, err := requireStruct(v, "converting timestamp formats")
	if err != nil {
		return nil, err
	}
	fields := make([]connect.Field, 0, len(s.Fields))
	vals := map[string]any{}
	for _, f := range s.Fields {
		e := st.Get(f.Name)
		if f.Name == t.field {
			if e, err = t.convert(e); err != nil {
				return nil, err
			}
			f = connect.Field{Name: f.Name, Schema: t.targetSchema(f.Schema.Optional)}
		}
		fields = append(fields, f)
		vals[f.Name] = e
	}
	ns := structSchema(s, fields)
	out, err := putAll(ns, vals)
	if err != nil {
		return nil, err
	}
	return t.part.with(r, ns, out), nil
}

// RegexRouter renames the topic when the whole topic name matches regex,
// replacing it with replacement, where $1... refer to groups (Kafka's
// RegexRouter).
type RegexRouter struct {
	re          *regexp.Regexp
	replacement string
}

var regexRouterDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "regex", Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: func(v string) error {
		_, err := regexp.Compile(v)
		return err
	}, Doc: "Regular expression to use for matching."}).
	Define(connect.ConfigKey{Name: "replacement", Type: connect.ConfigString, Required: true, Importance: connect.High, Doc: "Replacement string."})

var javaGroupRef = regexp.MustCompile(`\$(\d+)`)

// Config implements connect.Transformation.
func (t *RegexRouter) Config() *connect.ConfigDef { return regexRouterDef }

// Configure implements connect.Transformation.
func (t *RegexRouter) Configure(props map[string]string) error {
	c, err := parseConfig(regexRouterDef, props)
	if err != nil {
		return err
	}
	t.re = regexp.MustCompile("^(?:" + c.String("regex") + ")$")
	t.replacement = javaGroupRef.ReplaceAllString(c.String("replacement"), "$${$1}")
	return nil
}

// Apply implements connect.Transformation.
func (t *RegexRouter) Apply(r *connect.Record) (*connect.Record, error) {
	m := t.re.FindStringSubmatchIndex(r.Topic)
	if m == nil {
		return r, nil
	}
	out := r.Clone()
	out.Topic = string(t.re.ExpandString(nil, t.replacement, r.Topic, m))
	return out, nil
}

// TimestampRouter sets the topic from topic.format, where ${topic} is the
// original topic and ${timestamp} the record timestamp in
// timestamp.format, in UTC (Kafka's TimestampRouter).
type TimestampRouter struct {
	format string
	layout string
}

var timestampRouterDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: "topic.format", Type: connect.ConfigString, Default: "${topic}-${timestamp}", Importance: connect.High, Doc: "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively."}).
	Define(connect.ConfigKey{Name: "timestamp.format", Type: connect.ConfigString, Default: "yyyyMMdd", Importance: connect.High, Validator: validJavaLayout, Doc: "Format string for the timestamp that is compatible with java.text.SimpleDateFormat."})

// Config implements connect.Transformation.
func (t *TimestampRouter) Config() *connect.ConfigDef { return timestampRouterDef }

// Configure implements connect.Transformation.
func (t *TimestampRouter) Configure(props map[string]string) error {
	if _, err := parseConfig(timestampRouterDef, props); err != nil {
		return err
	}
	t.format = "${topic}-${timestamp}"
	if v, ok := props["topic.format"]; ok {
		t.format = v
	}
	tf := "yyyyMMdd"
	if v, ok := props["timestamp.format"]; ok {
		tf = v
	}
	var err error
	t.layout, err = javaLayout(tf)
	return err
}

// Apply implements connect.Transformation.
func (t *TimestampRouter) Apply(r *connect.Record) (*connect.Record, error) {
	if r.Timestamp.IsZero() {
		return nil, fmt.Errorf("%w: Timestamp missing on record: %s", ErrData, r.Topic)
	}
	out := r.Clone()
	out.Topic = strings.NewReplacer("${topic}", r.Topic, "${timestamp}", r.Timestamp.UTC().Format(t.layout)).Replace(t.format)
	return out, nil
}
