package broker

import (
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Removes topics by name (and, v6+, by topic ID) from the metadata journal
// and deletes their partition directories, and every group's committed
// offsets of them (tombstoned in __consumer_offsets). A topic created again
// under the same name gets a new ID, an empty log and no committed offsets.
//
// Version notes:
//   - v1: ThrottleMillis; v4: flexible
//   - v5: ErrorMessage per topic; a controller_mutation_rate quota over
//     its limit fails a topic with THROTTLING_QUOTA_EXCEEDED (KIP-599),
//     older versions are only throttled
//   - v6: topics named by name or by ID (KIP-516)
//
// Authorization: DELETE on the topic (else TOPIC_AUTHORIZATION_FAILED; a
// missing topic the principal may DESCRIBE is UNKNOWN_TOPIC_OR_PARTITION).

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	mq := b.mutationQuota(r, r.version >= 5) // quotas.go
	defer func() { resp.ThrottleMillis = mq.throttleMillis() }()

	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if r.version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var t *topic
		switch {
		case tg.name != nil && *tg.name != "":
			t = b.topicByName(*tg.name)
			if kErr := deniedTopic(r, kmsg.ACLOperationDelete, *tg.name, t != nil); kErr != nil {
				t, st.ErrorCode = nil, kErr.Code
			} else if t == nil {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		case tg.id != [16]byte{}:
			t = b.topicByID(uuid.UUID(tg.id))
			if t == nil {
				st.ErrorCode = kerr.UnknownTopicID.Code
			} else if !r.authorizeTopic(kmsg.ACLOperationDelete, t.name) {
				t, st.ErrorCode = nil, kerr.TopicAuthorizationFailed.Code
			}
		default:
			st.ErrorCode = kerr.InvalidRequest.Code
		}
		if t != nil {
			st.Topic, st.TopicID = kmsg.StringPtr(t.name), t.id
			switch n := t.numPartitions(); {
			case !mq.allowed():
				st.ErrorCode = kerr.ThrottlingQuotaExceeded.Code
			default:
				if kErr := b.deleteTopic(t); kErr != nil {
					st.ErrorCode = kErr.Code
				} else {
					mq.record(n)
				}
			}
		}
		if st.ErrorCode != 0 && r.version >= 5 {
			st.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(st.ErrorCode).Error())
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
