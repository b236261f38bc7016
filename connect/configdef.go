package connect

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ConfigType is the type of a configuration key, as Kafka names it.
type ConfigType string

// Configuration types.
const (
	ConfigBoolean  ConfigType = "BOOLEAN"
	ConfigString   ConfigType = "STRING"
	ConfigInt      ConfigType = "INT"
	ConfigShort    ConfigType = "SHORT"
	ConfigLong     ConfigType = "LONG"
	ConfigDouble   ConfigType = "DOUBLE"
	ConfigList     ConfigType = "LIST"
	ConfigClass    ConfigType = "CLASS"
	ConfigPassword ConfigType = "PASSWORD"
)

// Importance says how much a user should care about a key.
type Importance string

// Importance levels.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// ErrInvalidConfig is returned (wrapped) for a configuration that does not
// validate.
var ErrInvalidConfig = errors.New("invalid configuration")

// ConfigKey defines one configuration key.
type ConfigKey struct {
	Name string
	Type ConfigType
	// Default is the default value in property syntax; it is ignored when
	// Required is set.
	Default    string
	Required   bool
	Importance Importance
	Doc        string
	Group      string
	// OrderInGroup orders keys for display; 0 means "in definition order".
	OrderInGroup int
	Width        string // NONE, SHORT, MEDIUM, LONG
	DisplayName  string
	Dependents   []string
	// Recommended values, shown by validation.
	Recommended []string
	// Validator checks a present, well-typed value.
	Validator func(value string) error
}

// ConfigDef is an ordered set of configuration keys.
type ConfigDef struct {
	keys []ConfigKey
}

// NewConfigDef returns an empty definition.
func NewConfigDef() *ConfigDef { return &ConfigDef{} }

// Define adds a key (replacing one of the same name) and returns d.
func (d *ConfigDef) Define(k ConfigKey) *ConfigDef {
	if k.Width == "" {
		k.Width = "NONE"
	}
	if k.DisplayName == "" {
		k.DisplayName = k.Name
	}
	for i := range d.keys {
		if d.keys[i].Name == k.Name {
			d.keys[i] = k
			return d
		}
	}
	d.keys = append(d.keys, k)
	return d
}

// Merge returns a new definition with the keys of d followed by those of
// o.
func (d *ConfigDef) Merge(o *ConfigDef) *ConfigDef {
	n := &ConfigDef{keys: slices.Clone(d.keys)}
	if o != nil {
		for _, k := range o.keys {
			n.Define(k)
		}
	}
	return n
}

// Keys returns the keys in definition order.
func (d *ConfigDef) Keys() []ConfigKey { return slices.Clone(d.keys) }

// Key returns the named key.
func (d *ConfigDef) Key(name string) (ConfigKey, bool) {
	for _, k := range d.keys {
		if k.Name == name {
			return k, true
		}
	}
	return ConfigKey{}, false
}

// ConfigValue is the result of validating one key.
type ConfigValue struct {
	Name              string
	Value             *string
	RecommendedValues []string
	Errors            []string
	Visible           bool
}

// Validate validates props against every key and returns one ConfigValue
// per key, in definition order.
func (d *ConfigDef) Validate(props map[string]string) []ConfigValue {
	out := make([]ConfigValue, 0, len(d.keys))
	for _, k := range d.keys {
		cv := ConfigValue{Name: k.Name, Visible: true, RecommendedValues: k.Recommended}
		v, ok := props[k.Name]
		if ok {
			vv := v
			cv.Value = &vv
		} else if !k.Required {
			vv := k.Default
			cv.Value = &vv
		}
		switch {
		case !ok && k.Required:
			cv.Errors = append(cv.Errors, fmt.Sprintf("Missing required configuration %q which has no default value.", k.Name))
		case ok || k.Default != "":
			if err := checkValue(k, *cv.Value); err != nil {
				cv.Errors = append(cv.Errors, err.Error())
			}
		}
		if k.Type == ConfigPassword && cv.Value != nil && *cv.Value != "" {
			hidden := "[hidden]"
			cv.Value = &hidden
		}
		out = append(out, cv)
	}
	return out
}

