package broker

import (
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-12
//
// Answers with this broker (at the address advertised for the listener the
// request came in on), the cluster ID, and the requested topics with their
// IDs and partitions, all led by this node. Unknown topics are created when
// the broker allows it (auto.create.topics.enable) and the request does too
// (AllowAutoTopicCreation, v4+; always true before v4); like Kafka, the
// response that creates a topic lists it as LEADER_NOT_AVAILABLE without
// partitions, and the client's next metadata request sees them.
//
// Version notes:
//   - v0: an empty topic list means all topics
//   - v1: a null topic list means all topics, an empty one none; IsInternal, Rack, ControllerID
//   - v2: ClusterID
//   - v4: AllowAutoTopicCreation
//   - v5: OfflineReplicas
//   - v7: LeaderEpoch
//   - v8: authorized operations (answered as not computed)
//   - v9: flexible
//   - v10: topic IDs; v12: topics may be requested by ID alone

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	adv := b.advertised(r.conn.listener)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: adv.Host, Port: adv.Port}}
	resp.ClusterID = kmsg.StringPtr(b.clusterID)
	resp.ControllerID = b.cfg.NodeID

	allowAuto := r.version < 4 || req.AllowAutoTopicCreation
	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		b.mu.RLock()
		ts := make([]*topic, 0, len(b.topics))
		for _, t := range b.topics {
			ts = append(ts, t)
		}
		b.mu.RUnlock()
		for _, t := range ts {
			resp.Topics = append(resp.Topics, b.describeTopic(t))
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil:
			t = b.topicByName(*rt.Topic)
			if t == nil {
				var kErr *kerr.Error
				if err := ValidateTopicName(*rt.Topic); err != nil {
					kErr = kerr.InvalidTopicException
				} else if allowAuto {
					// As Kafka: the topic is created, but this answer says
					// LEADER_NOT_AVAILABLE with no partitions; the client's
					// next metadata request sees it.
					if _, kErr = b.autoCreate(*rt.Topic); kErr == nil {
						kErr = kerr.LeaderNotAvailable
					}
				} else {
					kErr = kerr.UnknownTopicOrPartition
				}
				if t == nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = rt.Topic
					mt.ErrorCode = errorCode(kErr)
					resp.Topics = append(resp.Topics, mt)
					continue
				}
			}
		case rt.TopicID != [16]byte{}:
			t = b.topicByID(uuid.UUID(rt.TopicID))
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		default:
			mt := kmsg.NewMetadataResponseTopic()
			mt.ErrorCode = kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.describeTopic(t))
	}
	return resp, nil
}

func (b *Broker) describeTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = t.internal
	node := b.cfg.NodeID
	for _, p := range t.partitionList() {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		mp.Leader = node
		mp.LeaderEpoch = p.log.LeaderEpoch()
		mp.Replicas = []int32{node}
		mp.ISR = []int32{node}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
