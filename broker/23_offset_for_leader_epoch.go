package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4
//
// Answers, from the partition's leader-epoch checkpoint, the end offset of
// the requested epoch (the start of the next epoch, or the log end offset
// for the current one) and the largest epoch not above it, so a consumer can
// detect log truncation (KIP-320).
//
// Version notes:
//   - v1: LeaderEpoch in the response; v2: CurrentLeaderEpoch fencing
//   - v3: ReplicaID; v4: flexible
//
// Authorization: a follower's request (ReplicaID >= 0) needs CLUSTER_ACTION on
// the cluster (else CLUSTER_AUTHORIZATION_FAILED), a client's DESCRIBE on each
// topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	follower := r.version >= 3 && req.ReplicaID >= 0
	clusterOK := follower && r.authorizeCluster(kmsg.ACLOperationClusterAction)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		denied := kerr.ClusterAuthorizationFailed
		if !follower {
			clusterOK, denied = r.authorizeTopic(kmsg.ACLOperationDescribe, rt.Topic), kerr.TopicAuthorizationFailed
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p := t.partition(rp.Partition)
			switch {
			case !clusterOK:
				sp.ErrorCode = denied.Code
			case p == nil:
				sp.ErrorCode = t.partitionError(rp.Partition).Code
			case r.version >= 2 && rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.log.LeaderEpoch():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case r.version >= 2 && rp.CurrentLeaderEpoch > p.log.LeaderEpoch():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
