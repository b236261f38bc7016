package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregorhq/gregor/broker/meta"
)

// Resource types of DescribeConfigs and AlterConfigs.
const (
	resourceTopic        int8 = 2
	resourceBroker       int8 = 4
	resourceBrokerLogger int8 = 8
)

// configChange is one requested change of a resource's dynamic configs.
type configChange struct {
	op    int8 // 0 set, 1 delete, 2 append, 3 subtract
	name  string
	value *string
}

// Incremental config operations.
const (
	opSet      int8 = 0
	opDelete   int8 = 1
	opAppend   int8 = 2
	opSubtract int8 = 3
)

// applyChanges computes a new dynamic config map from current and changes.
// replace drops every config not named (legacy AlterConfigs).
func applyChanges(current map[string]string, changes []configChange, replace bool, listType func(string) bool) (map[string]string, error) {
	next := map[string]string{}
	if !replace {
		for k, v := range current {
			next[k] = v
		}
	}
	seen := map[string]bool{}
	for _, c := range changes {
		if seen[c.name] {
			return nil, fmt.Errorf("%w: config %s appears more than once in the request", meta.ErrInvalidConfig, c.name)
		}
		seen[c.name] = true
		switch c.op {
		case opSet:
			if c.value == nil {
				return nil, fmt.Errorf("%w: null value not supported for %s", meta.ErrInvalidConfig, c.name)
			}
			next[c.name] = *c.value
		case opDelete:
			delete(next, c.name)
		case opAppend, opSubtract:
			if !listType(c.name) {
				return nil, fmt.Errorf("%w: config %s is not a list; APPEND and SUBTRACT work on lists only", meta.ErrInvalidConfig, c.name)
			}
			if c.value == nil {
				return nil, fmt.Errorf("%w: null value not supported for %s", meta.ErrInvalidConfig, c.name)
			}
			next[c.name] = editList(next[c.name], *c.value, c.op == opAppend)
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d", meta.ErrInvalidConfig, c.op)
		}
	}
	return next, nil
}

// editList appends (skipping duplicates) or removes comma-separated items.
func editList(list, items string, add bool) string {
	have := splitList(list)
	for _, it := range splitList(items) {
		idx := slices.Index(have, it)
		switch {
		case add && idx < 0:
			have = append(have, it)
		case !add && idx >= 0:
			have = slices.Delete(have, idx, idx+1)
		}
	}
	return strings.Join(have, ",")
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func isTopicListConfig(name string) bool {
	d, ok := meta.LookupTopicConfig(name)
	return ok && d.Type == meta.TypeList
}

func isBrokerListConfig(name string) bool {
	d, ok := allBrokerConfigDefs[name]
	return ok && d.typ == meta.TypeList
}

// alterTopicConfigs validates and (unless validateOnly) installs a topic's
// new dynamic configs. They take effect at once on every partition.
func (b *Broker) alterTopicConfigs(name string, changes []configChange, replace, validateOnly bool) (*kerr.Error, string) {
	b.mu.RLock()
	t := b.topics[name]
	var current map[string]string
	if t != nil {
		current = t.dynamic
	}
	b.mu.RUnlock()
	if t == nil {
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("Topic %s does not exist.", name)
	}
	next, err := applyChanges(current, changes, replace, isTopicListConfig)
	if err != nil {
		return kerr.InvalidConfig, err.Error()
	}
	for k, v := range next {
		v := v
		if err := meta.ValidateTopicConfig(k, &v); err != nil {
			return kerr.InvalidConfig, err.Error()
		}
	}
	if validateOnly {
		return nil, ""
	}
	rec := meta.Record{Type: meta.RecordAlterConfigs, Topic: &meta.Topic{Name: name, Configs: next}}
	if err := b.propose(context.Background(), rec); err != nil {
		return metadataErrorCode(err), err.Error()
	}
	b.logger.Info("altered topic configs", "topic", name, "configs", next)
	return nil, ""
}

// refreshTopicSettings recomputes a topic's effective settings and pushes
// them to its logs. Callers hold b.mu.
func (b *Broker) refreshTopicSettings(t *topic) {
	s := b.settingsFor(t.dynamic)
	t.settings.Store(s)
	for _, p := range t.partitionList() {
		p.log.SetConfig(s.log)
	}
}

// alterBrokerConfigs changes the dynamic broker configs of a scope ("" is
// the cluster-wide default, otherwise this node's ID).
func (b *Broker) alterBrokerConfigs(scope string, changes []configChange, replace, validateOnly bool) (*kerr.Error, string) {
	if scope != "" && scope != strconv.Itoa(int(b.cfg.NodeID)) {
		return kerr.InvalidRequest, fmt.Sprintf("Unexpected broker id, expected %d or empty string, but received %s", b.cfg.NodeID, scope)
	}
	dyn := b.dynamicBroker()
	current := dyn.clusterDefault
	if scope != "" {
		current = dyn.perBroker
	}
	next, err := applyChanges(current, changes, replace, isBrokerListConfig)
	if err != nil {
		return kerr.InvalidConfig, err.Error()
	}
	for k, v := range next {
		d, ok := allBrokerConfigDefs[k]
		if !ok {
			return kerr.InvalidConfig, fmt.Sprintf("Unknown broker config %s", k)
		}
		if !d.dynamic {
			return kerr.InvalidConfig, fmt.Sprintf("Cannot update these configs dynamically: [%s]", k)
		}
		if td, ok := topicDefForSynonym(k); ok {
			tv, _, _ := lookupSynonym(map[string]string{k: v}, []string{k})
			if err := td.Validate(tv); err != nil {
				return kerr.InvalidConfig, err.Error()
			}
		} else if _, err := strconv.ParseInt(v, 10, 64); d.typ == meta.TypeInt && err != nil {
			return kerr.InvalidConfig, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type INT", v, k)
		} else if n, err := strconv.ParseInt(v, 10, 64); d.typ == meta.TypeLong && (err != nil || n < 0) {
			return kerr.InvalidConfig, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type LONG, at least 0", v, k)
		}
	}
	if validateOnly {
		return nil, ""
	}
	rec := meta.Record{Type: meta.RecordBrokerConfigs, BrokerScope: scope, BrokerConfigs: next}
	if err := b.propose(context.Background(), rec); err != nil {
		return metadataErrorCode(err), err.Error()
	}
	b.logger.Info("altered broker configs", "scope", scope, "configs", next)
	return nil, ""
}
