package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLog is a compacted topic read from the start into memory and
// tailed for as long as it is open (Kafka Connect's KafkaBasedLog): one
// goroutine consumes and calls apply for every record, in order per
// partition; readToEnd waits until everything written before the call has
// been applied.
type kafkaLog struct {
	topic  string
	client *kgo.Client
	admin  *kadm.Client
	apply  func(key, value []byte)

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards pos, err; cond waits on it
	cond    *sync.Cond
	pos     map[int32]int64 // next offset to apply, per partition
	pollErr error
}

// topicSpec is how to create a kafkaLog's topic on first start.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
}

// openKafkaLog creates the topic (compacted) if needed, reads it to the
// end and keeps tailing it.
func openKafkaLog(ctx context.Context, cfg WorkerConfig, spec topicSpec, apply func(key, value []byte)) (*kafkaLog, error) {
	client, err := kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ClientID(cfg.ClientID+"-"+spec.name),
		kgo.ConsumeTopics(spec.name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return nil, fmt.Errorf("connect: client for %s: %w", spec.name, err)
	}
	l := &kafkaLog{topic: spec.name, client: client, admin: kadm.NewClient(client), apply: apply, pos: map[int32]int64{}, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	if err := l.createTopic(ctx, spec); err != nil {
		client.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(pctx)
	rctx, rcancel := context.WithTimeout(ctx, kafkaStoreTimeout)
	defer rcancel()
	if err := l.readToEnd(rctx); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func (l *kafkaLog) createTopic(ctx context.Context, spec topicSpec) error {
	compact := "compact"
	resp, err := l.admin.CreateTopic(ctx, spec.partitions, spec.rf, map[string]*string{"cleanup.policy": &compact}, spec.name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("connect: create topic %s: %w", spec.name, err)
	}
	return nil
}

func (l *kafkaLog) run(ctx context.Context) {
	defer close(l.done)
	for ctx.Err() == nil {
		fs := l.client.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			l.mu.Lock()
			l.pollErr = err
			l.mu.Unlock()
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				l.apply(r.Key, r.Value)
			}
			if n := len(p.Records); n > 0 {
				l.mu.Lock()
				l.pos[p.Partition] = p.Records[n-1].Offset + 1
				l.cond.Broadcast()
				l.mu.Unlock()
			}
		})
	}
}

// readToEnd waits until every record written before the call is applied.
func (l *kafkaLog) readToEnd(ctx context.Context) error {
	want, err := l.endOffsets(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		caught := true
		for p, end := range want {
			if l.pos[p] < end {
				caught = false
			}
		}
		if caught {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connect: reading %s to the end: %w", l.topic, ctx.Err())
		}
		l.cond.Wait()
	}
}

// endOffsets lists the topic's end offsets, retrying retriable errors:
// a just created topic not yet known everywhere, a leader election.
func (l *kafkaLog) endOffsets(ctx context.Context) (map[int32]int64, error) {
	for attempt := 1; ; attempt++ {
		ends, err := l.admin.ListEndOffsets(ctx, l.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			want := map[int32]int64{}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset > 0 {
					want[o.Partition] = o.Offset
				}
			})
			return want, nil
		}
		if !kerr.IsRetriable(err) { // unknown topic, no leader yet, a new leader catching up
			return nil, fmt.Errorf("connect: end offsets of %s: %w", l.topic, err)
		}
		if !retryBackoff(ctx, attempt) {
			return nil, fmt.Errorf("connect: end offsets of %s: %w", l.topic, err)
		}
	}
}

// send writes records and waits for their acknowledgement.
func (l *kafkaLog) send(ctx context.Context, kvs map[string][]byte, order []string) error {
	if err := writable(ctx); err != nil {
		return fmt.Errorf("connect: write to %s: %w", l.topic, err)
	}
	recs := make([]*kgo.Record, 0, len(order))
	for _, k := range order {
		recs = append(recs, &kgo.Record{Topic: l.topic, Key: []byte(k), Value: kvs[k]})
	}
	if err := l.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("connect: write to %s: %w: %w", l.topic, ErrStoreWrite, err)
	}
	return nil
}

func (l *kafkaLog) close() {
	l.cancel()
	<-l.done
	l.client.Close()
}

// KafkaOffsetStore keeps source offsets in a compacted topic
// (offset.storage.topic) in Kafka Connect's format: the key is
// ["connector", {partition}] and the value the offset, both JSON; a
// tombstone deletes. Every worker sharing the topic sees every offset.
type KafkaOffsetStore struct {
	log *kafkaLog
	mu  sync.Mutex // guards m
	m   map[string][]byte
}

// OpenKafkaOffsetStore opens (creating if needed, with partitions and
// replication factor rf) the offsets topic and reads it to the end.
func OpenKafkaOffsetStore(ctx context.Context, cfg WorkerConfig, topic string, partitions int32, rf int16) (*KafkaOffsetStore, error) {
	s := &KafkaOffsetStore{m: map[string][]byte{}}
	log, err := openKafkaLog(ctx, cfg, topicSpec{name: topic, partitions: partitions, rf: rf}, s.apply)
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

func (s *KafkaOffsetStore) apply(k, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.m, string(k))
	} else {
		s.m[string(k)] = v
	}
}

// Get implements OffsetStore: it first reads the topic to the end.
func (s *KafkaOffsetStore) Get(ctx context.Context, keys []string) (map[string][]byte, error) {
	if err := s.log.readToEnd(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for _, k := range keys {
		if v, ok := s.m[k]; ok {
			out[k] = bytes.Clone(v)
		}
	}
	return out, nil
}

// Set implements OffsetStore: it returns once Kafka acknowledged the
// offsets.
func (s *KafkaOffsetStore) Set(ctx context.Context, values map[string][]byte) error {
	order := make([]string, 0, len(values))
	for k := range values {
		order = append(order, k)
	}
	if err := s.log.send(ctx, values, order); err != nil {
		return err
	}
	for k, v := range values {
		s.apply([]byte(k), bytes.Clone(v))
	}
	return nil
}

// Keys implements OffsetStore.
func (s *KafkaOffsetStore) Keys(ctx context.Context) ([]string, error) {
	if err := s.log.readToEnd(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m)), nil
}

// Close implements OffsetStore; it stops tailing the topic.
func (s *KafkaOffsetStore) Close() error {
	s.log.close()
	return nil
}
