package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/broker/brokertest"
)

// gatherBroker collects one broker's metrics (a fresh registry each time:
// a restarted node is a new Broker).
func gatherBroker(t *testing.T, b *broker.Broker) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(b.Metrics()); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// waitNode polls a node's metric until ok holds, failing at ctx's end.
func waitNode(t *testing.T, ctx context.Context, b func() *broker.Broker, name string, ok func(float64) bool, what string) {
	t.Helper()
	for {
		v, found := sample(gatherBroker(t, b()), name, nil)
		if found && ok(v) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s = %v (found %v), want %s", name, v, found, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestMetricsCluster: one active controller across the nodes; a stopped
// follower makes its partition under-replicated on the leader, and its
// return an ISR expansion.
func TestMetricsCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithProperty("replica.lag.time.max.ms", "2000"))
	ctx := testCtx(t)
	for id := 1; id <= 3; id++ {
		if err := c.Node(id).Broker().Ready(); err != nil {
			t.Fatalf("node %d: Ready: %v", id, err)
		}
	}
	// Exactly one node is the active controller (leadership may still
	// settle just after start: poll).
	for {
		active := 0.0
		for id := 1; id <= 3; id++ {
			v, _ := sample(gatherBroker(t, c.Node(id).Broker()), "kafka_controller_kafkacontroller_activecontrollercount", nil)
			active += v
		}
		if active == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("active controllers across the cluster: %v, want 1", active)
		case <-time.After(100 * time.Millisecond):
		}
	}

	_, adm := newAdmin(t, c.Seeds()[0], freshMetadata())
	const topic = "metrics-replicated"
	if res, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	var leader, follower int
	for leader == 0 {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := md.Topics[topic].Partitions[0]; ok && p.Leader > 0 && len(p.ISR) == 3 {
			leader = int(p.Leader)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partition 0 of %s never had a leader and a full ISR", topic)
		case <-time.After(50 * time.Millisecond):
		}
	}
	follower = leader%3 + 1
	leaderBroker := func() *broker.Broker { return c.Node(leader).Broker() }
	waitNode(t, ctx, leaderBroker, "kafka_server_replicamanager_underreplicatedpartitions", func(v float64) bool { return v == 0 }, "0 with the full ISR")

	c.Stop(follower)
	waitNode(t, ctx, leaderBroker, "kafka_server_replicamanager_underreplicatedpartitions", func(v float64) bool { return v == 1 }, "1 with a follower down")
	c.Start(follower)
	waitNode(t, ctx, leaderBroker, "kafka_server_replicamanager_isrexpands_total", func(v float64) bool { return v >= 1 }, ">= 1 once the follower is back")
	waitNode(t, ctx, leaderBroker, "kafka_server_replicamanager_underreplicatedpartitions", func(v float64) bool { return v == 0 }, "0 once the follower is back")
	for id := 1; id <= 3; id++ {
		v, _ := sample(gatherBroker(t, c.Node(id).Broker()), "kafka_controller_kafkacontroller_offlinepartitionscount", nil)
		if v != 0 {
			t.Errorf("node %d: offline partitions %v", id, v)
		}
	}
}
