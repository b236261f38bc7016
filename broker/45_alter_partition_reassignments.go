package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// AlterPartitionReassignments: v0-1
//
// Moves partitions to new replicas (KIP-455). Each partition's target is
// recorded in its metadata with a partition-change record through the
// active controller (forwarded from other nodes like every metadata
// write): the replicas become the union of the target and the current
// replicas, the new ones copy the log from the leader and join the ISR, and
// the ISR change that brings in the last of them completes the move
// (meta/reassign.go): the replicas become the target, the removed ones stop
// and delete their copy, and a leader outside the target hands over to the
// target's first in-sync replica. A target already in sync completes at
// once. Null replicas cancel the reassignment in progress, reverting to the
// original replicas.
//
// Errors, per partition as Kafka's controller decides: an unknown topic or
// partition UNKNOWN_TOPIC_OR_PARTITION; an empty list, a duplicate or an
// unregistered broker INVALID_REPLICA_ASSIGNMENT; a cancellation with
// nothing in progress NO_REASSIGNMENT_IN_PROGRESS.
//
// Version notes:
//   - v1: AllowReplicationFactorChange (KIP-860): when false, a target
//     whose size differs from the current replication factor fails with
//     INVALID_REPLICATION_FACTOR.
//
// Authorization: ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED).

func init() { register(45, 0, 1, handleAlterPartitionReassignments) }

func handleAlterPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if !r.authorizeCluster(kmsg.ACLOperationAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
		return resp, nil
	}
	allowRF := r.version < 1 || req.AllowReplicationFactorChange
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if !t.hasPartition(rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if kErr, msg := b.reassign(ctx, t, rp.Partition, rp.Replicas, allowRF); kErr != nil {
				sp.ErrorCode, sp.ErrorMessage = kErr.Code, kmsg.StringPtr(msg)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// reassign starts (target non-nil) or cancels (nil) the reassignment of
// partition i of t. A change computed from a partition epoch that moved on
// (an ISR change raced it) is computed again.
func (b *Broker) reassign(ctx context.Context, t *topic, i int32, target []int32, allowRF bool) (*kerr.Error, string) {
	for attempt := 0; ; attempt++ {
		ps := t.placementOf(i)
		b.mu.RLock()
		registered := func(id int32) bool { _, ok := b.meta.Broker(id); return ok }
		live := map[int32]bool{}
		for _, br := range b.meta.LiveBrokers() {
			live[br.ID] = true
		}
		b.mu.RUnlock()
		var next meta.PartitionState
		if target == nil {
			var err error
			if next, err = meta.CancelReassignment(ps, func(id int32) bool { return live[id] }); err != nil {
				return kerr.NoReassignmentInProgress, "no reassignment is in progress for this partition"
			}
		} else {
			if err := meta.ValidateTarget(target, registered); err != nil {
				return kerr.InvalidReplicaAssignment, err.Error()
			}
			if rf := len(ps.OriginalReplicas()); !allowRF && len(target) != rf {
				return kerr.InvalidReplicationFactor, fmt.Sprintf("The replication factor is changed from %d to %d but allowReplicationFactorChange is false", rf, len(target))
			}
			if len(ps.Replicas) == 0 {
				// A partition from before placement: its one replica is here.
				if slices.Equal(target, []int32{b.cfg.NodeID}) {
					return nil, ""
				}
				return kerr.InvalidReplicaAssignment, "the partition predates replica placement; its only replica is this broker"
			}
			next = meta.StartReassignment(ps, target)
			if slices.Equal(next.Replicas, ps.Replicas) && !ps.Reassigning() && !next.Reassigning() {
				return nil, "" // the target is the current assignment
			}
		}
		rec := meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{
			Topic: t.id, Partition: i, ExpectEpoch: ps.PartitionEpoch, State: next}}
		err := b.propose(ctx, rec)
		switch {
		case err == nil:
			what := "started"
			if target == nil {
				what = "cancelled"
			}
			b.logger.Info("partition reassignment "+what, "topic", t.name, "partition", i, "target", target, "replicas", next.Replicas)
			return nil, ""
		case errors.Is(err, meta.ErrStalePartition) && attempt < 20:
			// Catch up with the change that won, then decide again.
			if berr := b.quorum.Barrier(ctx); berr != nil {
				return kerr.RequestTimedOut, berr.Error()
			}
			select {
			case <-ctx.Done():
				return kerr.RequestTimedOut, ctx.Err().Error()
			case <-time.After(20 * time.Millisecond):
			}
		default:
			return metadataErrorCode(err), err.Error()
		}
	}
}
