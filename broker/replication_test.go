package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// waitFor polls check until it succeeds or a minute passes.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicatedPartitions runs three in-process nodes: a topic with
// replication factor 3 takes acks=all writes once every replica is in
// sync; the leader's controlled shutdown moves leadership to a follower
// holding every acknowledged record; the old leader comes back, catches up
// and rejoins the ISR.
func TestReplicatedPartitions(t *testing.T) {
	c := brokertest.StartCluster(t, 3,
		brokertest.WithProperty("min.insync.replicas", "2"),
		brokertest.WithProperty("replica.lag.time.max.ms", "5000"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.DefaultProduceTopic("replicated"), freshMetadata(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 1, 3, nil, "replicated"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	leaderAndISR := func() (int32, []int32, error) {
		md, err := adm.Metadata(ctx, "replicated")
		if err != nil {
			return -1, nil, err
		}
		p := md.Topics["replicated"].Partitions[0]
		return p.Leader, p.ISR, nil
	}
	waitFor(t, "full ISR", func() error {
		_, isr, err := leaderAndISR()
		if err == nil && len(isr) != 3 {
			err = fmt.Errorf("isr %v", isr)
		}
		return err
	})
	const n = 500
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	leader, _, err := leaderAndISR()
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(int(leader)) // controlled shutdown
	waitFor(t, "a new leader", func() error {
		l, _, err := leaderAndISR()
		if err == nil && (l == leader || l < 0) {
			err = fmt.Errorf("leader %d", l)
		}
		return err
	})
	// Until the new leader's high watermark reaches the end it took over,
	// "latest" is OFFSET_NOT_AVAILABLE (retriable); it is never an offset
	// below an acknowledged record.
	waitFor(t, "the end offset on the new leader", func() error {
		end, err := adm.ListEndOffsets(ctx, "replicated")
		if err != nil {
			return err
		}
		o, _ := end.Lookup("replicated", 0)
		switch {
		case errors.Is(o.Err, kerr.OffsetNotAvailable):
			return o.Err
		case o.Err != nil:
			t.Fatalf("end offset on the new leader: %v", o.Err)
		case o.Offset != n:
			t.Fatalf("end offset on the new leader = %d, want %d", o.Offset, n)
		}
		return nil
	})
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "s%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce after failover %d: %v", i, err)
		}
	}
	c.Start(int(leader))
	waitFor(t, "the old leader back in the ISR", func() error {
		_, isr, err := leaderAndISR()
		if err == nil && len(isr) != 3 {
			err = fmt.Errorf("isr %v", isr)
		}
		return err
	})
	// Every replica serves the same records once it leads: read them all
	// from a fresh consumer.
	rd, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"replicated": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []string
	for len(got) < 2*n {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := range n {
		if got[i] != fmt.Sprintf("r%d", i) || got[n+i] != fmt.Sprintf("s%d", i) {
			t.Fatalf("record %d/%d: %q %q", i, n+i, got[i], got[n+i])
		}
	}
}
