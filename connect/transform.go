package connect

import (
	"fmt"
	"strings"
	"time"
)

// Record is a record as single message transformations and predicates see
// it: the parts Kafka Connect's ConnectRecord shares between source and
// sink records. The worker copies a SourceRecord or SinkRecord into a
// Record, runs the transformation chain over it and copies the result
// back.
type Record struct {
	Topic string
	// Partition is the Kafka partition, or nil when not chosen.
	Partition *int32
	// Offset is a sink record's Kafka offset; nil for source records.
	Offset      *int64
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	Timestamp   time.Time
	Headers     []Header
}

// Clone returns a shallow copy of r with its own header slice, so that a
// transformation can change fields and headers without touching its
// input.
func (r *Record) Clone() *Record {
	c := *r
	c.Headers = append([]Header(nil), r.Headers...)
	return &c
}

// Transformation is a single message transform (Kafka Connect's
// org.apache.kafka.connect.transforms.Transformation).
type Transformation interface {
	// Config describes the transformation's configuration keys; the worker
	// validates transforms.<alias>.* against it when a connector is
	// created.
	Config() *ConfigDef
	// Configure configures the transformation with its own properties
	// (the worker strips the "transforms.<alias>." prefix).
	Configure(props map[string]string) error
	// Apply returns the transformed record, or nil to drop it. It must not
	// modify r (use r.Clone).
	Apply(r *Record) (*Record, error)
}

// Predicate decides whether a transformation applies to a record (Kafka
// Connect's org.apache.kafka.connect.transforms.predicates.Predicate).
type Predicate interface {
	// Config describes the predicate's configuration keys.
	Config() *ConfigDef
	// Configure configures the predicate with its own properties (the
	// "predicates.<alias>." prefix stripped).
	Configure(props map[string]string) error
	// Test reports whether r matches.
	Test(r *Record) bool
}

// Plugin kinds of transformations and predicates.
const (
	PluginTransformation PluginType = "transformation"
	PluginPredicate      PluginType = "predicate"
)

// RegisterTransformation registers a transformation constructor in
// DefaultRegistry under its class name and aliases; it panics on a
// duplicate class name.
func RegisterTransformation(class string, newT func() Transformation, aliases ...string) {
	if err := DefaultRegistry.AddTransformation(class, newT, aliases...); err != nil {
		panic(err)
	}
}

// RegisterPredicate registers a predicate constructor in DefaultRegistry.
func RegisterPredicate(class string, newP func() Predicate, aliases ...string) {
	if err := DefaultRegistry.AddPredicate(class, newP, aliases...); err != nil {
		panic(err)
	}
}

// AddTransformation registers a transformation; the simple class name
// (InsertField$Value) is an alias too.
func (r *Registry) AddTransformation(class string, newT func() Transformation, aliases ...string) error {
	p := &plugin{info: PluginInfo{Class: class, Type: PluginTransformation, Version: Version}, newTransformation: newT}
	return r.add(p, "", aliases)
}

// AddPredicate registers a predicate; the simple class name is an alias
// too.
func (r *Registry) AddPredicate(class string, newP func() Predicate, aliases ...string) error {
	p := &plugin{info: PluginInfo{Class: class, Type: PluginPredicate, Version: Version}, newPredicate: newP}
	return r.add(p, "", aliases)
}

// NewTransformation instantiates the transformation registered under name.
func (r *Registry) NewTransformation(name string) (Transformation, error) {
	p, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	if p.newTransformation == nil {
		return nil, fmt.Errorf("%w: %s is a %s, not a transformation", ErrUnknownPlugin, name, p.info.Type)
	}
	return p.newTransformation(), nil
}

// NewPredicate instantiates the predicate registered under name.
func (r *Registry) NewPredicate(name string) (Predicate, error) {
	p, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	if p.newPredicate == nil {
		return nil, fmt.Errorf("%w: %s is a %s, not a predicate", ErrUnknownPlugin, name, p.info.Type)
	}
	return p.newPredicate(), nil
}

