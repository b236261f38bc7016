package broker

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
)

// Group coordination: the coordinator (broker/group) runs over the
// internal compacted topic __consumer_offsets, which is created on first
// use and read back at startup. This file holds the broker's side of it:
// settings from server.properties, the topic, and the storage adapter.

// offsetsTopic is Kafka's internal topic for group metadata and offsets.
const offsetsTopic = "__consumer_offsets"

// groupConfig builds the coordinator's settings from the broker properties
// Kafka names them by.
func groupConfig(cfg Config, b *Broker) (group.Config, error) {
	gc := group.DefaultConfig()
	gc.Logger = b.logger
	gc.Owns = func(p int32) bool { return b.topicByName(offsetsTopic).partition(p) != nil }
	num := func(key string, set func(int64)) error {
		v, ok := cfg.Properties[key]
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %s=%s is not a number", ErrBadConfig, key, v)
		}
		set(n)
		return nil
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	var badSeg error
	errs := []error{
		num("offsets.topic.num.partitions", func(n int64) { gc.NumPartitions = int32(n) }),
		num("group.initial.rebalance.delay.ms", func(n int64) { gc.InitialRebalanceDelay = ms(n) }),
		num("group.min.session.timeout.ms", func(n int64) { gc.MinSessionTimeout = ms(n) }),
		num("group.max.session.timeout.ms", func(n int64) { gc.MaxSessionTimeout = ms(n) }),
		num("group.max.size", func(n int64) { gc.MaxSize = int(n) }),
		num("offsets.retention.minutes", func(n int64) { gc.OffsetsRetention = time.Duration(n) * time.Minute }),
		num("offsets.retention.check.interval.ms", func(n int64) { gc.RetentionCheckInterval = ms(n) }),
		num("offset.metadata.max.bytes", func(n int64) { gc.MaxMetadataSize = int(n) }),
		num("offsets.topic.segment.bytes", func(n int64) {
			if n < 1 {
				badSeg = fmt.Errorf("%w: offsets.topic.segment.bytes=%d must be at least 1", ErrBadConfig, n)
			}
		}),
	}
	if err := errors.Join(append(errs, badSeg)...); err != nil {
		return gc, err
	}
	if err := gc.Validate(); err != nil {
		return gc, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return gc, nil
}

// openGroups creates the coordinator; when __consumer_offsets exists it
// starts reading it back. Called from New once the topics are open.
func (b *Broker) openGroups() error {
	gc, err := groupConfig(b.cfg, b)
	if err != nil {
		return err
	}
	gcoord, err := group.NewCoordinator(gc, &offsetsStore{b: b})
	if err != nil {
		return err
	}
	b.groups.Store(gcoord)
	if t := b.topicByName(offsetsTopic); t != nil {
		gcoord.Start(t.numPartitions(), true)
	}
	return nil
}

// closeGroups stops the coordinator (its timers and loader) before the
// logs close.
func (b *Broker) closeGroups() {
	if gc := b.groups.Load(); gc != nil {
		gc.Close()
	}
}

// readGroupCoordinator is the group coordinator for a request that needs
// READ on group: GROUP_AUTHORIZATION_FAILED without it, else what
// groupCoordinator gives.
func (b *Broker) readGroupCoordinator(r *request, grp string) (*group.Coordinator, *kerr.Error) {
	if !r.authorizeGroup(kmsg.ACLOperationRead, grp) {
		return nil, kerr.GroupAuthorizationFailed
	}
	return b.groupCoordinator()
}

// groupCoordinator returns the coordinator, creating __consumer_offsets on
// first use (offsets.topic.num.partitions partitions, replication factor 1,
// cleanup.policy=compact, segment.bytes from offsets.topic.segment.bytes).
// It answers COORDINATOR_NOT_AVAILABLE when the topic cannot be created.
func (b *Broker) groupCoordinator() (*group.Coordinator, *kerr.Error) {
	gc := b.groups.Load()
	if gc.Active() {
		return gc, nil
	}
	n := b.groupPartitions()
	compact, codec, seg := "compact", "producer", "104857600"
	if v, ok := b.cfg.Properties["offsets.topic.segment.bytes"]; ok {
		seg = v // Kafka's property for the topic's segment.bytes (default 100 MiB)
	}
	_, kErr, msg := b.createTopic(topicSpec{
		name: offsetsTopic, partitions: n, replicationFactor: b.internalTopicRF("offsets.topic.replication.factor"), internal: true,
		configs: map[string]*string{"cleanup.policy": &compact, "compression.type": &codec, "segment.bytes": &seg},
	}, false)
	switch kErr {
	case nil:
		gc.Start(n, false)
	case kerr.TopicAlreadyExists:
		t := b.topicByName(offsetsTopic)
		if t == nil {
			return nil, kerr.CoordinatorNotAvailable
		}
		gc.Start(t.numPartitions(), true)
	default:
		b.logger.Error("cannot create "+offsetsTopic, "code", kErr.Message, "why", msg)
		return nil, kerr.CoordinatorNotAvailable
	}
	return gc, nil
}

func (b *Broker) groupPartitions() int32 {
	if v, ok := b.cfg.Properties["offsets.topic.num.partitions"]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n > 0 {
			return int32(n)
		}
	}
	return group.DefaultConfig().NumPartitions
}

