package broker

import (
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// OffsetCommit: v0-10
//
// Commits offsets to a group; they are written to __consumer_offsets (and
// fsynced under the durable flush policy) before the answer. A member
// commits with its generation; generation -1 without a member ID commits
// to an empty or new group, as kcat, kafka-go and admin clients do.
// Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION, metadata
// over offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE. Metadata
// strings and leader epochs are kept.
//
// Version notes:
//   - v0: no generation or member (treated as generation -1)
//   - v1: Generation, MemberID, per-partition Timestamp (an explicit expiry:
//     Timestamp + offsets.retention.minutes)
//   - v2: RetentionTimeMillis (an explicit expiry from now) replaces Timestamp
//   - v3: ThrottleMillis
//   - v5: RetentionTimeMillis removed
//   - v6: per-partition LeaderEpoch
//   - v7: InstanceID (KIP-345)
//   - v8: flexible
//   - v9: a positive generation for a missing group is GROUP_ID_NOT_FOUND
//     rather than ILLEGAL_GENERATION (KIP-848)
//   - v10: topics named by ID (UNKNOWN_TOPIC_ID for unknown ones)
//
// Authorization: READ on the group (else GROUP_AUTHORIZATION_FAILED for every
// partition) and READ on each topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(8, 0, 10, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	gc, gErr := b.groupCoordinator()
	if !r.authorizeGroup(kmsg.ACLOperationRead, req.Group) {
		gErr = kerr.GroupAuthorizationFailed
	}
	readable := r.topicAuthorizer(kmsg.ACLOperationRead) // authorize.go
	now := time.Now().UnixMilli()

	cr := group.CommitRequest{MemberID: req.MemberID, Generation: req.Generation}
	if r.version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	if req.InstanceID != nil {
		cr.InstanceID = *req.InstanceID
	}
	var retention int64
	if gc != nil {
		retention = gc.OffsetsRetention().Milliseconds()
	}
	// Build the response skeleton and the list of valid offsets; where[i]
	// is the response slot of offsets[i].
	type slot struct{ t, p int }
	var offsets []group.CommitOffset
	var where []slot
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		topicErr := kerr.UnknownTopicOrPartition
		if r.version >= 10 {
			t = b.topicByID(uuid.UUID(rt.TopicID))
			topicErr = kerr.UnknownTopicID
		} else {
			t = b.topicByName(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case gErr != nil:
				sp.ErrorCode = gErr.Code
			case !(t == nil && r.version >= 10) && !readable.allowed(topicName(t, rt.Topic)):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil:
				sp.ErrorCode = topicErr.Code
			case !t.hasPartition(rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				co := group.CommitOffset{
					TopicPartition:  group.TopicPartition{Topic: t.name, Partition: rp.Partition},
					Offset:          rp.Offset,
					LeaderEpoch:     -1,
					ExpireTimestamp: -1,
				}
				if r.version >= 6 {
					co.LeaderEpoch = rp.LeaderEpoch
				}
				if rp.Metadata != nil {
					co.Metadata = *rp.Metadata
				}
				switch {
				case r.version == 1 && rp.Timestamp != -1:
					co.ExpireTimestamp = rp.Timestamp + retention
				case r.version >= 2 && r.version <= 4 && req.RetentionTimeMillis != -1:
					co.ExpireTimestamp = now + req.RetentionTimeMillis
				}
				offsets = append(offsets, co)
				where = append(where, slot{len(resp.Topics), len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(offsets) == 0 {
		return resp, nil
	}
	notFound := kerr.IllegalGeneration
	if r.version >= 9 {
		notFound = kerr.GroupIDNotFound
	}
	errs := gc.CommitOffsets(req.Group, cr, offsets, notFound)
	for i, s := range where {
		resp.Topics[s.t].Partitions[s.p].ErrorCode = errorCode(errs[i])
	}
	return resp, nil
}