// Connector configuration names of transformations and predicates.
const (
	PredicatesConfig      = "predicates"
	transformPrefix       = "transforms."
	predicatePrefix       = "predicates."
	typeSuffix            = ".type"
	predicateSuffix       = ".predicate"
	negateSuffix          = ".negate"
	predicatesGroup       = "Predicates"
	transformAliasMissing = "Transformation alias %s has no type"
)

// transformStage is one configured transformation of a chain.
type transformStage struct {
	alias  string
	class  string
	t      Transformation
	pred   Predicate
	negate bool
}

// transformChain is a connector's configured transformations, in order.
type transformChain []transformStage

// buildTransformChain instantiates and configures the transformations and
// predicates named in a connector configuration.
func buildTransformChain(reg *Registry, cfg map[string]string) (transformChain, error) {
	preds := map[string]Predicate{}
	for _, alias := range SplitList(cfg[PredicatesConfig]) {
		prefix := predicatePrefix + alias + "."
		class := strings.TrimSpace(cfg[prefix+"type"])
		p, err := reg.NewPredicate(class)
		if err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		if err := p.Configure(SubProps(cfg, prefix)); err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = p
	}
	var chain transformChain
	for _, alias := range SplitList(cfg[TransformsConfig]) {
		prefix := transformPrefix + alias + "."
		class := strings.TrimSpace(cfg[prefix+"type"])
		t, err := reg.NewTransformation(class)
		if err != nil {
			return nil, fmt.Errorf("transformation %s: %w", alias, err)
		}
		if err := t.Configure(SubProps(cfg, prefix)); err != nil {
			return nil, fmt.Errorf("transformation %s: %w", alias, err)
		}
		st := transformStage{alias: alias, class: class, t: t, negate: strings.EqualFold(strings.TrimSpace(cfg[prefix+"negate"]), "true")}
		if pa := strings.TrimSpace(cfg[prefix+"predicate"]); pa != "" {
			p, ok := preds[pa]
			if !ok {
				return nil, fmt.Errorf("transformation %s: %w: predicate %q is not defined in %s", alias, ErrInvalidConfig, pa, PredicatesConfig)
			}
			st.pred = p
		}
		chain = append(chain, st)
	}
	return chain, nil
}

// TransformError is a transformation's failure on a record; it names the
// stage for error reporting.
type TransformError struct {
	Alias string
	Class string
	Err   error
}

// Error implements error.
func (e *TransformError) Error() string {
	return fmt.Sprintf("transformation %s (%s): %v", e.Alias, e.Class, e.Err)
}

// Unwrap returns the transformation's error.
func (e *TransformError) Unwrap() error { return e.Err }

// apply runs the chain; a nil record means a transformation dropped it.
func (c transformChain) apply(r *Record) (*Record, error) {
	for _, st := range c {
		if r == nil {
			return nil, nil
		}
		if st.pred != nil && st.pred.Test(r) == st.negate {
			continue
		}
		out, err := safeApply(st.t, r)
		if err != nil {
			return nil, &TransformError{Alias: st.alias, Class: st.class, Err: err}
		}
		r = out
	}
	return r, nil
}

func safeApply(t Transformation, r *Record) (out *Record, err error) {
	err = safeCall(func() error {
		var e error
		out, e = t.Apply(r)
		return e
	})
	return out, err
}

