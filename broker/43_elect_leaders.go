package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// ElectLeaders: v0-2
//
// PREFERRED (type 0) moves each named partition's leadership to its first
// replica when that replica is live and in sync (ELECTION_NOT_NEEDED when
// it leads already, PREFERRED_LEADER_NOT_AVAILABLE when it cannot);
// UNCLEAN (type 1) elects a leader for a leaderless partition from any
// live replica, in sync or not (ELECTION_NOT_NEEDED when it has a leader,
// ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live). Each election is
// a partition-change record through the controller. A null topic list
// means every partition; only those that changed are listed then, as
// Kafka does.
//
// Version notes:
//   - v1: ElectionType (preferred or unclean), top-level ErrorCode
//   - v2: flexible
//
// Authorization: ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED, at
// the top and for every partition named).

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	unclean := r.version >= 1 && req.ElectionType == 1
	clusterOK := r.authorizeCluster(kmsg.ACLOperationAlter)
	if !clusterOK {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	topics := req.Topics
	all := topics == nil
	if all && !clusterOK {
		return resp, nil
	}
	if all {
		b.mu.RLock()
		for _, t := range b.topics {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic = t.name
			for i := int32(0); i < t.numPartitions(); i++ {
				rt.Partitions = append(rt.Partitions, i)
			}
			topics = append(topics, rt)
		}
		b.mu.RUnlock()
	}
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = i
			if !clusterOK {
				sp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			} else if !t.hasPartition(i) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				sp.ErrorCode = b.electLeader(t, i, unclean).Code
			}
			if all && sp.ErrorCode == kerr.ElectionNotNeeded.Code {
				continue
			}
			if sp.ErrorCode != 0 {
				sp.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(sp.ErrorCode).Error())
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 || !all {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, nil
}

// errNone stands for success in electLeader's answer.
var errNone = &kerr.Error{Message: "NONE", Code: 0}

// electLeader runs one election; its error says why none was held.
func (b *Broker) electLeader(t *topic, i int32, unclean bool) *kerr.Error {
	ps := t.placementOf(i)
	b.mu.RLock()
	live := map[int32]bool{}
	for _, br := range b.meta.LiveBrokers() {
		live[br.ID] = true
	}
	b.mu.RUnlock()
	next := ps
	next.Replicas, next.ISR = slices.Clone(ps.Replicas), slices.Clone(ps.ISR)
	if unclean {
		if !ps.Offline() {
			return kerr.ElectionNotNeeded
		}
		i := slices.IndexFunc(ps.Replicas, func(r int32) bool { return live[r] })
		if i < 0 {
			return kerr.EligibleLeadersNotAvailable
		}
		next.Leader, next.ISR = ps.Replicas[i], []int32{ps.Replicas[i]}
	} else {
		if len(ps.Replicas) == 0 {
			return kerr.PreferredLeaderNotAvailable
		}
		preferred := ps.Replicas[0]
		if ps.Leader == preferred {
			return kerr.ElectionNotNeeded
		}
		if !live[preferred] || !slices.Contains(ps.ISR, preferred) {
			return kerr.PreferredLeaderNotAvailable
		}
		next.Leader = preferred
	}
	rec := meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{
		Topic: t.id, Partition: i, ExpectEpoch: ps.PartitionEpoch, State: next}}
	if err := b.propose(context.Background(), rec); err != nil {
		return metadataErrorCode(err)
	}
	return errNone
}
