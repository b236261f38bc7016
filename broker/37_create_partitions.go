package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// CreatePartitions: v0-3
//
// Grows a topic to Count partitions (never shrinks it). Manual assignments,
// if given, must name this node for every new partition. The new count is
// recorded in the metadata journal before the new logs open.
//
// Version notes:
//   - v1: ThrottleMillis semantics (KIP-219); v2: flexible; v3: no changes here

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var kErr *kerr.Error
		var msg string
		if seen[rt.Topic] > 1 {
			kErr, msg = kerr.InvalidRequest, "Duplicate topic in request."
		} else {
			kErr, msg = b.createPartitions(rt, req.ValidateOnly)
		}
		if kErr != nil {
			st.ErrorCode = kErr.Code
			st.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitions(rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) (*kerr.Error, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[rt.Topic]
	if t == nil {
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", rt.Topic)
	}
	cur := int32(len(t.partitionList()))
	switch {
	case rt.Count < cur:
		return kerr.InvalidPartitions, fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", cur, rt.Count)
	case rt.Count == cur:
		return kerr.InvalidPartitions, fmt.Sprintf("Topic already has %d partitions.", cur)
	case rt.Count > 100000:
		return kerr.InvalidPartitions, fmt.Sprintf("Number of partitions %d is more than this broker supports (100000).", rt.Count)
	}
	if rt.Assignment != nil {
		if int32(len(rt.Assignment)) != rt.Count-cur {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("Increasing the number of partitions by %d but %d assignments provided.", rt.Count-cur, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("Assignment for new partition %d names brokers %v; this cluster has only broker %d.", cur+int32(i), a.Replicas, b.cfg.NodeID)
			}
		}
	}
	if validateOnly {
		return nil, ""
	}
	rec := meta.Record{Type: meta.RecordAddPartitions, Topic: &meta.Topic{Name: t.name, Partitions: rt.Count}}
	if err := b.journal.Append(rec); err != nil {
		return kerr.KafkaStorageError, err.Error()
	}
	b.meta.Apply(rec)
	parts := append([]*partition(nil), t.partitionList()...)
	for i := cur; i < rt.Count; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			b.logger.Error("open new partition", "topic", t.name, "partition", i, "err", err)
			t.parts.Store(&parts)
			return kerr.KafkaStorageError, err.Error()
		}
		parts = append(parts, p)
	}
	t.parts.Store(&parts)
	b.logger.Info("added partitions", "topic", t.name, "from", cur, "to", rt.Count)
	return nil, ""
}
