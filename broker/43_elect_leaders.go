package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectLeaders: v0-2
//
// On one node every partition is already led by its only (preferred)
// replica, so each named partition answers ELECTION_NOT_NEEDED, and unknown
// ones UNKNOWN_TOPIC_OR_PARTITION. A null topic list means all partitions;
// none of them needs an election, so the list comes back empty, as Kafka
// does.
//
// Version notes:
//   - v1: ElectionType (preferred or unclean), top-level ErrorCode
//   - v2: flexible

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = i
			if t.partition(i) == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				sp.ErrorCode = kerr.ElectionNotNeeded.Code
			}
			sp.ErrorMessage = kmsg.StringPtr(kerr.ErrorForCode(sp.ErrorCode).Error())
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
