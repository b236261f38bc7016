package connect

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Converter turns Connect data into the bytes of a Kafka record key or
// value, and back.
type Converter interface {
	// Configure configures the converter; props are the converter's own
	// settings (the worker strips the "key.converter." or
	// "value.converter." prefix).
	Configure(props map[string]string, isKey bool) error
	// FromConnectData serializes value (described by schema, which may be
	// nil for schemaless data).
	FromConnectData(topic string, schema *Schema, value any) ([]byte, error)
	// ToConnectData deserializes data; nil data is a null value.
	ToConnectData(topic string, data []byte) (*Schema, any, error)
}

// AppendingConverter is implemented by converters that can serialize into
// the caller's buffer: a source task then encodes a whole poll's keys and
// values into a few shared allocations instead of one per record.
type AppendingConverter interface {
	// AppendFromConnectData appends what FromConnectData would return to
	// dst and returns the extended buffer; null reports that
	// FromConnectData would return nil (nothing is appended then).
	AppendFromConnectData(dst []byte, topic string, schema *Schema, value any) (b []byte, null bool, err error)
}

// PluginType is the kind of a plugin, as the REST API names it.
type PluginType string

// Plugin kinds.
const (
	PluginSource    PluginType = "source"
	PluginSink      PluginType = "sink"
	PluginConverter PluginType = "converter"
)

// PluginInfo describes a registered plugin.
type PluginInfo struct {
	Class   string
	Type    PluginType
	Version string
	Aliases []string
}

// ErrUnknownPlugin is returned (wrapped) for a class name or alias that is
// not registered.
var ErrUnknownPlugin = errors.New("unknown plugin")

type plugin struct {
	info         PluginInfo
	newConnector func() Connector
	newConverter func() Converter

	newTransformation func() Transformation
	newPredicate      func() Predicate
}

// Registry holds the plugins a worker can instantiate, by class name and by
// alias. Connectors are Go code compiled into the binary: a connector
// package registers itself in DefaultRegistry from an init function, and a
// program imports the package (for its side effect) to make it available.
type Registry struct {
	mu      sync.RWMutex
	byName  map[string]*plugin
	plugins []*plugin
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*plugin{}} }

// DefaultRegistry is the registry that built-in plugins register into.
var DefaultRegistry = NewRegistry()

// RegisterConnector registers a connector constructor in DefaultRegistry
// under its class name and aliases; it panics on a duplicate class name.
func RegisterConnector(class string, newConnector func() Connector, aliases ...string) {
	if err := DefaultRegistry.AddConnector(class, newConnector, aliases...); err != nil {
		panic(err)
	}
}

// RegisterConverter registers a converter constructor in DefaultRegistry.
func RegisterConverter(class string, newConverter func() Converter, aliases ...string) {
	if err := DefaultRegistry.AddConverter(class, newConverter, aliases...); err != nil {
		panic(err)
	}
}

// AddConnector registers a connector. Besides the given aliases, the simple
// class name and the simple name without its "Connector" suffix are aliases
// too (FileStreamSourceConnector, FileStreamSource), as in Kafka Connect.
func (r *Registry) AddConnector(class string, newConnector func() Connector, aliases ...string) error {
	c := newConnector()
	p := &plugin{info: PluginInfo{Class: class, Version: c.Version()}, newConnector: newConnector}
	switch c.(type) {
	case SourceConnector:
		p.info.Type = PluginSource
	case SinkConnector:
		p.info.Type = PluginSink
	default:
		return fmt.Errorf("connect: %s is neither a SourceConnector nor a SinkConnector", class)
	}
	return r.add(p, "Connector", aliases)
}

// AddConverter registers a converter, with aliases as for AddConnector
// (suffix "Converter").
func (r *Registry) AddConverter(class string, newConverter func() Converter, aliases ...string) error {
	p := &plugin{info: PluginInfo{Class: class, Type: PluginConverter, Version: Version}, newConverter: newConverter}
	return r.add(p, "Converter", aliases)
}

func (r *Registry) add(p *plugin, suffix string, aliases []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.byName[p.info.Class]; dup {
		return fmt.Errorf("connect: plugin %s registered twice", p.info.Class)
	}
	simple := p.info.Class[strings.LastIndex(p.info.Class, ".")+1:]
	names := append([]string{simple, strings.TrimSuffix(simple, suffix)}, aliases...)
	r.byName[p.info.Class] = p
	for _, n := range names {
		if n == "" || n == p.info.Class {
			continue
		}
		if _, taken := r.byName[n]; taken {
			continue // ambiguous: the first registration keeps the alias
		}
		r.byName[n] = p
		p.info.Aliases = append(p.info.Aliases, n)
	}
	r.plugins = append(r.plugins, p)
	return nil
}

func (r *Registry) lookup(name string) (*plugin, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.byName[strings.TrimSpace(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPlugin, name)
	}
	return p, nil
}

// Lookup returns the plugin registered under a class name or alias.
func (r *Registry) Lookup(name string) (PluginInfo, error) {
	p, err := r.lookup(name)
	if err != nil {
		return PluginInfo{}, err
	}
	return p.info, nil
}

// NewConnector instantiates the connector registered under name.
func (r *Registry) NewConnector(name string) (Connector, error) {
	p, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	if p.newConnector == nil {
		return nil, fmt.Errorf("%w: %s is a %s, not a connector", ErrUnknownPlugin, name, p.info.Type)
	}
	return p.newConnector(), nil
}

// NewConverter instantiates the converter registered under name.
func (r *Registry) NewConverter(name string) (Converter, error) {
	p, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	if p.newConverter == nil {
		return nil, fmt.Errorf("%w: %s is a %s, not a converter", ErrUnknownPlugin, name, p.info.Type)
	}
	return p.newConverter(), nil
}

// Plugins lists the registered plugins, sorted by class name.
func (r *Registry) Plugins() []PluginInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]PluginInfo, 0, len(r.plugins))
	for _, p := range r.plugins {
		out = append(out, p.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

// Version is the version Gregor's Connect runtime and built-in plugins
// report.
const Version = "3.9.0-gregor"
