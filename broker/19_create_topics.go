package broker

import (
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
//   - v7: TopicID in the response

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
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
		spec := topicSpec{name: rt.Topic, partitions: rt.NumPartitions, replicationFactor: rt.ReplicationFactor, configs: map[string]*string{}}
		if len(rt.ReplicaAssignment) > 0 {
			if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
				fail(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
				continue
			}
			if msg := b.checkAssignment(rt.ReplicaAssignment); msg != "" {
				fail(kerr.InvalidReplicaAssignment, msg)
				continue
			}
			spec.partitions = int32(len(rt.ReplicaAssignment))
			spec.replicationFactor = 1
		}
		for _, c := range rt.Configs {
			spec.configs[c.Name] = c.Value
		}
		mt, kErr, msg := b.createTopic(spec, req.ValidateOnly)
		if kErr != nil {
			fail(kErr, msg)
			continue
		}
		if !req.ValidateOnly {
			st.TopicID = mt.ID
		}
		st.NumPartitions = mt.Partitions
		st.ReplicationFactor = 1
		st.Configs = b.createdTopicConfigs(mt.Configs)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// checkAssignment validates a manual replica assignment for one node.
func (b *Broker) checkAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) string {
	seen := map[int32]bool{}
	for _, a := range as {
		if a.Partition < 0 || int(a.Partition) >= len(as) || seen[a.Partition] {
			return "Partitions in the replica assignment must be consecutive, starting at 0."
		}
		seen[a.Partition] = true
		if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
			return fmt.Sprintf("Replica assignment for partition %d names brokers %v; this cluster has only broker %d.", a.Partition, a.Replicas, b.cfg.NodeID)
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
