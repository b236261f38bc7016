package broker

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
)

// topic is a live topic: its metadata and open partitions.
type topic struct {
	name     string
	id       uuid.UUID
	internal bool
	parts    atomic.Pointer[[]*partition] // copy-on-write: CreatePartitions swaps in a longer list
	settings atomic.Pointer[topicSettings]
	// dynamic are the topic's dynamic configs (guarded by Broker.mu).
	dynamic map[string]string
}

// partitionList returns the topic's partitions (never modify the slice).
func (t *topic) partitionList() []*partition {
	if ps := t.parts.Load(); ps != nil {
		return *ps
	}
	return nil
}

// topicSettings are a topic's effective configs, resolved from its dynamic
// configs, the broker's properties and Kafka's defaults.
type topicSettings struct {
	values          map[string]string // every topic config, effective value
	log             blog.Config
	maxMessageBytes int32
	logAppendTime   bool
	tsBeforeMaxMs   int64
	tsAfterMaxMs    int64
	compaction      bool
	// recompress is set when compression.type names a codec: batches are
	// stored in codec whatever the producer sent.
	recompress bool
	codec      int
}

// ConfigSource says where an effective config value comes from, numbered as
// in Kafka's DescribeConfigs.
type ConfigSource int8

// Config sources.
const (
	SourceDynamicTopic         ConfigSource = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker        ConfigSource = 2 // DYNAMIC_BROKER_CONFIG: this broker
	SourceDynamicDefaultBroker ConfigSource = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: cluster-wide
	SourceStaticBroker         ConfigSource = 4 // STATIC_BROKER_CONFIG: server.properties/flags
	SourceDefault              ConfigSource = 5 // DEFAULT_CONFIG
)

// dynamicBrokerConfigs are the broker properties changed with AlterConfigs.
type dynamicBrokerConfigs struct {
	perBroker      map[string]string
	clusterDefault map[string]string
}

// configSynonym is one place a config's value may come from, most specific first.
type configSynonym struct {
	name   string
	value  string
	source ConfigSource
}

// topicConfigSynonyms lists every level that sets a topic config, most
// specific first, ending with Kafka's default.
func (b *Broker) topicConfigSynonyms(def *meta.TopicConfigDef, dynamic map[string]string) []configSynonym {
	var out []configSynonym
	if v, ok := dynamic[def.Name]; ok {
		out = append(out, configSynonym{def.Name, v, SourceDynamicTopic})
	}
	dyn := b.dynamicBroker()
	for _, level := range []struct {
		props map[string]string
		src   ConfigSource
	}{{dyn.perBroker, SourceDynamicBroker}, {dyn.clusterDefault, SourceDynamicDefaultBroker}, {b.cfg.Properties, SourceStaticBroker}} {
		for _, syn := range def.BrokerSynonyms {
			if _, ok := level.props[syn]; ok {
				v, _, _ := lookupSynonym(level.props, []string{syn})
				out = append(out, configSynonym{syn, v, level.src})
			}
		}
	}
	out = append(out, configSynonym{def.Name, def.Default, SourceDefault})
	return out
}

// resolveTopicConfig returns the effective value of a topic config and its source.
func (b *Broker) resolveTopicConfig(def *meta.TopicConfigDef, dynamic map[string]string) (string, ConfigSource) {
	syns := b.topicConfigSynonyms(def, dynamic)
	return syns[0].value, syns[0].source
}

func (b *Broker) dynamicBroker() *dynamicBrokerConfigs {
	if d := b.dynBroker.Load(); d != nil {
		return d
	}
	return &dynamicBrokerConfigs{}
}

