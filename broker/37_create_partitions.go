package broker

import (
	"context"
	"math/rand/v2"

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
//   - v1: ThrottleMillis semantics (KIP-219); v2: flexible
//   - v3: a controller_mutation_rate quota over its limit fails a topic
//     with THROTTLING_QUOTA_EXCEEDED (KIP-599); older versions are only
//     throttled
//
// Authorization: ALTER on the topic (else TOPIC_AUTHORIZATION_FAILED; a
// missing topic the principal may DESCRIBE is UNKNOWN_TOPIC_OR_PARTITION).

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	var mq *mutationQuota
	if !req.ValidateOnly {
		mq = b.mutationQuota(r, r.version >= 3) // quotas.go
		defer func() { resp.ThrottleMillis = mq.throttleMillis() }()
	}
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var kErr *kerr.Error
		var msg string
		before := b.partitionCount(rt.Topic)
		denied := deniedTopic(r, kmsg.ACLOperationAlter, rt.Topic, b.topicByName(rt.Topic) != nil)
		switch {
		case seen[rt.Topic] > 1:
			kErr, msg = kerr.InvalidRequest, "Duplicate topic in request."
		case denied != nil:
			kErr, msg = denied, denied.Description
		case !mq.allowed():
			kErr, msg = kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded."
		default:
			if kErr, msg = b.createPartitions(rt, req.ValidateOnly); kErr == nil {
				mq.record(rt.Count - before)
			}
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
	b.mu.RLock()
	t := b.topics[rt.Topic]
	live := b.meta.LiveBrokers()
	b.mu.RUnlock()
	if t == nil {
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", rt.Topic)
	}
	cur := t.numPartitions()
	switch {
	case rt.Count < cur:
		return kerr.InvalidPartitions, fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", cur, rt.Count)
	case rt.Count == cur:
		return kerr.InvalidPartitions, fmt.Sprintf("Topic already has %d partitions.", cur)
	case rt.Count > 100000:
		return kerr.InvalidPartitions, fmt.Sprintf("Number of partitions %d is more than this broker supports (100000).", rt.Count)
	}
	rf := int16(len(t.placementOf(0).Replicas))
	if rf < 1 {
		rf = 1
	}
	var assignments []meta.PartitionState
	if rt.Assignment != nil {
		if int32(len(rt.Assignment)) != rt.Count-cur {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("Increasing the number of partitions by %d but %d assignments provided.", rt.Count-cur, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if msg := checkAssignment(a.Replicas, live, rf); msg != "" {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("Assignment for new partition %d: %s", cur+int32(i), msg)
			}
			assignments = append(assignments, meta.NewPartitionState(a.Replicas))
		}
	} else {
		placed, err := meta.Place(live, rt.Count-cur, cur, rf, rand.IntN(max(len(live), 1)))
		if err != nil {
			return kerr.InvalidReplicationFactor, err.Error()
		}
		for _, r := range placed {
			assignments = append(assignments, meta.NewPartitionState(r))
		}
	}
	if validateOnly {
		return nil, ""
	}
	rec := meta.Record{Type: meta.RecordAddPartitions, Topic: &meta.Topic{Name: t.name, Partitions: rt.Count, Assignments: assignments}}
	if err := b.propose(context.Background(), rec); err != nil {
		return metadataErrorCode(err), err.Error()
	}
	b.logger.Info("added partitions", "topic", t.name, "from", cur, "to", rt.Count)
	return nil, ""
}
