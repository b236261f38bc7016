package broker

import (
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
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
//   - v8: authorized operations of each topic and (v8-10) the cluster, when
//     asked for (all of them without an authorizer)
//   - v9: flexible
//   - v10: topic IDs; v12: topics may be requested by ID alone
//
// Authorization: a request for all topics lists only those the principal
// may DESCRIBE; a named topic it may not describe is
// TOPIC_AUTHORIZATION_FAILED, whether it exists or not. Auto-creation
// needs CREATE on the cluster or on the topic (else
// TOPIC_AUTHORIZATION_FAILED).

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp, err := metadataTopics(b, r, req)
	if err != nil || r.version < 8 {
		return resp, err
	}
	if req.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			if t := &resp.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
				t.AuthorizedOperations = r.authorizedOperations(kmsg.ACLResourceTypeTopic, *t.Topic, topicOperations)
			}
		}
	}
	if req.IncludeClusterAuthorizedOperations && r.version <= 10 {
		resp.AuthorizedOperations = r.authorizedOperations(kmsg.ACLResourceTypeCluster, acl.ClusterName, clusterOperations)
	}
	return resp, nil
}

// metadataTopics answers a Metadata request but for authorized operations.
func metadataTopics(b *Broker, r *request, req *kmsg.MetadataRequest) (*kmsg.MetadataResponse, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	for _, br := range b.clientBrokers(r.conn.listener, false) {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = br.id, br.host, br.port, br.rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ClusterID = kmsg.StringPtr(b.ClusterID())
	resp.ControllerID = b.clientControllerID()

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
			if r.authorizeTopic(kmsg.ACLOperationDescribe, t.name) {
				resp.Topics = append(resp.Topics, b.describeTopic(t))
			}
		}
		return resp, nil
	}
	canCreate := func(name string) bool {
		return r.authorizeCluster(kmsg.ACLOperationCreate) || r.authorizeTopic(kmsg.ACLOperationCreate, name)
	}
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil:
			if !r.authorizeTopic(kmsg.ACLOperationDescribe, *rt.Topic) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = rt.Topic
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			t = b.topicByName(*rt.Topic)
			if t == nil {
				var kErr *kerr.Error
				if err := ValidateTopicName(*rt.Topic); err != nil {
					kErr = kerr.InvalidTopicException
				} else if allowAuto && b.cfg.AutoCreateTopics && !canCreate(*rt.Topic) {
					kErr = kerr.TopicAuthorizationFailed
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
			if !r.authorizeTopic(kmsg.ACLOperationDescribe, t.name) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
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
	for i := int32(0); i < t.numPartitions(); i++ {
		ps := t.placementOf(i)
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = i
		mp.Leader = ps.Leader
		mp.LeaderEpoch = ps.LeaderEpoch
		mp.Replicas = append([]int32{}, ps.Replicas...)
		mp.ISR = append([]int32{}, ps.ISR...)
		mp.OfflineReplicas = b.offlineReplicas(ps.Replicas)
		if ps.Offline() {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
