package brokerclients

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"

	"github.com/gregorhq/gregor/broker/brokertest"
)

type saramaHandler struct {
	mu   sync.Mutex
	seen map[string]int
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		h.mu.Lock()
		h.seen[string(msg.Value)]++
		h.mu.Unlock()
		s.MarkMessage(msg, "")
		s.Commit()
	}
	return nil
}

func (h *saramaHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// TestSaramaAndKafkaGoGroups: a sarama ConsumerGroup and a kafka-go
// Reader with a GroupID each consume a topic once and commit its end.
func TestSaramaAndKafkaGoGroups(t *testing.T) {
	b := brokertest.Start(t,
		brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"),
		brokertest.WithProperty("group.min.session.timeout.ms", "100"),
		brokertest.WithProperty("offsets.topic.num.partitions", "5"),
	)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "sk", 3, nil)
	produceN(t, ctx, b.Addr(), "sk", "v", 3, 60)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup([]string{b.Addr()}, "gsarama", cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &saramaHandler{seen: map[string]int{}}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{"sk"}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for h.count() < 60 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("sarama Consume: %v", err)
	}
	cg.Close()
	for v, n := range h.seen {
		if n != 1 {
			t.Fatalf("sarama consumed %s %d times", v, n)
		}
	}
	checkCommittedEnd(t, ctx, adm, "gsarama", "sk")

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, GroupID: "gkafkago", Topic: "sk",
		MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset})
	seen := map[string]bool{}
	for len(seen) < 60 {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go after %d: %v", len(seen), err)
		}
		if seen[string(m.Value)] {
			t.Fatalf("kafka-go consumed %s twice", m.Value)
		}
		seen[string(m.Value)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checkCommittedEnd(t, ctx, adm, "gkafkago", "sk")
}
