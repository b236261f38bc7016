package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster II: partitions replicated three ways, acks=all, min.insync.replicas
// 2, and a leader killed under load: nothing acknowledged is lost, nothing
// is duplicated, and the killed replica rejoins the ISR.

func replicatedCluster(t *testing.T) *Cluster {
	return newTestCluster(t, 3,
		WithSetting("broker.session.timeout.ms", "3000"),
		WithSetting("broker.heartbeat.interval.ms", "500"),
		WithSetting("replica.lag.time.max.ms", "4000"),
		WithSetting("default.replication.factor", "3"),
		WithSetting("min.insync.replicas", "2"))
}

// waitFullISR waits until every partition of topic has all its replicas in sync.
func waitFullISR(t *testing.T, c *Cluster, topic string, rf int) {
	t.Helper()
	c.WaitFor(fmt.Sprintf("%s fully in sync", topic), func(ctx context.Context) error {
		md, err := c.anyMetadata(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Leader < 0 || len(p.ISR) != rf {
				return fmt.Errorf("partition %d: leader %d, isr %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return nil
	})
}

func TestReplicationSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	c := replicatedCluster(t)
	ctx := testCtx(t, 180*time.Second)
	topic := uniqueTopic("replicated")
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	res, err := adm.CreateTopic(ctx, 3, 3, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	waitFullISR(t, c, topic, 3)

	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.RecordDeliveryTimeout(90*time.Second))
	defer cl.Close()
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		fails atomic.Int64
		wg    sync.WaitGroup
	)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			v := fmt.Sprintf("v-%06d", i)
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					fails.Add(1)
					return
				}
				mu.Lock()
				acked[string(r.Value)] = true
				mu.Unlock()
			})
		}
	}
	produce(0, 3000)
	wg.Wait()
	// Kill the leader of partition 0 while more records are in flight.
	leader, err := c.PartitionLeader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	produce(3000, 6000)
	c.Kill(int(leader))
	produce(6000, 9000)
	wg.Wait()
	t.Logf("acked %d, failed %d after killing broker %d", len(acked), fails.Load(), leader)

	// Every acknowledged value is there exactly once, read through the survivors.
	counts := map[string]int{}
	rd := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer rd.Close()
	ends, err := settledEndOffsets(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	for got := int64(0); got < want; {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { counts[string(r.Value)]++; got++ })
	}
	lost, dup := 0, 0
	for v := range acked {
		if counts[v] == 0 {
			lost++
		}
	}
	for v, n := range counts {
		if n > 1 {
			dup++
			t.Logf("duplicate %s x%d", v, n)
		}
	}
	if lost != 0 || dup != 0 {
		t.Fatalf("lost %d acknowledged records, %d duplicated", lost, dup)
	}

	// The killed broker comes back, truncates what it must, and rejoins
	// every ISR.
	c.Restart(int(leader))
	waitFullISR(t, c, topic, 3)
}

func TestReplicationNotEnoughReplicas(t *testing.T) {
	t.Parallel()
	c := replicatedCluster(t)
	ctx := testCtx(t, 120*time.Second)
	topic := uniqueTopic("min-isr")
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	three := "3"
	if res, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &three}, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	waitFullISR(t, c, topic, 3)
	leader, err := c.PartitionLeader(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	others := slices.DeleteFunc(c.IDs(), func(id int) bool { return id == int(leader) })
	// One follower gone for longer than its session: it is fenced and
	// leaves the ISR, which falls below min.insync.replicas=3, and acks=all
	// is refused before anything is appended.
	c.Kill(others[0])
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0),
		kgo.RecordDeliveryTimeout(5*time.Second), kgo.DisableIdempotentWrite())
	defer cl.Close()
	c.WaitFor("NOT_ENOUGH_REPLICAS for acks=all", func(ctx context.Context) error {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
		if errors.Is(err, kerr.NotEnoughReplicas) {
			return nil
		}
		return fmt.Errorf("produce: %v", err)
	})
	// acks=1 still works on the leader.
	one := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	defer one.Close()
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	// With the second follower gone too the quorum has lost its majority:
	// nothing can be acknowledged with acks=all any more.
	c.Kill(others[1])
	short, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	all := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(2),
		kgo.RecordDeliveryTimeout(6*time.Second), kgo.DisableIdempotentWrite())
	defer all.Close()
	if err := all.ProduceSync(short, &kgo.Record{Value: []byte("z")}).FirstErr(); err == nil {
		t.Fatalf("acks=all acknowledged with two of three brokers dead")
	}
}
