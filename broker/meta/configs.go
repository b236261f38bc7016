package meta

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ConfigType is the type of a config value, named as Kafka's DescribeConfigs
// reports it (BOOLEAN, STRING, INT, LONG, DOUBLE, LIST ...).
type ConfigType int8

// Config value types, numbered as in Kafka's DescribeConfigs v3+.
const (
	TypeBoolean ConfigType = 1
	TypeString  ConfigType = 2
	TypeInt     ConfigType = 3
	TypeShort   ConfigType = 4
	TypeLong    ConfigType = 5
	TypeDouble  ConfigType = 6
	TypeList    ConfigType = 7
	TypeClass   ConfigType = 8
	TypePass    ConfigType = 9
)

// ErrInvalidConfig is wrapped by every config validation failure; the broker
// answers it with INVALID_CONFIG and the error's text.
var ErrInvalidConfig = errors.New("invalid config")

// TopicConfigDef describes one topic-level config.
type TopicConfigDef struct {
	Name    string
	Type    ConfigType
	Default string
	// BrokerSynonyms are the broker properties that set this config's
	// default, most specific first (log.retention.ms before .hours).
	BrokerSynonyms []string
	// Min and Max bound numeric values (inclusive) when HasRange.
	HasRange bool
	Min, Max float64
	// OneOf lists the allowed values (for a list, of each element).
	OneOf []string
	Doc   string
}

const maxLong = "9223372036854775807"

