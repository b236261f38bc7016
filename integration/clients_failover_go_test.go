package integration

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

// The Go client families of TestClientsLeaderKill besides franz-go:
// IBM/sarama and segmentio/kafka-go.

// saramaConfig is sarama at Kafka 3.6's protocol with short timeouts and
// patient retries: a leader election takes a few seconds here.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "gregor-failover"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 5*time.Second, 20*time.Second, 5*time.Second
	cfg.Metadata.Retry.Max, cfg.Metadata.Retry.Backoff = 100, 250*time.Millisecond
	cfg.Metadata.RefreshFrequency = 5 * time.Second
	return cfg
}

// saramaProduce produces with sarama's idempotent async producer
// (acks=all, one request in flight), retrying for about 30 s a record.
func saramaProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	cfg := saramaConfig()
	cfg.Producer.Return.Successes, cfg.Producer.Return.Errors = true, true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max, cfg.Producer.Retry.Backoff = 120, 250*time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	var prod sarama.AsyncProducer
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if prod, err = sarama.NewAsyncProducer(r.seeds, cfg); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		succ, errs := prod.Successes(), prod.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				r.acked(m.Metadata.(string), m.Offset)
			case pe, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				r.failed(pe.Msg.Metadata.(string), pe.Err)
			}
		}
	}()
	paced(ctx, stop, func() {
		v := r.next()
		prod.Input() <- &sarama.ProducerMessage{Topic: r.topic, Partition: 0, Value: sarama.StringEncoder(v), Metadata: v}
	})
	prod.AsyncClose() // flushes, then closes Successes and Errors
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// saramaConsume reads the partition with sarama's partition consumer.
func saramaConsume(ctx context.Context, r *failoverRun) error {
	cfg := saramaConfig()
	cfg.Consumer.Retry.Backoff = 250 * time.Millisecond
	cons, err := sarama.NewConsumer(r.seeds, cfg)
	if err != nil {
		return err
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(r.topic, 0, sarama.OffsetOldest)
	if err != nil {
		return err
	}
	defer pc.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-pc.Messages():
			r.read(m.Offset, string(m.Value))
		}
	}
}

// kafkaGoProduce produces with segmentio/kafka-go's Writer (acks=all; it
// has no idempotent producer): batches of what accumulated, written
// synchronously, each retried up to 20 times.
func kafkaGoProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	w := &kafkago.Writer{
		Addr: kafkago.TCP(r.seeds...), Topic: r.topic, Balancer: &kafkago.LeastBytes{},
		RequiredAcks: kafkago.RequireAll, MaxAttempts: 20,
		WriteBackoffMin: 100 * time.Millisecond, WriteBackoffMax: time.Second,
		BatchTimeout: time.Millisecond, ReadTimeout: 15 * time.Second, WriteTimeout: 10 * time.Second,
	}
	defer w.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		var vals []string
		var msgs []kafkago.Message
		for range 10 { // 50 ms of failoverPace
			v := r.next()
			vals = append(vals, v)
			msgs = append(msgs, kafkago.Message{Value: []byte(v)})
		}
		err := w.WriteMessages(ctx, msgs...)
		var werrs kafkago.WriteErrors
		for i, v := range vals {
			switch {
			case err == nil:
				r.acked(v, -1) // the Writer does not report offsets
			case errors.As(err, &werrs) && i < len(werrs) && werrs[i] == nil:
				r.acked(v, -1)
			case errors.As(err, &werrs) && i < len(werrs):
				r.failed(v, werrs[i])
			default:
				r.failed(v, err)
			}
		}
	}
}

// kafkaGoConsume reads the partition with segmentio/kafka-go's Reader
// (no group: the partition itself).
func kafkaGoConsume(ctx context.Context, r *failoverRun) error {
	rd := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: r.seeds, Topic: r.topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20,
		MaxWait: 500 * time.Millisecond, ReadBackoffMin: 100 * time.Millisecond, ReadBackoffMax: time.Second,
	})
	defer rd.Close()
	if err := rd.SetOffset(kafkago.FirstOffset); err != nil {
		return err
	}
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(100 * time.Millisecond) // the Reader retries on its own; this is what it gave up on
			continue
		}
		r.read(m.Offset, string(m.Value))
	}
}
