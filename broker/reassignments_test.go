package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestAlterPartitionReassignments: on one node the only valid target is the
// current assignment (a no-op success); every other request fails per
// partition with Kafka's codes.
func TestAlterPartitionReassignments(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "moves", 2, nil)

	cases := []struct {
		name      string
		topic     string
		partition int32
		replicas  []int32
		want      *kerr.Error
	}{
		{"same replica: no-op", "moves", 0, []int32{1}, nil},
		{"unknown broker", "moves", 1, []int32{2}, kerr.InvalidReplicaAssignment},
		{"duplicate broker", "moves", 1, []int32{1, 1}, kerr.InvalidReplicaAssignment},
		{"empty list", "moves", 1, []int32{}, kerr.InvalidReplicaAssignment},
		{"cancel with none in progress", "moves", 1, nil, kerr.NoReassignmentInProgress},
		{"unknown partition", "moves", 9, []int32{1}, kerr.UnknownTopicOrPartition},
		{"unknown topic", "nope", 0, []int32{1}, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = tc.topic
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = tc.partition, tc.replicas
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response shape: %+v", resp)
			}
			var want int16
			if tc.want != nil {
				want = tc.want.Code
			}
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != want {
				t.Fatalf("error: got %v, want %v", kerr.ErrorForCode(got), tc.want)
			}
		})
	}
	// Nothing is ever in progress afterwards.
	lr, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil || len(lr.Topics) != 0 {
		t.Fatalf("list reassignments: %+v %v", lr, err)
	}
}