func checkValue(k ConfigKey, v string) error {
	if err := checkType(k.Type, v); err != nil {
		return fmt.Errorf("Invalid value %s for configuration %s: %w", v, k.Name, err)
	}
	if k.Validator != nil {
		if err := k.Validator(v); err != nil {
			return fmt.Errorf("Invalid value %s for configuration %s: %w", v, k.Name, err)
		}
	}
	return nil
}

func checkType(t ConfigType, v string) error {
	v = strings.TrimSpace(v)
	var err error
	switch t {
	case ConfigBoolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			err = errors.New("Expected value to be either true or false")
		}
	case ConfigInt:
		_, err = strconv.ParseInt(v, 10, 32)
	case ConfigShort:
		_, err = strconv.ParseInt(v, 10, 16)
	case ConfigLong:
		_, err = strconv.ParseInt(v, 10, 64)
	case ConfigDouble:
		_, err = strconv.ParseFloat(v, 64)
	}
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return fmt.Errorf("Not a number of type %s", t)
		}
	}
	return err
}

// ErrorCount returns the number of errors across values.
func ErrorCount(values []ConfigValue) int {
	n := 0
	for _, v := range values {
		n += len(v.Errors)
	}
	return n
}

// ValidationError is returned when a configuration fails validation; it
// wraps ErrInvalidConfig and lists every error.
type ValidationError struct {
	// Plugin is the connector class being configured.
	Plugin string
	Values []ConfigValue
}

// Error lists the errors the way Kafka Connect's REST API does.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Connector configuration is invalid and contains the following %d error(s):", ErrorCount(e.Values))
	for _, v := range e.Values {
		for _, msg := range v.Errors {
			b.WriteString("\n" + msg)
		}
	}
	fmt.Fprintf(&b, "\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`")
	return b.String()
}

// Unwrap returns ErrInvalidConfig.
func (e *ValidationError) Unwrap() error { return ErrInvalidConfig }

// Config is a parsed configuration: typed access to validated properties
// with defaults applied.
type Config struct {
	def   *ConfigDef
	props map[string]string
}

// Parse validates props and returns typed access to them.
func (d *ConfigDef) Parse(props map[string]string) (*Config, error) {
	vals := d.Validate(props)
	if ErrorCount(vals) > 0 {
		return nil, &ValidationError{Values: vals}
	}
	return &Config{def: d, props: props}, nil
}

func (c *Config) raw(name string) string {
	if v, ok := c.props[name]; ok {
		return strings.TrimSpace(v)
	}
	k, _ := c.def.Key(name)
	return k.Default
}

// String returns a string key's value.
func (c *Config) String(name string) string { return c.raw(name) }

// Int returns an INT, SHORT or LONG key's value.
func (c *Config) Int(name string) int64 {
	n, _ := strconv.ParseInt(c.raw(name), 10, 64)
	return n
}

// Float returns a DOUBLE key's value.
func (c *Config) Float(name string) float64 {
	f, _ := strconv.ParseFloat(c.raw(name), 64)
	return f
}

// Bool returns a BOOLEAN key's value.
func (c *Config) Bool(name string) bool { return strings.EqualFold(c.raw(name), "true") }

// List returns a LIST key's comma-separated values, trimmed, without
// empties.
func (c *Config) List(name string) []string { return SplitList(c.raw(name)) }

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NonEmptyString is a Validator that rejects empty or blank values.
func NonEmptyString(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("String must be non-empty")
	}
	return nil
}

// AtLeast returns a Validator for numbers >= min.
func AtLeast(min float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < min {
			return fmt.Errorf("Value must be at least %v", min)
		}
		return nil
	}
}

// OneOf returns a Validator that accepts only the listed values
// (case-insensitively).
func OneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, a := range vals {
			if strings.EqualFold(strings.TrimSpace(v), a) {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(vals, ", "))
	}
}

// SubProps returns the properties under prefix, with the prefix removed.
func SubProps(props map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range props {
		if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" {
			out[rest] = v
		}
	}
	return out
}
