package connect

import (
	"fmt"
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
