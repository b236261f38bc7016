package integration

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestSaramaRoundTrip(t *testing.T) {
	b := startBroker(t)
	for _, c := range []struct {
		name       string
		version    sarama.KafkaVersion
		idempotent bool
	}{
		{"V0_11_0_0", sarama.V0_11_0_0, false},
		{"V3_6_0_0", sarama.V3_6_0_0, false},
		{"V3_6_0_0-idempotent", sarama.V3_6_0_0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := uniqueTopic("sarama")
			createTopic(t, b.addr(), topic, 2, nil)
			cfg := sarama.NewConfig()
			cfg.Version = c.version
			cfg.ClientID = "gregor-integration"
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Retry.Max = 3
			cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 20*time.Second, 10*time.Second
			if c.idempotent {
				cfg.Producer.Idempotent = true
				cfg.Net.MaxOpenRequests = 1
			}
			prod, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
			if err != nil {
				t.Fatalf("sync producer: %v", err)
			}
			defer prod.Close()

			base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			const n = 200
			var msgs []*sarama.ProducerMessage
			for i := range n {
				m := &sarama.ProducerMessage{
					Topic:     topic,
					Partition: int32(i % 2),
					Value:     sarama.ByteEncoder(fmt.Appendf(nil, "value-%d", i)),
					Timestamp: base.Add(time.Duration(i) * time.Millisecond),
					Headers:   []sarama.RecordHeader{{Key: []byte("i"), Value: fmt.Appendf(nil, "%d", i)}, {Key: []byte("i"), Value: []byte("again")}},
				}
				if i%3 != 0 {
					m.Key = sarama.StringEncoder(fmt.Sprintf("key-%d", i))
				}
				msgs = append(msgs, m)
			}
			// Some one at a time, the rest as one SendMessages call.
			for _, m := range msgs[:20] {
				if _, _, err := prod.SendMessage(m); err != nil {
					t.Fatalf("send: %v", err)
				}
			}
			if err := prod.SendMessages(msgs[20:]); err != nil {
				t.Fatalf("send messages: %v", err)
			}
			byOffset := map[[2]int64]*sarama.ProducerMessage{}
			for _, m := range msgs {
				byOffset[[2]int64{int64(m.Partition), m.Offset}] = m
			}
			if len(byOffset) != n {
				t.Fatalf("%d distinct acknowledged offsets for %d messages", len(byOffset), n)
			}

			cons, err := sarama.NewConsumer([]string{b.addr()}, cfg)
			if err != nil {
				t.Fatalf("consumer: %v", err)
			}
			defer cons.Close()
			deadline := time.After(30 * time.Second)
			for p := int32(0); p < 2; p++ {
				pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatalf("consume partition %d: %v", p, err)
				}
				for next := int64(0); next < n/2; next++ {
					var got *sarama.ConsumerMessage
					select {
					case got = <-pc.Messages():
					case err := <-pc.Errors():
						pc.Close()
						t.Fatalf("partition %d: %v", p, err)
					case <-deadline:
						pc.Close()
						t.Fatalf("partition %d: timed out at offset %d", p, next)
					}
					if got.Offset != next {
						t.Fatalf("partition %d: offset %d, want %d", p, got.Offset, next)
					}
					want := byOffset[[2]int64{int64(p), got.Offset}]
					wantKey, _ := encodeOrNil(want.Key)
					wantValue, _ := encodeOrNil(want.Value)
					if !bytes.Equal(got.Key, wantKey) || (got.Key == nil) != (wantKey == nil) || !bytes.Equal(got.Value, wantValue) {
						t.Fatalf("partition %d offset %d: %q=%q, want %q=%q", p, got.Offset, got.Key, got.Value, wantKey, wantValue)
					}
					if !got.Timestamp.Equal(want.Timestamp) {
						t.Errorf("partition %d offset %d: timestamp %v, want %v", p, got.Offset, got.Timestamp, want.Timestamp)
					}
					if len(got.Headers) != 2 || string(got.Headers[0].Value) != string(want.Headers[0].Value) || string(got.Headers[1].Value) != "again" {
						t.Errorf("partition %d offset %d: headers %v", p, got.Offset, got.Headers)
					}
				}
				if err := pc.Close(); err != nil {
					t.Fatalf("close partition consumer: %v", err)
				}
			}
		})
	}
}

func encodeOrNil(e sarama.Encoder) ([]byte, error) {
	if e == nil {
		return nil, nil
	}
	return e.Encode()
}