// TopicConfigDefs are every topic config Kafka 4.x defines, with Kafka's
// defaults except where DESIGN.md fixes single-node defaults.
var TopicConfigDefs = []TopicConfigDef{
	{Name: "cleanup.policy", Type: TypeList, Default: "delete", BrokerSynonyms: []string{"log.cleanup.policy"}, OneOf: []string{"delete", "compact"}, Doc: "delete and/or compact old segments"},
	{Name: "compression.type", Type: TypeString, Default: "producer", BrokerSynonyms: []string{"compression.type"}, OneOf: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}, Doc: "final compression of the topic's data"},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", BrokerSynonyms: []string{"compression.gzip.level"}, HasRange: true, Min: -1, Max: 9},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", BrokerSynonyms: []string{"compression.lz4.level"}, HasRange: true, Min: 1, Max: 17},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", BrokerSynonyms: []string{"compression.zstd.level"}, HasRange: true, Min: -131072, Max: 22},
	{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", BrokerSynonyms: []string{"log.cleaner.delete.retention.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", BrokerSynonyms: []string{"log.segment.delete.delay.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "flush.messages", Type: TypeLong, Default: maxLong, BrokerSynonyms: []string{"log.flush.interval.messages"}, HasRange: true, Min: 1, Max: math.MaxInt64},
	{Name: "flush.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: []string{"log.flush.interval.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: ""},
	{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", BrokerSynonyms: []string{"log.index.interval.bytes"}, HasRange: true, Min: 0, Max: math.MaxInt32},
	{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: ""},
	{Name: "local.retention.bytes", Type: TypeLong, Default: "-2", BrokerSynonyms: []string{"log.local.retention.bytes"}, HasRange: true, Min: -2, Max: math.MaxInt64},
	{Name: "local.retention.ms", Type: TypeLong, Default: "-2", BrokerSynonyms: []string{"log.local.retention.ms"}, HasRange: true, Min: -2, Max: math.MaxInt64},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: []string{"log.cleaner.max.compaction.lag.ms"}, HasRange: true, Min: 1, Max: math.MaxInt64},
	{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", BrokerSynonyms: []string{"message.max.bytes"}, HasRange: true, Min: 0, Max: math.MaxInt32},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", BrokerSynonyms: []string{"log.message.timestamp.after.max.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: []string{"log.message.timestamp.before.max.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", BrokerSynonyms: []string{"log.message.timestamp.type"}, OneOf: []string{"CreateTime", "LogAppendTime"}},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerSynonyms: []string{"log.cleaner.min.cleanable.ratio"}, HasRange: true, Min: 0, Max: 1},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", BrokerSynonyms: []string{"log.cleaner.min.compaction.lag.ms"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", BrokerSynonyms: []string{"min.insync.replicas"}, HasRange: true, Min: 1, Max: math.MaxInt32},
	{Name: "preallocate", Type: TypeBoolean, Default: "false", BrokerSynonyms: []string{"log.preallocate"}},
	{Name: "remote.log.copy.disable", Type: TypeBoolean, Default: "false"},
	{Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: "false"},
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: "false"},
	{Name: "retention.bytes", Type: TypeLong, Default: "-1", BrokerSynonyms: []string{"log.retention.bytes"}, HasRange: true, Min: math.MinInt64, Max: math.MaxInt64},
	{Name: "retention.ms", Type: TypeLong, Default: "604800000", BrokerSynonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}, HasRange: true, Min: -1, Max: math.MaxInt64},
	{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", BrokerSynonyms: []string{"log.segment.bytes"}, HasRange: true, Min: 14, Max: math.MaxInt32},
	{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", BrokerSynonyms: []string{"log.index.size.max.bytes"}, HasRange: true, Min: 4, Max: math.MaxInt32},
	{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", BrokerSynonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}, HasRange: true, Min: 0, Max: math.MaxInt64},
	{Name: "segment.ms", Type: TypeLong, Default: "604800000", BrokerSynonyms: []string{"log.roll.ms", "log.roll.hours"}, HasRange: true, Min: 1, Max: math.MaxInt64},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", BrokerSynonyms: []string{"unclean.leader.election.enable"}},
}

var topicConfigIndex = func() map[string]*TopicConfigDef {
	m := make(map[string]*TopicConfigDef, len(TopicConfigDefs))
	for i := range TopicConfigDefs {
		m[TopicConfigDefs[i].Name] = &TopicConfigDefs[i]
	}
	return m
}()

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (*TopicConfigDef, bool) {
	d, ok := topicConfigIndex[name]
	return d, ok
}

// ValidateTopicConfig checks one topic config name and value, returning an
// error wrapping ErrInvalidConfig that says what is wrong.
func ValidateTopicConfig(name string, value *string) error {
	d, ok := topicConfigIndex[name]
	if !ok {
		return fmt.Errorf("%w: unknown topic config name: %s", ErrInvalidConfig, name)
	}
	if value == nil {
		return fmt.Errorf("%w: null value not supported for topic config %s", ErrInvalidConfig, name)
	}
	return d.Validate(*value)
}

// Validate checks a value for this config.
func (d *TopicConfigDef) Validate(v string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: invalid value %s for configuration %s: %s", ErrInvalidConfig, v, d.Name, why)
	}
	var num float64
	switch d.Type {
	case TypeBoolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return bad("expected value to be either true or false")
		}
	case TypeInt, TypeShort, TypeLong:
		bits := 64
		if d.Type == TypeInt {
			bits = 32
		} else if d.Type == TypeShort {
			bits = 16
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil {
			return bad("not a number of type " + d.Type.String())
		}
		num = float64(n)
	case TypeDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return bad("not a number of type DOUBLE")
		}
		num = f
	case TypeList:
		if strings.HasSuffix(d.Name, ".replication.throttled.replicas") {
			if _, err := ParseThrottledReplicas(v); err != nil {
				return bad(err.Error())
			}
		}
		if len(d.OneOf) > 0 {
			for _, e := range strings.Split(v, ",") {
				if !contains(d.OneOf, strings.TrimSpace(e)) {
					return bad("String must be one of: " + strings.Join(d.OneOf, ", "))
				}
			}
		}
	case TypeString:
		if len(d.OneOf) > 0 && !contains(d.OneOf, v) {
			return bad("String must be one of: " + strings.Join(d.OneOf, ", "))
		}
	}
	if d.HasRange && (num < d.Min || num > d.Max) {
		if d.Max >= math.MaxInt32 {
			return bad(fmt.Sprintf("Value must be at least %v", d.Min))
		}
		return bad(fmt.Sprintf("Value must be in the range [%v, %v]", d.Min, d.Max))
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

// String returns Kafka's name of the type.
func (t ConfigType) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePass:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// TopicConfigNames returns every topic config name, sorted.
func TopicConfigNames() []string {
	out := make([]string, 0, len(TopicConfigDefs))
	for _, d := range TopicConfigDefs {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}