// offsetsStore is group.Storage over the __consumer_offsets partitions.
// Lock order: a group's lock (held by the caller), then the log's.
type offsetsStore struct {
	b *Broker
}

func (s *offsetsStore) partition(i int32) (*partition, error) {
	p := s.b.topicByName(offsetsTopic).partition(i)
	if p == nil {
		return nil, fmt.Errorf("%s partition %d is not open", offsetsTopic, i)
	}
	return p, nil
}

// Append writes recs as one batch, fsyncs under the durable flush policy,
// and returns once the high watermark has passed it: every in-sync
// replica holds it, so what the coordinator acknowledges survives a
// failover (appendReplicated; offsets.commit.timeout.ms bounds the wait).
func (s *offsetsStore) Append(i int32, recs []group.Record) error {
	return s.appendBatch(i, group.EncodeBatch(recs, time.Now().UnixMilli()))
}

// AppendTxn writes a transactional producer's offset commits as one
// transactional batch (TxnOffsetCommit).
func (s *offsetsStore) AppendTxn(i int32, producerID int64, epoch int16, recs []group.Record) error {
	return s.appendBatch(i, group.EncodeTxnBatch(recs, time.Now().UnixMilli(), producerID, epoch))
}

func (s *offsetsStore) appendBatch(i int32, batch []byte) error {
	p, err := s.partition(i)
	if err != nil {
		return err
	}
	timeout := time.Duration(s.b.brokerIntSetting("offsets.commit.timeout.ms", 5000)) * time.Millisecond
	if err := s.b.appendReplicatedWithin(p, batch, timeout); err != nil {
		if errors.Is(err, blog.ErrStorage) {
			return fmt.Errorf("%w: %w", group.ErrStorageFull, err)
		}
		return err
	}
	return nil
}

// Replay hands fn the partition's batches from the log start to the log
// end, as Kafka's coordinator loads them: the partition is loaded when
// this node has just become its leader, and a new leader's high watermark
// still lags what the old one acknowledged (followers learn it a fetch
// late) — up to the high watermark, the last acknowledged commits would be
// missed. As leader, its log is the partition's: what lies past the high
// watermark becomes committed as the followers copy it.
func (s *offsetsStore) Replay(i int32, fn func([]byte) error) error {
	p, err := s.partition(i)
	if err != nil {
		return err
	}
	if err := replayPartitionTo(p, p.log.LogEndOffset(), fn); err != nil {
		return fmt.Errorf("read %s-%d: %w", offsetsTopic, i, err)
	}
	return nil
}
