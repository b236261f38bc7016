package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionReassignments: v0-1
//
// One node holds the only replica of every partition, so the one valid
// target is [this node]: it is the current assignment and the request
// completes at once. Everything else fails per partition as Kafka's
// controller decides: an unknown topic or partition UNKNOWN_TOPIC_OR_PARTITION,
// an empty list, a duplicate or an unregistered broker INVALID_REPLICA_ASSIGNMENT,
// and a cancellation (null replicas) NO_REASSIGNMENT_IN_PROGRESS, since none
// ever is.
//
// Version notes:
//   - v1: AllowReplicationFactorChange (KIP-860); a valid target here never
//     changes the replication factor, so it is echoed and needs no check.

func init() { register(45, 0, 1, handleAlterPartitionReassignments) }

func handleAlterPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if t.partition(rp.Partition) == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if kErr, msg := b.checkReassignment(rp.Replicas); kErr != nil {
				sp.ErrorCode, sp.ErrorMessage = kErr.Code, kmsg.StringPtr(msg)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// checkReassignment validates a partition's target replicas (nil: cancel
// the reassignment in progress) against this single-node cluster.
func (b *Broker) checkReassignment(replicas []int32) (*kerr.Error, string) {
	if replicas == nil {
		return kerr.NoReassignmentInProgress, "no reassignment is in progress for this partition"
	}
	if len(replicas) == 0 {
		return kerr.InvalidReplicaAssignment, "the target replica list is empty"
	}
	seen := map[int32]bool{}
	for _, id := range replicas {
		if seen[id] {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("the target replica list names broker %d twice", id)
		}
		seen[id] = true
		if id != b.cfg.NodeID {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("the target replica list includes broker %d, but no such broker is registered", id)
		}
	}
	return nil, ""
}
