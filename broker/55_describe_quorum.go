package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/quorum"
)

// DescribeQuorum: v0-2
//
// Describes the metadata quorum as Kafka's does for its __cluster_metadata
// partition 0: the active controller and its epoch (the raft term), the
// high watermark (the commit index), each voter's log end offset (as the
// leader knows it), when it was last heard from and last caught up, and
// the brokers that only observe the metadata. Any broker answers: it asks
// the active controller when it is not that controller itself.
//
// Version notes:
//   - v1: LastFetchTimestamp, LastCaughtUpTimestamp
//   - v2: ErrorMessage, ReplicaDirectoryID, Nodes with their listeners (KIP-853)
//
// Authorization: DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED).

func init() { register(55, 0, 2, handleDescribeQuorum) }

// metadataTopic is the name Kafka gives the metadata log.
const metadataTopic = "__cluster_metadata"

func handleDescribeQuorum(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !r.authorizeCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		if r.version >= 2 {
			resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadataTopic || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			status, err := b.leaderQuorumStatus()
			if err != nil {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				if r.version >= 2 {
					sp.ErrorMessage = kmsg.StringPtr(err.Error())
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			fillQuorumPartition(b, &sp, status)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if r.version >= 2 {
		for _, v := range b.controllerEndpoints() {
			n := kmsg.NewDescribeQuorumResponseNode()
			n.NodeID = v.id
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = "CONTROLLER", v.host, uint16(v.port)
			if len(b.cfg.Cluster.ControllerListeners) > 0 {
				l.Name = b.cfg.Cluster.ControllerListeners[0]
			}
			n.Listeners = append(n.Listeners, l)
			resp.Nodes = append(resp.Nodes, n)
		}
	}
	return resp, nil
}

// leaderQuorumStatus is the quorum status as the active controller sees
// it: this node's own when it leads, else fetched from the controller.
func (b *Broker) leaderQuorumStatus() (quorum.Status, error) {
	if b.quorum.LeaderReady() {
		return b.quorum.Status(), nil
	}
	leader := b.controllerNode()
	if leader < 0 {
		return quorum.Status{}, errNoController
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := b.ctrlClient.status(ctx, leader)
	return st.Status, err
}

func fillQuorumPartition(b *Broker, sp *kmsg.DescribeQuorumResponseTopicPartition, st quorum.Status) {
	sp.LeaderID = nodeOf(st.Leader)
	sp.LeaderEpoch = int32(st.Term)
	sp.HighWatermark = int64(st.Commit)
	voters := map[int32]bool{}
	for _, v := range st.Voters {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID = nodeOf(v.ID)
		voters[rs.ReplicaID] = true
		rs.LogEndOffset = int64(v.Match)
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = -1, -1
		if v.ID == st.Leader {
			rs.LogEndOffset = int64(st.Commit + v.Lag)
			now := time.Now().UnixMilli()
			rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = now, now
		} else if !v.LastContact.IsZero() {
			rs.LastFetchTimestamp = v.LastContact.UnixMilli()
			if v.Lag == 0 {
				rs.LastCaughtUpTimestamp = rs.LastFetchTimestamp
			}
		}
		sp.CurrentVoters = append(sp.CurrentVoters, rs)
	}
	b.mu.RLock()
	brokers := b.meta.Brokers()
	b.mu.RUnlock()
	for _, br := range brokers {
		if voters[br.ID] {
			continue
		}
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = br.ID, -1
		rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = -1, -1
		sp.Observers = append(sp.Observers, rs)
	}
}
