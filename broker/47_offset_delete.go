package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// OffsetDelete: v0
//
// Deletes committed offsets of a group (KIP-496): allowed for an Empty
// group, and for a live "consumer" group on topics none of its members
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Partitions of
// unknown topics get UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization: DELETE on the group (else GROUP_AUTHORIZATION_FAILED) and
// READ on each topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !r.authorizeGroup(kmsg.ACLOperationDelete, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	readable := r.topicAuthorizer(kmsg.ACLOperationRead) // authorize.go
	gc, kErr := b.groupCoordinator()
	if kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	type slot struct{ t, p int }
	var tps []group.TopicPartition
	var where []slot
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if !readable.allowed(rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if !t.hasPartition(rp.Partition) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				where = append(where, slot{len(resp.Topics), len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	top, errs := gc.DeleteOffsets(req.Group, tps)
	if top != nil {
		resp.ErrorCode = top.Code
		resp.Topics = nil
		return resp, nil
	}
	for i, s := range where {
		resp.Topics[s.t].Partitions[s.p].ErrorCode = errorCode(errs[i])
	}
	return resp, nil
}
