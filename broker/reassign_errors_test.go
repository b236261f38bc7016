package broker_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestReassignmentRequests: Kafka's answers to AlterPartitionReassignments
// in a cluster, and a reassignment that cannot finish (its new replica's
// broker is down) listed while in progress and reverted by cancelling it.
func TestReassignmentRequests(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, c.Seeds()[0], freshMetadata())
	mustCreate(t, ctx, adm, "moves", 1, nil)
	// The metadata may come from a node that has not applied the new
	// topic yet.
	var orig []int32 // replication factor 1
	waitFor(t, "the topic in the metadata", func() error {
		md, err := adm.Metadata(ctx, "moves")
		if err != nil {
			return err
		}
		if orig = md.Topics["moves"].Partitions[0].Replicas; len(orig) != 1 {
			return fmt.Errorf("partition 0 of moves: %+v", md.Topics["moves"])
		}
		return nil
	})
	other := orig[0]%3 + 1
	alter := func(partition int32, replicas []int32, allowRF bool) kmsg.AlterPartitionAssignmentsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.AllowReplicationFactorChange = allowRF
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = "moves"
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = partition, replicas
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	cases := []struct {
		name      string
		partition int32
		replicas  []int32
		allowRF   bool
		want      *kerr.Error
	}{
		{"unknown broker", 0, []int32{1, 9}, true, kerr.InvalidReplicaAssignment},
		{"duplicate broker", 0, []int32{2, 2}, true, kerr.InvalidReplicaAssignment},
		{"empty", 0, []int32{}, true, kerr.InvalidReplicaAssignment},
		{"cancel with none in progress", 0, nil, true, kerr.NoReassignmentInProgress},
		{"unknown partition", 4, []int32{1}, true, kerr.UnknownTopicOrPartition},
		{"replication factor change refused (KIP-860)", 0, []int32{1, 2}, false, kerr.InvalidReplicationFactor},
		{"the current assignment", 0, orig, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want int16
			if tc.want != nil {
				want = tc.want.Code
			}
			if got := alter(tc.partition, tc.replicas, tc.allowRF); got.ErrorCode != want {
				t.Fatalf("got %v (%v), want %v", kerr.ErrorForCode(got.ErrorCode), got.ErrorMessage, tc.want)
			}
		})
	}
	// Moving onto a broker that is down never completes: it is listed
	// with its adding replica until cancelled, and then it is as before.
	c.Stop(int(other))
	if got := alter(0, []int32{other}, true); got.ErrorCode != 0 {
		t.Fatalf("reassign onto the stopped broker: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	ls, err := reassigning(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ls["moves"][0]; !ok || !slices.Equal(p.AddingReplicas, []int32{other}) || !slices.Equal(p.RemovingReplicas, orig) || !slices.Equal(p.Replicas, []int32{other, orig[0]}) {
		t.Fatalf("listed: %+v", ls)
	}
	// Every broker shows the union once it has applied the change.
	waitFor(t, "metadata during the move", func() error {
		md, err := adm.Metadata(ctx, "moves")
		if err != nil {
			return err
		}
		if r := md.Topics["moves"].Partitions[0].Replicas; !slices.Equal(r, []int32{other, orig[0]}) {
			return fmt.Errorf("replicas %v", r)
		}
		return nil
	})
	if got := alter(0, nil, true); got.ErrorCode != 0 {
		t.Fatalf("cancel: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if ls, err := reassigning(ctx, cl); err != nil || len(ls) != 0 {
		t.Fatalf("listed after cancel: %+v %v", ls, err)
	}
	waitFor(t, "metadata after the cancel", func() error {
		md, err := adm.Metadata(ctx, "moves")
		if err != nil {
			return err
		}
		if p := md.Topics["moves"].Partitions[0]; !slices.Equal(p.Replicas, orig) || p.Leader != orig[0] {
			return fmt.Errorf("replicas %v leader %d, want %v", p.Replicas, p.Leader, orig)
		}
		return nil
	})
}