func (b *Broker) settingsFor(dynamic map[string]string) *topicSettings {
	s := &topicSettings{values: make(map[string]string, len(meta.TopicConfigDefs))}
	for i := range meta.TopicConfigDefs {
		def := &meta.TopicConfigDefs[i]
		v, _ := b.resolveTopicConfig(def, dynamic)
		s.values[def.Name] = v
	}
	num := func(name string) int64 {
		n, err := strconv.ParseInt(s.values[name], 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	s.log = blog.DefaultConfig()
	s.log.SegmentBytes = num("segment.bytes")
	s.log.SegmentMs = num("segment.ms")
	s.log.RetentionMs = num("retention.ms")
	s.log.RetentionBytes = num("retention.bytes")
	s.log.IndexIntervalBytes = int32(num("index.interval.bytes"))
	s.log.SegmentIndexBytes = int32(num("segment.index.bytes"))
	s.log.FlushMessages = num("flush.messages")
	s.log.FlushMs = num("flush.ms")
	s.log.FileDeleteDelayMs = num("file.delete.delay.ms")
	s.maxMessageBytes = int32(min(num("max.message.bytes"), math.MaxInt32))
	s.logAppendTime = s.values["message.timestamp.type"] == "LogAppendTime"
	s.tsBeforeMaxMs = num("message.timestamp.before.max.ms")
	s.tsAfterMaxMs = num("message.timestamp.after.max.ms")
	s.compaction = strings.Contains(s.values["cleanup.policy"], "compact")
	s.codec, s.recompress = blog.CodecByName(s.values["compression.type"])
	// Compaction settings for the log cleaner (broker/log).
	s.log.CleanupPolicy = s.values["cleanup.policy"]
	s.log.DeleteRetentionMs = num("delete.retention.ms")
	s.log.MinCompactionLagMs = num("min.compaction.lag.ms")
	s.log.MaxCompactionLagMs = num("max.compaction.lag.ms")
	if r, err := strconv.ParseFloat(s.values["min.cleanable.dirty.ratio"], 64); err == nil {
		s.log.MinCleanableDirtyRatio = r
	}
	return s
}

// loadMetadata opens the metadata journal, replays it and opens every
// partition log it names.
func (b *Broker) loadMetadata() error {
	j, recs, err := meta.OpenJournal(metadataDir(b.cfg.DataDir))
	if err != nil {
		return err
	}
	b.journal = j
	b.meta = meta.NewState()
	for _, r := range recs {
		if err := b.meta.Apply(r); err != nil {
			b.logger.Warn("skipping metadata record that does not apply", "type", r.Type, "err", err)
		}
	}
	b.pids.init(b.meta.NextProducerID())
	b.dynBroker.Store(&dynamicBrokerConfigs{
		perBroker:      b.meta.BrokerConfigs(strconv.Itoa(int(b.cfg.NodeID))),
		clusterDefault: b.meta.BrokerConfigs(""),
	})
	for _, t := range b.meta.Topics() {
		if _, err := b.openTopic(t); err != nil {
			return err
		}
	}
	return nil
}

func metadataDir(dataDir string) string { return dataDir + "/gregor-metadata" }

// openTopic opens the logs of a topic that is in the metadata and makes it
// live. Callers hold b.mu or run before serving.
func (b *Broker) openTopic(mt meta.Topic) (*topic, error) {
	t := &topic{name: mt.Name, id: mt.ID, internal: mt.Internal, dynamic: mt.Configs}
	t.settings.Store(b.settingsFor(mt.Configs))
	var parts []*partition
	for i := int32(0); i < mt.Partitions; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, q := range parts {
				q.log.Close()
			}
			return nil, err
		}
		parts = append(parts, p)
	}
	t.parts.Store(&parts)
	b.topics[t.name] = t
	b.byID[t.id] = t
	return t, nil
}

func (b *Broker) openPartition(t *topic, i int32) (*partition, error) {
	l, err := b.logs.OpenLog(t.name, i, t.id, t.settings.Load().log)
	if err != nil {
		return nil, fmt.Errorf("open log %s-%d: %w", t.name, i, err)
	}
	p, err := newPartition(t, i, l)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open partition %s-%d: %w", t.name, i, err)
	}
	return p, nil
}

// topicByName returns a live topic.
func (b *Broker) topicByName(name string) *topic {
	b.mu.RLock()
	t := b.topics[name]
	b.mu.RUnlock()
	return t
}

// topicByID returns a live topic.
func (b *Broker) topicByID(id uuid.UUID) *topic {
	b.mu.RLock()
	t := b.byID[id]
	b.mu.RUnlock()
	return t
}

// partition returns a partition of t, or nil.
func (t *topic) partition(i int32) *partition {
	if t == nil {
		return nil
	}
	ps := t.partitionList()
	if i < 0 || int(i) >= len(ps) {
		return nil
	}
	return ps[i]
}

// Errors from topic administration, each mapped to its Kafka error code.
var (
	errInvalidTopic      = errors.New("invalid topic name")
	errTopicExists       = errors.New("topic already exists")
	errInvalidPartitions = errors.New("invalid partition count")
	errInvalidRF         = errors.New("invalid replication factor")
)

// ValidateTopicName checks a topic name as Kafka does.
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: %q is illegal", errInvalidTopic, name)
	}
	if len(name) > 249 {
		return fmt.Errorf("%w: %q is longer than 249 characters", errInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", errInvalidTopic, name)
		}
	}
	return nil
}

// topicSpec is what CreateTopics (or auto-creation) asks for.
type topicSpec struct {
	name              string
	partitions        int32
	replicationFactor int16
	configs           map[string]*string
	internal          bool
}

