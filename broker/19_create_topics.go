package broker

import (
	"slices"

	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// CreateTopics: v0-7
//
// Validates names, partition counts, replication factors (1, or -1 for the
// broker default, KIP-464), manual assignments (every replica must be this
// node) and configs (Kafka's names, types and ranges), then records the
// topic in the metadata journal and opens its partitions. ValidateOnly
// checks everything and creates nothing.
//
// Version notes:
//   - v1: ValidateOnly; v2: ThrottleMillis
//   - v4: -1 partitions / replication factor mean the broker defaults (KIP-464)
//   - v5: flexible; the response carries the partition count, replication
//     factor and effective configs (KIP-525)
//   - v6: a controller_mutation_rate quota over its limit fails a topic
//     with THROTTLING_QUOTA_EXCEEDED (KIP-599); older versions are only
//     throttled
//   - v7: TopicID in the response
//
// Authorization: CREATE on the cluster or on the topic (else
// TOPIC_AUTHORIZATION_FAILED); the configs are returned only with
// DESCRIBE_CONFIGS on the topic (else ConfigErrorCode
// TOPIC_AUTHORIZATION_FAILED).

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	var mq *mutationQuota
	if !req.ValidateOnly {
		mq = b.mutationQuota(r, r.version >= 6) // quotas.go
		defer func() { resp.ThrottleMillis = mq.throttleMillis() }()
	}

	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	createCluster := r.authorizeCluster(kmsg.ACLOperationCreate)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			if msg != "" {
				st.ErrorMessage = kmsg.StringPtr(msg)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if seen[rt.Topic] > 1 {
			fail(kerr.InvalidRequest, fmt.Sprintf("Create topics request from client `%s` contains multiple entries for the following topics: %s", r.clientID, rt.Topic))
			continue
		}
		if !createCluster && !r.authorizeTopic(kmsg.ACLOperationCreate, rt.Topic) {
			fail(kerr.TopicAuthorizationFailed, "Authorization failed.")
			continue
		}
		spec := topicSpec{name: rt.Topic, partitions: rt.NumPartitions, replicationFactor: rt.ReplicationFactor, configs: map[string]*string{}}
		if len(rt.ReplicaAssignment) > 0 {
			if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
				fail(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
				continue
			}
			assignments, msg := b.topicAssignment(rt.ReplicaAssignment)
			if msg != "" {
				fail(kerr.InvalidReplicaAssignment, msg)
				continue
			}
			spec.partitions = int32(len(assignments))
			spec.replicationFactor = int16(len(assignments[0]))
			spec.assignments = assignments
		}
		for _, c := range rt.Configs {
			spec.configs[c.Name] = c.Value
		}
		if !mq.allowed() {
			fail(kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded.")
			continue
		}
		mt, kErr, msg := b.createTopic(spec, req.ValidateOnly)
		if kErr != nil {
			fail(kErr, msg)
			continue
		}
		mq.record(mt.Partitions)
		if !req.ValidateOnly {
			st.TopicID = mt.ID
		}
		st.NumPartitions = mt.Partitions
		st.ReplicationFactor = 1
		if len(mt.Assignments) > 0 {
			st.ReplicationFactor = int16(len(mt.Assignments[0].Replicas))
		}
		if r.authorizeTopic(kmsg.ACLOperationDescribeConfigs, rt.Topic) {
			st.Configs = b.createdTopicConfigs(mt.Configs)
		} else {
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// topicAssignment validates a manual replica assignment of CreateTopics
// and returns the replicas by partition, or a message saying what is wrong.
func (b *Broker) topicAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) ([][]int32, string) {
	b.mu.RLock()
	registered := b.meta.Brokers()
	b.mu.RUnlock()
	out := make([][]int32, len(as))
	for _, a := range as {
		if a.Partition < 0 || int(a.Partition) >= len(as) || out[a.Partition] != nil {
			return nil, "Partitions in the replica assignment must be consecutive, starting at 0."
		}
		rf := int16(len(as[0].Replicas))
		if msg := checkAssignment(a.Replicas, registered, rf); msg != "" {
			return nil, fmt.Sprintf("Replica assignment for partition %d: %s", a.Partition, msg)
		}
		out[a.Partition] = a.Replicas
	}
	return out, ""
}

// checkAssignment checks one partition's replicas: rf of them, distinct,
// each a registered broker. It returns "" when they are fine.
func checkAssignment(replicas []int32, registered []meta.BrokerRegistration, rf int16) string {
	if len(replicas) == 0 {
		return "it names no brokers."
	}
	if len(replicas) != int(rf) {
		return fmt.Sprintf("it names %d brokers, other partitions %d; every partition needs the same replication factor.", len(replicas), rf)
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if seen[r] {
			return fmt.Sprintf("it names broker %d twice.", r)
		}
		seen[r] = true
		if !slices.ContainsFunc(registered, func(br meta.BrokerRegistration) bool { return br.ID == r }) {
			return fmt.Sprintf("broker %d is not registered in the cluster.", r)
		}
	}
	return ""
}

// createdTopicConfigs lists a new topic's effective configs (KIP-525).
func (b *Broker) createdTopicConfigs(dynamic map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(meta.TopicConfigDefs))
	for i := range meta.TopicConfigDefs {
		def := &meta.TopicConfigDefs[i]
		v, src := b.resolveTopicConfig(def, dynamic)
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = def.Name
		c.Value = kmsg.StringPtr(v)
		c.Source = int8(src)
		out = append(out, c)
	}
	return out
}