// transformsDef returns the configuration keys that a connector
// configuration's transforms and predicates add (transforms.<alias>.type,
// .predicate, .negate and the transformation's own keys, prefixed), as
// Kafka Connect's enriched ConnectorConfig does.
func transformsDef(reg *Registry, cfg map[string]string) *ConfigDef {
	d := NewConfigDef()
	predAliases := SplitList(cfg[PredicatesConfig])
	definedPred := map[string]bool{}
	for _, a := range predAliases {
		definedPred[a] = true
	}
	for i, alias := range SplitList(cfg[TransformsConfig]) {
		prefix := transformPrefix + alias + "."
		group := "Transforms: " + alias
		props := SubProps(cfg, prefix)
		d.Define(ConfigKey{Name: prefix + "type", Type: ConfigClass, Required: true, Importance: High, Group: group, OrderInGroup: i*3 + 1,
			DisplayName: "Transformation type for " + alias, Doc: "Class for the '" + alias + "' transformation.",
			Validator: pluginValidator(func(class string) error {
				t, err := reg.NewTransformation(class)
				if err != nil {
					return fmt.Errorf("Class %s could not be found or is not a transformation", class)
				}
				if t.Config() != nil && ErrorCount(t.Config().Validate(props)) > 0 {
					return nil // reported against the keys themselves
				}
				return t.Configure(props)
			})})
		d.Define(ConfigKey{Name: prefix + "predicate", Type: ConfigString, Importance: Medium, Group: group, OrderInGroup: i*3 + 2,
			DisplayName: "Predicate for " + alias, Doc: "The alias of a predicate used to determine whether to apply this transformation.",
			Validator: func(v string) error {
				if v = strings.TrimSpace(v); v != "" && !definedPred[v] {
					return fmt.Errorf("predicate %q is not defined in %s", v, PredicatesConfig)
				}
				return nil
			}})
		d.Define(ConfigKey{Name: prefix + "negate", Type: ConfigBoolean, Default: "false", Importance: Medium, Group: group, OrderInGroup: i*3 + 3,
			DisplayName: "Negate predicate for " + alias, Doc: "Whether the configured predicate should be negated."})
		if t, err := reg.NewTransformation(props["type"]); err == nil && t.Config() != nil {
			for _, k := range t.Config().Keys() {
				k.Name = prefix + k.Name
				k.Group = group
				d.Define(k)
			}
		}
	}
	for i, alias := range predAliases {
		prefix := predicatePrefix + alias + "."
		group := "Predicates: " + alias
		props := SubProps(cfg, prefix)
		d.Define(ConfigKey{Name: prefix + "type", Type: ConfigClass, Required: true, Importance: High, Group: group, OrderInGroup: i + 1,
			DisplayName: "Predicate type for " + alias, Doc: "Class for the '" + alias + "' predicate.",
			Validator: pluginValidator(func(class string) error {
				p, err := reg.NewPredicate(class)
				if err != nil {
					return fmt.Errorf("Class %s could not be found or is not a predicate", class)
				}
				if p.Config() != nil && ErrorCount(p.Config().Validate(props)) > 0 {
					return nil
				}
				return p.Configure(props)
			})})
		if p, err := reg.NewPredicate(props["type"]); err == nil && p.Config() != nil {
			for _, k := range p.Config().Keys() {
				k.Name = prefix + k.Name
				k.Group = group
				d.Define(k)
			}
		}
	}
	return d
}

func pluginValidator(check func(class string) error) func(string) error {
	return func(v string) error { return check(strings.TrimSpace(v)) }
}

func sourceToRecord(s *SourceRecord) *Record {
	return &Record{Topic: s.Topic, Partition: s.Partition, KeySchema: s.KeySchema, Key: s.Key, ValueSchema: s.ValueSchema,
		Value: s.Value, Timestamp: s.Timestamp, Headers: s.Headers}
}

func recordToSource(orig *SourceRecord, r *Record) *SourceRecord {
	return &SourceRecord{SourcePartition: orig.SourcePartition, SourceOffset: orig.SourceOffset, Topic: r.Topic, Partition: r.Partition,
		KeySchema: r.KeySchema, Key: r.Key, ValueSchema: r.ValueSchema, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
}

func sinkToRecord(s *SinkRecord) *Record {
	p, o := s.Partition, s.Offset
	return &Record{Topic: s.Topic, Partition: &p, Offset: &o, KeySchema: s.KeySchema, Key: s.Key, ValueSchema: s.ValueSchema,
		Value: s.Value, Timestamp: s.Timestamp, Headers: s.Headers}
}

func recordToSink(orig *SinkRecord, r *Record) *SinkRecord {
	out := &SinkRecord{Topic: r.Topic, Partition: orig.Partition, Offset: orig.Offset, KeySchema: r.KeySchema, Key: r.Key,
		ValueSchema: r.ValueSchema, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
	if r.Partition != nil {
		out.Partition = *r.Partition
	}
	return out
}
