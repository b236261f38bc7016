package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestEmptyReplicaRejoinsAfterLeaderChanges: a replica whose log holds no
// records but a leader epoch the current leader never had (it led the
// empty partition once) must drop that epoch when the leader's
// DivergingEpoch says so, and rejoin the ISR, instead of fetching with the
// same last epoch forever. Partition: replicas [1 2]; 1 leads (epoch 0),
// 2 leads (epoch 1), 1 leads again (epoch 2): 2 comes back holding epoch 1.
func TestEmptyReplicaRejoinsAfterLeaderChanges(t *testing.T) {
	c := brokertest.StartCluster(t, 3, brokertest.WithProperty("replica.lag.time.max.ms", "5000"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], kgo.SeedBrokers(c.Seeds()...), freshMetadata())
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "empty", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v %v", err, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	state := func(wantLeader int32, wantISR []int32) {
		t.Helper()
		waitFor(t, fmt.Sprintf("leader %d, isr %v", wantLeader, wantISR), func() error {
			md, err := adm.Metadata(ctx, "empty")
			if err != nil {
				return err
			}
			p := md.Topics["empty"].Partitions[0]
			isr := slices.Sorted(slices.Values(p.ISR))
			if p.Leader != wantLeader || !slices.Equal(isr, wantISR) {
				return fmt.Errorf("leader %d, isr %v", p.Leader, isr)
			}
			return nil
		})
	}
	state(1, []int32{1, 2})
	c.Stop(1)
	state(2, []int32{2})
	c.Start(1)
	state(2, []int32{1, 2})
	c.Stop(2)
	state(1, []int32{1})
	c.Start(2)
	state(1, []int32{1, 2})
}
