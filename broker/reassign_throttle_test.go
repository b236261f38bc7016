package broker_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestReassignThrottled moves two partitions of about 1 MiB each onto a
// second replica at once, one of them throttled to 200 kB/s on both sides
// (Kafka's replication quotas): the throttled one is held back by the
// quotas and takes at least half the time its bytes need at that rate
// (a loose lower bound, safe on a loaded machine); the other one is not
// held back at all.
func TestReassignThrottled(t *testing.T) {
	const topic, rate, size = "throttled", 200_000, 1 << 20
	c := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()), freshMetadata())
	if res, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for p := range int32(2) {
		var rs []*kgo.Record
		for range size / 1000 {
			value := make([]byte, 1000) // random: the batches do not compress
			rand.Read(value)
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: value})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leader := map[int32]int32{}
	target := map[int32][]int32{}
	for _, p := range md.Topics[topic].Partitions {
		leader[p.Partition] = p.Leader
		target[p.Partition] = []int32{p.Leader, p.Leader%3 + 1}
	}
	// Throttle partition 0 only: its leader's replica on the leader side,
	// its new replica on the follower side, and both rates everywhere.
	r := strconv.Itoa(rate)
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "leader.replication.throttled.rate", Value: &r},
		{Name: "follower.replication.throttled.rate", Value: &r}}, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	lt, ft := fmt.Sprintf("0:%d", leader[0]), fmt.Sprintf("0:%d", target[0][1])
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "leader.replication.throttled.replicas", Value: &lt},
		{Name: "follower.replication.throttled.replicas", Value: &ft}}, topic)
	if err != nil || res[0].Err != nil {
		t.Fatalf("topic configs: %v %v", err, res)
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, target[0])
	req.Assign(topic, 1, target[1])
	start := time.Now()
	if ares, err := adm.AlterPartitionAssignments(ctx, req); err != nil || ares.Error() != nil {
		t.Fatalf("reassign: %v %v", err, ares.Error())
	}
	done := map[int32]time.Duration{}
	waitFor(t, "both reassignments complete", func() error {
		ls, err := reassigning(ctx, cl)
		if err != nil {
			return err
		}
		busy := ls[topic]
		for p := range int32(2) {
			if _, ok := done[p]; !ok && !hasKey(busy, p) {
				done[p] = time.Since(start)
			}
		}
		if len(done) < 2 {
			return fmt.Errorf("in progress: %v", busy)
		}
		return nil
	})
	t.Logf("throttled partition moved in %v, unthrottled in %v", done[0], done[1])
	lead := c.Node(int(leader[0])).Broker().ReplicationThrottleStats()
	fol := c.Node(int(target[0][1])).Broker().ReplicationThrottleStats()
	t.Logf("leader %+v follower %+v", lead, fol)
	if lead.LeaderBytes < size*9/10 || fol.FollowerBytes < size*9/10 {
		t.Errorf("throttled bytes: leader %d, follower %d, want about %d", lead.LeaderBytes, fol.FollowerBytes, size)
	}
	if lead.LeaderHeldBack+fol.FollowerHeldBack == 0 {
		t.Error("the quotas never held the throttled replica back")
	}
	// The buckets start full (one second each side), then refill at rate.
	if minimum := time.Duration(float64(size-2*rate) / rate / 2 * float64(time.Second)); done[0] < minimum {
		t.Errorf("throttled reassignment took %v, less than %v", done[0], minimum)
	}
	if other := c.Node(int(leader[1])).Broker().ReplicationThrottleStats(); leader[1] != leader[0] && other.LeaderBytes != 0 {
		t.Errorf("unthrottled partition counted against the quota: %+v", other)
	}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}