// createTopic validates spec and, unless validateOnly, creates the topic
// durably. It returns the created (or would-be) topic metadata and a Kafka
// error code with a message on failure.
func (b *Broker) createTopic(spec topicSpec, validateOnly bool) (meta.Topic, *kerr.Error, string) {
	if err := ValidateTopicName(spec.name); err != nil {
		return meta.Topic{}, kerr.InvalidTopicException, err.Error()
	}
	if spec.partitions == -1 {
		spec.partitions = b.cfg.NumPartitions
	}
	if spec.partitions <= 0 {
		return meta.Topic{}, kerr.InvalidPartitions, fmt.Sprintf("Number of partitions was set to an invalid non-positive value %d.", spec.partitions)
	}
	if spec.partitions > 100000 {
		return meta.Topic{}, kerr.InvalidPartitions, fmt.Sprintf("Number of partitions %d is more than this broker supports (100000).", spec.partitions)
	}
	if spec.replicationFactor != -1 && spec.replicationFactor != 1 {
		if spec.replicationFactor <= 0 {
			return meta.Topic{}, kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."
		}
		return meta.Topic{}, kerr.InvalidReplicationFactor, fmt.Sprintf("Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only 1 broker(s) are registered.", spec.replicationFactor, spec.replicationFactor)
	}
	dynamic := map[string]string{}
	for k, v := range spec.configs {
		if err := meta.ValidateTopicConfig(k, v); err != nil {
			return meta.Topic{}, kerr.InvalidConfig, err.Error()
		}
		dynamic[k] = *v
	}
	mt := meta.Topic{Name: spec.name, ID: uuid.New(), Partitions: spec.partitions, Configs: dynamic, Internal: spec.internal}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.topics[spec.name]; ok {
		return meta.Topic{}, kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", spec.name)
	}
	if collides := b.collidingTopic(spec.name); collides != "" {
		return meta.Topic{}, kerr.InvalidTopicException, fmt.Sprintf("Topic '%s' collides with existing topic: %s", spec.name, collides)
	}
	if validateOnly {
		return mt, nil, ""
	}
	rec := meta.Record{Type: meta.RecordCreateTopic, Topic: &mt}
	if err := b.journal.Append(rec); err != nil {
		b.logger.Error("metadata journal append failed", "err", err)
		return meta.Topic{}, kerr.KafkaStorageError, err.Error()
	}
	if err := b.meta.Apply(rec); err != nil {
		return meta.Topic{}, kerr.UnknownServerError, err.Error()
	}
	if _, err := b.openTopic(mt); err != nil {
		b.logger.Error("open new topic failed", "topic", mt.Name, "err", err)
		return meta.Topic{}, kerr.KafkaStorageError, err.Error()
	}
	b.logger.Info("created topic", "topic", mt.Name, "partitions", mt.Partitions, "id", meta.TopicIDString(mt.ID))
	return mt, nil, ""
}

// collidingTopic returns an existing topic whose name differs from name only
// in '.' versus '_' (Kafka forbids such pairs: metric names would collide).
func (b *Broker) collidingTopic(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for n := range b.topics {
		if n != name && strings.ReplaceAll(n, ".", "_") == norm {
			return n
		}
	}
	return ""
}

// deleteTopic removes a topic and its data.
func (b *Broker) deleteTopic(t *topic) *kerr.Error {
	b.mu.Lock()
	if b.topics[t.name] != t {
		b.mu.Unlock()
		return kerr.UnknownTopicOrPartition
	}
	rec := meta.Record{Type: meta.RecordDeleteTopic, Topic: &meta.Topic{Name: t.name, ID: t.id}}
	if err := b.journal.Append(rec); err != nil {
		b.mu.Unlock()
		b.logger.Error("metadata journal append failed", "err", err)
		return kerr.KafkaStorageError
	}
	b.meta.Apply(rec)
	delete(b.topics, t.name)
	delete(b.byID, t.id)
	b.mu.Unlock()
	for _, p := range t.partitionList() {
		p.markDeleted()
		if err := b.logs.DeleteLog(t.name, p.index); err != nil {
			b.logger.Warn("delete partition log", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	b.logger.Info("deleted topic", "topic", t.name, "id", meta.TopicIDString(t.id))
	return nil
}

// autoCreate creates a topic with the broker defaults when the broker allows it.
func (b *Broker) autoCreate(name string) (*topic, *kerr.Error) {
	if !b.cfg.AutoCreateTopics {
		return nil, kerr.UnknownTopicOrPartition
	}
	if _, kErr, _ := b.createTopic(topicSpec{name: name, partitions: -1, replicationFactor: -1}, false); kErr != nil && kErr != kerr.TopicAlreadyExists {
		return nil, kErr
	}
	return b.topicByName(name), nil
}
