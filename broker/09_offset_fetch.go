package broker

import (
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// OffsetFetch: v0-10
//
// Returns a group's committed offsets (offset -1 where nothing is
// committed, including for groups that do not exist), with their metadata
// strings and leader epochs. While the group's partition of
// __consumer_offsets is loading the answer is COORDINATOR_LOAD_IN_PROGRESS,
// never "nothing committed". With RequireStable, a partition with a
// transactional commit (TxnOffsetCommit) still awaiting its transaction's
// marker answers UNSTABLE_OFFSET_COMMIT, which the client retries (KIP-447).
//
// Version notes:
//   - v1: offsets from __consumer_offsets (v0 meant ZooKeeper; served the same)
//   - v2: a null topic list fetches all; a top-level ErrorCode
//   - v3: ThrottleMillis
//   - v5: LeaderEpoch
//   - v6: flexible
//   - v7: RequireStable (KIP-447)
//   - v8: many groups in one request (KIP-709)
//   - v9: MemberID and MemberEpoch (KIP-848; not checked for classic groups)
//   - v10: topics named by ID
//
// Authorization: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED) and
// on each topic: a requested topic the principal may not describe gets
// TOPIC_AUTHORIZATION_FAILED; a request for all topics leaves it out.

func init() { register(9, 0, 10, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	gc, gErr := b.groupCoordinator()
	describable := r.topicAuthorizer(kmsg.ACLOperationDescribe) // authorize.go
	groupErr := func(g string) *kerr.Error {
		if !r.authorizeGroup(kmsg.ACLOperationDescribe, g) {
			return kerr.GroupAuthorizationFailed
		}
		return gErr
	}
	if r.version < 8 {
		offsetFetchSingleGroup(r, req, resp, gc, groupErr(req.Group), describable)
		return resp, nil
	}

	for _, rg := range req.Groups {
		sg := kmsg.NewOffsetFetchResponseGroup()
		sg.Group = rg.Group
		var tps []group.TopicPartition
		unknownIDs := map[[16]byte][]int32{}
		if rg.Topics != nil {
			tps = []group.TopicPartition{}
			for _, t := range rg.Topics {
				name := t.Topic
				if r.version >= 10 {
					tt := b.topicByID(uuid.UUID(t.TopicID))
					if tt == nil {
						unknownIDs[t.TopicID] = t.Partitions
						continue
					}
					name = tt.name
				}
				for _, p := range t.Partitions {
					tps = append(tps, group.TopicPartition{Topic: name, Partition: p})
				}
			}
		}
		kErr := groupErr(rg.Group)
		var got []group.FetchedOffset
		if kErr == nil {
			got, kErr = gc.FetchOffsets(rg.Group, tps)
		}
		if kErr != nil {
			sg.ErrorCode = kErr.Code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		for _, f := range got {
			denied := !describable.allowed(f.Topic)
			if denied && tps == nil {
				continue // all topics: only those the principal may describe
			}
			var id [16]byte
			if r.version >= 10 {
				t := b.topicByName(f.Topic)
				if t == nil {
					continue // deleted topic: it has no ID to name it by
				}
				id = t.id
			}
			if n := len(sg.Topics); n == 0 || sg.Topics[n-1].Topic != f.Topic || (r.version >= 10 && sg.Topics[n-1].TopicID != id) {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic, t.TopicID = f.Topic, id
				sg.Topics = append(sg.Topics, t)
			}
			t := &sg.Topics[len(sg.Topics)-1]
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = f.Partition, f.Offset.Offset, f.LeaderEpoch
			p.Metadata = kmsg.StringPtr(f.Metadata)
			if denied {
				p.ErrorCode, p.Offset, p.LeaderEpoch, p.Metadata = kerr.TopicAuthorizationFailed.Code, -1, -1, kmsg.StringPtr("")
			} else if req.RequireStable && gc.HasPendingTxnOffsets(rg.Group, []group.TopicPartition{f.TopicPartition}) {
				p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
			}
			t.Partitions = append(t.Partitions, p)
		}
		for id, parts := range unknownIDs {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.TopicID = id
			for _, pi := range parts {
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch = pi, -1, -1
				p.ErrorCode = kerr.UnknownTopicID.Code
				t.Partitions = append(t.Partitions, p)
			}
			sg.Topics = append(sg.Topics, t)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}

// offsetFetchSingleGroup answers v0-7, which fetch one group's offsets:
// kErr is the group's authorization or coordinator error, if any (v0-1 put
// it in every partition, v2+ at the top).
func offsetFetchSingleGroup(r *request, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse, gc *group.Coordinator, kErr *kerr.Error, describable *topicAuthorizer) {
	var tps []group.TopicPartition
	if req.Topics != nil || r.version < 2 {
		tps = []group.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	var got []group.FetchedOffset
	if kErr == nil {
		got, kErr = gc.FetchOffsets(req.Group, tps)
	}
	if kErr != nil {
		if r.version >= 2 {
			resp.ErrorCode = kErr.Code
			return
		}
		got = nil
		for _, tp := range tps { // v0-1: the error goes in every partition
			got = append(got, group.FetchedOffset{TopicPartition: tp, Offset: group.Offset{Offset: -1, LeaderEpoch: -1}})
		}
	}
	for _, f := range got {
		denied := !describable.allowed(f.Topic)
		if denied && tps == nil {
			continue // all topics: only those the principal may describe
		}
		if len(resp.Topics) == 0 || resp.Topics[len(resp.Topics)-1].Topic != f.Topic {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = f.Topic
			resp.Topics = append(resp.Topics, t)
		}
		t := &resp.Topics[len(resp.Topics)-1]
		p := kmsg.NewOffsetFetchResponseTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = f.Partition, f.Offset.Offset, f.LeaderEpoch
		p.Metadata = kmsg.StringPtr(f.Metadata)
		if kErr != nil {
			p.ErrorCode = kErr.Code
		} else if denied {
			p.ErrorCode, p.Offset, p.LeaderEpoch, p.Metadata = kerr.TopicAuthorizationFailed.Code, -1, -1, kmsg.StringPtr("")
		} else if req.RequireStable && gc.HasPendingTxnOffsets(req.Group, []group.TopicPartition{f.TopicPartition}) {
			p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
		}
		t.Partitions = append(t.Partitions, p)
	}
}
