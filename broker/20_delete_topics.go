package broker

import (
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics: v0-6
//
// Removes topics by name (and, v6+, by topic ID) from the metadata journal
// and deletes their partition directories. A topic created again under the
// same name gets a new ID and an empty log.
//
// Version notes:
//   - v1: ThrottleMillis; v4: flexible
//   - v5: ErrorMessage per topic
//   - v6: topics named by name or by ID (KIP-516)

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

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
			if t == nil {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		case tg.id != [16]byte{}:
			t = b.topicByID(uuid.UUID(tg.id))
			if t == nil {
				st.ErrorCode = kerr.UnknownTopicID.Code
			}
		default:
			st.ErrorCode = kerr.InvalidRequest.Code
		}
		if t != nil {
			st.Topic, st.TopicID = kmsg.StringPtr(t.name), t.id
			if kErr := b.deleteTopic(t); kErr != nil {
				st.ErrorCode = kErr.Code
			}
		}
		if st.ErrorCode != 0 && r.version >= 5 {
			st.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(st.ErrorCode).Error())
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
