package broker

import (
	"context"
	"math/rand/v2"
	"time"

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
	// parts holds the partitions by index, nil where this node holds no
	// replica; placement holds where each lives and who leads it. Both are
	// copy-on-write, swapped as metadata records are applied.
	parts     atomic.Pointer[[]*partition]
	placement atomic.Pointer[[]meta.PartitionState]
	settings  atomic.Pointer[topicSettings]
	// dynamic are the topic's dynamic configs (guarded by Broker.mu).
	dynamic map[string]string
	// metrics are its BrokerTopicMetrics counters (metrics.go).
	metrics topicMetrics
}

// allPartitions returns the topic's partitions by index, nil where this
// node holds no replica (never modify the slice).
func (t *topic) allPartitions() []*partition {
	if ps := t.parts.Load(); ps != nil {
		return *ps
	}
	return nil
}

// partitionList returns the partitions this node holds a replica of.
func (t *topic) partitionList() []*partition {
	all := t.allPartitions()
	out := make([]*partition, 0, len(all))
	for _, p := range all {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// numPartitions is the topic's partition count in the metadata.
func (t *topic) numPartitions() int32 { return int32(len(t.allPartitions())) }

// placementOf returns where partition i lives and who leads it.
func (t *topic) placementOf(i int32) meta.PartitionState {
	if ps := t.placement.Load(); ps != nil && i >= 0 && int(i) < len(*ps) {
		return (*ps)[i]
	}
	return meta.PartitionState{Leader: meta.NoLeader}
}

// partitionError is the error for a partition that partition(i) did not
// return: NOT_LEADER_OR_FOLLOWER when the topic has it (another broker
// leads it, or none does), UNKNOWN_TOPIC_OR_PARTITION otherwise.
func (t *topic) partitionError(i int32) *kerr.Error {
	if t == nil || i < 0 || i >= t.numPartitions() {
		return kerr.UnknownTopicOrPartition
	}
	return kerr.NotLeaderForPartition
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
	// leaderThrottled and followerThrottled are the topic's
	// leader/follower.replication.throttled.replicas (replication_throttle.go).
	leaderThrottled, followerThrottled meta.ThrottledReplicas
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
	s.leaderThrottled = parseThrottled(s.values, leaderThrottledReplicas)
	s.followerThrottled = parseThrottled(s.values, followerThrottledReplicas)
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

func metadataDir(dataDir string) string { return dataDir + "/gregor-metadata" }

// reconcileAllLocked brings the live topics and partitions of this node in
// line with the metadata: topics appear and disappear, the partitions this
// node holds are opened, and leadership is taken up or given away.
// It returns the topics it removed (their committed offsets are the
// caller's to remove, outside b.mu). Callers hold b.mu.
func (b *Broker) reconcileAllLocked() ([]*topic, error) {
	b.loadDynamicBrokerConfigsLocked()
	b.loadQuotasLocked()
	b.adoptClusterIDLocked(b.meta.ClusterID())
	var errs []error
	live := map[*topic]bool{}
	mts := b.meta.Topics()
	b.fenceStaleFetchesLocked(mts) // replica_fetcher.go
	for _, mt := range mts {
		if err := b.reconcileTopicLocked(mt); err != nil {
			errs = append(errs, err)
		}
		if t := b.topics[mt.Name]; t != nil {
			live[t] = true
		}
	}
	b.deleteStrayReplicasLocked() // stray_replicas.go
	var removed []*topic
	for name, t := range b.topics {
		if !live[t] {
			delete(b.topics, name)
			delete(b.byID, t.id)
			b.removeTopicData(t)
			removed = append(removed, t)
		}
	}
	return removed, errors.Join(errs...)
}

// reconcileTopicLocked makes one topic of the metadata live on this node:
// its partitions placed here are opened, and each one's leadership follows
// the metadata. Callers hold b.mu.
func (b *Broker) reconcileTopicLocked(mt meta.Topic) error {
	t := b.topics[mt.Name]
	if t != nil && t.id != mt.ID {
		// A topic of the same name but another ID: the old one is gone.
		delete(b.topics, t.name)
		delete(b.byID, t.id)
		b.removeTopicData(t)
		t = nil
	}
	if t == nil {
		t = &topic{name: mt.Name, id: mt.ID, internal: mt.Internal, dynamic: mt.Configs}
		t.settings.Store(b.settingsFor(mt.Configs))
		b.topics[t.name] = t
		b.byID[t.id] = t
	}
	serving := b.servingLocked()
	old := t.allPartitions()
	parts := make([]*partition, mt.Partitions)
	copy(parts, old)
	var errs []error
	for i := range parts {
		ps := meta.PartitionState{Leader: meta.NoLeader}
		if i < len(mt.Assignments) {
			ps = mt.Assignments[i]
		}
		if parts[i] == nil && ps.Hosts(b.cfg.NodeID) {
			p, err := b.openPartition(t, int32(i))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			parts[i] = p
		}
		if p := parts[i]; p != nil {
			wasLeading, wasEpoch := p.leading.Load(), p.leaderEpoch.Load()
			if err := p.follow(ps, b.cfg.NodeID, serving); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.name, i, err))
			}
			b.onLeadershipChange(p, wasLeading, wasEpoch) // coordinators.go: group coordinator load/unload
			b.txnLeadershipLocked(t, p)                   // txn_partitions.go: transaction coordinator load/unload
			b.followLeaderLocked(p, ps)                   // replica_fetcher.go
			if i < len(mt.Assignments) && !ps.Hosts(b.cfg.NodeID) {
				// Reassigned away from this node: its copy goes.
				b.dropReplicaLocked(p)
				parts[i] = nil
			}
		}
	}
	placement := make([]meta.PartitionState, len(mt.Assignments))
	copy(placement, mt.Assignments)
	t.placement.Store(&placement)
	t.parts.Store(&parts)
	return errors.Join(errs...)
}

