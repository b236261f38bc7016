package kafkachangelog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// Writer is a state.ChangelogWriter that produces through a kgo client. One Writer serves
// one task; many Writers may share a client.
type Writer struct {
	cl *kgo.Client
	wg sync.WaitGroup

	mu   sync.Mutex
	last map[state.TopicPartition]int64
	err  error
}

var _ state.ChangelogWriter = (*Writer)(nil)

// NewWriter returns a Writer producing through cl, which must be configured with
// kgo.RecordPartitioner(kgo.ManualPartitioner()).
func NewWriter(cl *kgo.Client) *Writer {
	return &Writer{cl: cl, last: map[state.TopicPartition]int64{}}
}

// Append produces rec to tp asynchronously. It returns the first error of an earlier
// record, if any.
func (w *Writer) Append(ctx context.Context, tp state.TopicPartition, rec state.ChangelogRecord) error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.wg.Add(1)
	w.cl.Produce(ctx, &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Key: rec.Key, Value: rec.Value}, func(r *kgo.Record, err error) {
		defer w.wg.Done()
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.err == nil {
				w.err = fmt.Errorf("kafkachangelog: produce to %s: %w", tp, err)
			}
			return
		}
		if cur, ok := w.last[tp]; !ok || r.Offset > cur {
			w.last[tp] = r.Offset
		}
	})
	return nil
}

// Flush flushes the client, waits for this writer's records and returns the last offset
// written per partition since the previous Flush. After a produce error it returns that
// error (and keeps returning it: the task must be closed uncleanly).
func (w *Writer) Flush(ctx context.Context) (map[state.TopicPartition]int64, error) {
	if err := w.cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("kafkachangelog: flush: %w", err)
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("kafkachangelog: flush: %w", ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	out := w.last
	w.last = map[state.TopicPartition]int64{}
	return out, nil
}

// CreateTopic creates a changelog topic with Kafka Streams' configs (see
// state.ChangelogTopicConfigs) and the broker's default replication factor. An existing
// topic is not an error.
func CreateTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, windowed bool, retentionMs int64) error {
	configs := map[string]*string{}
	for k, v := range state.ChangelogTopicConfigs(windowed, retentionMs) {
		configs[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerrTopicExists) {
		return fmt.Errorf("kafkachangelog: create topic %s: %w", topic, err)
	}
	return nil
}
