package runtime

import (
	"fmt"
	"github.com/gregorhq/gregor/connect"
	"strings"
)

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
	t      connect.Transformation
	pred   connect.Predicate
	negate bool
}

// transformChain is a connector's configured transformations, in order.
type transformChain []transformStage

// buildTransformChain instantiates and configures the transformations and
// predicates named in a connector configuration.
func buildTransformChain(reg *connect.Registry, cfg map[string]string) (transformChain, error) {
	preds := map[string]connect.Predicate{}
	for _, alias := range connect.SplitList(cfg[PredicatesConfig]) {
		prefix := predicatePrefix + alias + "."
		class := strings.TrimSpace(cfg[prefix+"type"])
		p, err := reg.NewPredicate(class)
		if err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		if err := p.Configure(connect.SubProps(cfg, prefix)); err != nil {
			return nil, fmt.Errorf("predicate %s: %w", alias, err)
		}
		preds[alias] = p
	}
	var chain transformChain
	for _, alias := range connect.SplitList(cfg[TransformsConfig]) {
		prefix := transformPrefix + alias + "."
		class := strings.TrimSpace(cfg[prefix+"type"])
		t, err := reg.NewTransformation(class)
		if err != nil {
			return nil, fmt.Errorf("transformation %s: %w", alias, err)
		}
		if err := t.Configure(connect.SubProps(cfg, prefix)); err != nil {
			return nil, fmt.Errorf("transformation %s: %w", alias, err)
		}
		st := transformStage{alias: alias, class: class, t: t, negate: strings.EqualFold(strings.TrimSpace(cfg[prefix+"negate"]), "true")}
		if pa := strings.TrimSpace(cfg[prefix+"predicate"]); pa != "" {
			p, ok := preds[pa]
			if !ok {
				return nil, fmt.Errorf("transformation %s: %w: predicate %q is not defined in %s", alias, connect.ErrInvalidConfig, pa, PredicatesConfig)
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
func (c transformChain) apply(r *connect.Record) (*connect.Record, error) {
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

func safeApply(t connect.Transformation, r *connect.Record) (out *connect.Record, err error) {
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
func transformsDef(reg *connect.Registry, cfg map[string]string) *connect.ConfigDef {
	d := connect.NewConfigDef()
	predAliases := connect.SplitList(cfg[PredicatesConfig])
	definedPred := map[string]bool{}
	for _, a := range predAliases {
		definedPred[a] = true
	}
	for i, alias := range connect.SplitList(cfg[TransformsConfig]) {
		prefix := transformPrefix + alias + "."
		group := "Transforms: " + alias
		props := connect.SubProps(cfg, prefix)
		d.Define(connect.ConfigKey{Name: prefix + "type", Type: connect.ConfigClass, Required: true, Importance: connect.High, Group: group, OrderInGroup: i*3 + 1,
			DisplayName: "Transformation type for " + alias, Doc: "Class for the '" + alias + "' transformation.",
			Validator: pluginValidator(func(class string) error {
				t, err := reg.NewTransformation(class)
				if err != nil {
					return fmt.Errorf("Class %s could not be found or is not a transformation", class)
				}
				if t.Config() != nil && connect.ErrorCount(t.Config().Validate(props)) > 0 {
					return nil // reported against the keys themselves
				}
				return t.Configure(props)
			})})
		d.Define(connect.ConfigKey{Name: prefix + "predicate", Type: connect.ConfigString, Importance: connect.Medium, Group: group, OrderInGroup: i*3 + 2,
			DisplayName: "Predicate for " + alias, Doc: "The alias of a predicate used to determine whether to apply this transformation.",
			Validator: func(v string) error {
				if v = strings.TrimSpace(v); v != "" && !definedPred[v] {
					return fmt.Errorf("predicate %q is not defined in %s", v, PredicatesConfig)
				}
				return nil
			}})
		d.Define(connect.ConfigKey{Name: prefix + "negate", Type: connect.ConfigBoolean, Default: "false", Importance: connect.Medium, Group: group, OrderInGroup: i*3 + 3,
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
		props := connect.SubProps(cfg, prefix)
		d.Define(connect.ConfigKey{Name: prefix + "type", Type: connect.ConfigClass, Required: true, Importance: connect.High, Group: group, OrderInGroup: i + 1,
			DisplayName: "Predicate type for " + alias, Doc: "Class for the '" + alias + "' predicate.",
			Validator: pluginValidator(func(class string) error {
				p, err := reg.NewPredicate(class)
				if err != nil {
					return fmt.Errorf("Class %s could not be found or is not a predicate", class)
				}
				if p.Config() != nil && connect.ErrorCount(p.Config().Validate(props)) > 0 {
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

func sourceToRecord(s *connect.SourceRecord) *connect.Record {
	return &connect.Record{Topic: s.Topic, Partition: s.Partition, KeySchema: s.KeySchema, Key: s.Key, ValueSchema: s.ValueSchema,
		Value: s.Value, Timestamp: s.Timestamp, Headers: s.Headers}
}

func recordToSource(orig *connect.SourceRecord, r *connect.Record) *connect.SourceRecord {
	return &connect.SourceRecord{SourcePartition: orig.SourcePartition, SourceOffset: orig.SourceOffset, Topic: r.Topic, Partition: r.Partition,
		KeySchema: r.KeySchema, Key: r.Key, ValueSchema: r.ValueSchema, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
}

func sinkToRecord(s *connect.SinkRecord) *connect.Record {
	p, o := s.Partition, s.Offset
	return &connect.Record{Topic: s.Topic, Partition: &p, Offset: &o, KeySchema: s.KeySchema, Key: s.Key, ValueSchema: s.ValueSchema,
		Value: s.Value, Timestamp: s.Timestamp, Headers: s.Headers}
}

func recordToSink(orig *connect.SinkRecord, r *connect.Record) *connect.SinkRecord {
	out := &connect.SinkRecord{Topic: r.Topic, Partition: orig.Partition, Offset: orig.Offset, KeySchema: r.KeySchema, Key: r.Key,
		ValueSchema: r.ValueSchema, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
	if r.Partition != nil {
		out.Partition = *r.Partition
	}
	return out
}