// removeTopicData closes and deletes the local logs of a topic that left
// the metadata.
func (b *Broker) removeTopicData(t *topic) {
	for _, p := range t.partitionList() {
		p.markDeleted()
		if err := b.logs.DeleteLog(t.name, p.index); err != nil {
			b.logger.Warn("delete partition log", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	b.logger.Info("deleted topic", "topic", t.name, "id", meta.TopicIDString(t.id))
}

// dropReplicaLocked deletes the local copy of a partition this node is no
// longer a replica of (a reassignment moved it away), as Kafka's
// StopReplica with deletion does: the fetcher has let it go already
// (followLeaderLocked), a fetch response still in flight finds it deleted
// (the fetcher appends under rep.mu), and its directory is removed.
// Callers hold b.mu.
func (b *Broker) dropReplicaLocked(p *partition) {
	p.rep.mu.Lock()
	p.markDeleted()
	p.rep.mu.Unlock()
	if err := b.logs.DeleteLog(p.topic.name, p.index); err != nil {
		b.logger.Warn("delete partition log", "topic", p.topic.name, "partition", p.index, "err", err)
		return
	}
	b.logger.Info("deleted the replica of a partition moved off this broker", "topic", p.topic.name, "partition", p.index)
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
	if b.hwCheckpoint != nil {
		if hw, ok := b.hwCheckpoint[topicPartitionKey{t.name, i}]; ok && hw < l.LogEndOffset() {
			// Only what the checkpoint says was committed is visible until
			// the leader (or the ISR) says more.
			p.hw.Store(max(hw, l.LogStartOffset()))
			l.SetHighWatermark(p.hw.Load())
		}
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

// partition returns partition i of t when this node leads it, or nil
// (partitionError says why).
func (t *topic) partition(i int32) *partition {
	if t == nil {
		return nil
	}
	ps := t.allPartitions()
	if i < 0 || int(i) >= len(ps) || ps[i] == nil || !ps[i].leading.Load() {
		return nil
	}
	return ps[i]
}

// errInvalidTopic is a topic name Kafka would refuse (INVALID_TOPIC_EXCEPTION).
var errInvalidTopic = errors.New("invalid topic name")

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
	// assignments are explicit replicas by partition (CreateTopics'
	// ReplicaAssignment); nil means the broker places the partitions.
	assignments [][]int32
}

// createTopic validates spec, places its partitions across the live
// brokers and, unless validateOnly, creates the topic through the metadata
// quorum. It returns the created (or would-be) topic metadata and a Kafka
// error code with a message on failure.
func (b *Broker) createTopic(spec topicSpec, validateOnly bool) (meta.Topic, *kerr.Error, string) {
	if err := ValidateTopicName(spec.name); err != nil {
		return meta.Topic{}, kerr.InvalidTopicException, err.Error()
	}
	if spec.partitions == -1 {
		spec.partitions = b.cfg.NumPartitions
	}
	if spec.replicationFactor == -1 {
		spec.replicationFactor = int16(b.brokerIntSetting("default.replication.factor", 1))
	}
	if spec.partitions <= 0 {
		return meta.Topic{}, kerr.InvalidPartitions, fmt.Sprintf("Number of partitions was set to an invalid non-positive value %d.", spec.partitions)
	}
	if spec.partitions > 100000 {
		return meta.Topic{}, kerr.InvalidPartitions, fmt.Sprintf("Number of partitions %d is more than this broker supports (100000).", spec.partitions)
	}
	if spec.replicationFactor <= 0 {
		return meta.Topic{}, kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."
	}
	b.mu.RLock()
	live := b.meta.LiveBrokers()
	b.mu.RUnlock()
	if int(spec.replicationFactor) > len(live) {
		// This node's view may trail brokers the controller has just
		// unfenced: catch up with the quorum before refusing.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if b.quorum.Barrier(ctx) == nil {
			b.mu.RLock()
			live = b.meta.LiveBrokers()
			b.mu.RUnlock()
		}
		cancel()
	}
	b.mu.RLock()
	_, exists := b.topics[spec.name]
	collides := b.collidingTopic(spec.name)
	b.mu.RUnlock()
	if int(spec.replicationFactor) > len(live) {
		return meta.Topic{}, kerr.InvalidReplicationFactor, fmt.Sprintf("Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", spec.replicationFactor, spec.replicationFactor, len(live))
	}
	dynamic := map[string]string{}
	for k, v := range spec.configs {
		if err := meta.ValidateTopicConfig(k, v); err != nil {
			return meta.Topic{}, kerr.InvalidConfig, err.Error()
		}
		dynamic[k] = *v
	}
	if exists {
		return meta.Topic{}, kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", spec.name)
	}
	if collides != "" {
		return meta.Topic{}, kerr.InvalidTopicException, fmt.Sprintf("Topic '%s' collides with existing topic: %s", spec.name, collides)
	}
	replicas := spec.assignments
	if replicas == nil {
		var err error
		replicas, err = meta.Place(live, spec.partitions, 0, spec.replicationFactor, rand.IntN(len(live)))
		if err != nil {
			return meta.Topic{}, kerr.InvalidReplicationFactor, err.Error()
		}
	}
	mt := meta.Topic{Name: spec.name, ID: uuid.New(), Partitions: spec.partitions, Configs: dynamic, Internal: spec.internal}
	for _, r := range replicas {
		mt.Assignments = append(mt.Assignments, meta.NewPartitionState(r))
	}
	if validateOnly {
		return mt, nil, ""
	}
	if err := b.propose(context.Background(), meta.Record{Type: meta.RecordCreateTopic, Topic: &mt}); err != nil {
		if errors.Is(err, meta.ErrTopicExists) {
			return meta.Topic{}, kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", spec.name)
		}
		b.logger.Error("create topic failed", "topic", spec.name, "err", err)
		return meta.Topic{}, metadataErrorCode(err), err.Error()
	}
	b.logger.Info("created topic", "topic", mt.Name, "partitions", mt.Partitions, "id", meta.TopicIDString(mt.ID))
	return mt, nil, ""
}

// metadataErrorCode maps an error from propose to a Kafka error code.
func metadataErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists
	case errors.Is(err, meta.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, errNoController), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut
	case isApplyError(err):
		return kerr.InvalidRequest
	default:
		return kerr.KafkaStorageError
	}
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

// deleteTopic removes a topic through the metadata quorum; every node
// that holds its partitions deletes them as it applies the record.
func (b *Broker) deleteTopic(t *topic) *kerr.Error {
	if b.topicByID(t.id) != t {
		return kerr.UnknownTopicOrPartition
	}
	rec := meta.Record{Type: meta.RecordDeleteTopic, Topic: &meta.Topic{Name: t.name, ID: t.id}}
	if err := b.propose(context.Background(), rec); err != nil {
		if errors.Is(err, meta.ErrUnknownTopic) {
			return kerr.UnknownTopicOrPartition
		}
		b.logger.Error("delete topic failed", "topic", t.name, "err", err)
		return metadataErrorCode(err)
	}
	return nil
}

// deleteTopicOffsets removes every group's committed offsets of a deleted
// topic (tombstoned in __consumer_offsets), as Kafka does, so that a topic
// created again under the same name is consumed from auto.offset.reset.
// The topic is gone either way; a failed write is logged (its offsets
// would come back after a restart).
func (b *Broker) deleteTopicOffsets(name string) {
	gc := b.groups.Load()
	if gc == nil || name == offsetsTopic {
		return
	}
	if err := gc.OnTopicsDeleted([]string{name}); err != nil {
		b.logger.Error("removing committed offsets of deleted topic failed", "topic", name, "err", err)
	}
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

// hasPartition reports whether partition i exists in the topic's metadata,
// wherever it lives.
func (t *topic) hasPartition(i int32) bool { return t != nil && i >= 0 && i < t.numPartitions() }

// servingLocked reports whether this incarnation of the broker is
// registered and unfenced in the metadata: only then does it lead the
// partitions the metadata gives it (an old incarnation's leadership, read
// back at startup, is not this one's). Callers hold b.mu.
func (b *Broker) servingLocked() bool {
	reg, ok := b.meta.Broker(b.cfg.NodeID)
	return ok && !reg.Fenced && reg.Incarnation == b.incarnation
}
