package broker

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTopicPartitions: v0
//
// The paginated successor of Metadata for topic descriptions (KIP-966), used
// by newer admin clients: the requested topics (all, when none are named)
// in name order, starting at the cursor, with at most ResponsePartitionLimit
// partitions in the response; NextCursor says where to continue.
//
// Authorization: a request for all topics lists only those the principal may
// DESCRIBE; a named topic it may not describe is TOPIC_AUTHORIZATION_FAILED.

func init() { register(75, 0, 0, handleDescribeTopicPartitions) }

func handleDescribeTopicPartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > 2000 {
		limit = 2000
	}
	var names []string
	listAll := len(req.Topics) == 0
	if listAll {
		b.mu.RLock()
		for n := range b.topics {
			names = append(names, n)
		}
		b.mu.RUnlock()
		names = slices.DeleteFunc(names, func(n string) bool { return !r.authorizeTopic(kmsg.ACLOperationDescribe, n) })
	} else {
		for _, t := range req.Topics {
			names = append(names, t.Topic)
		}
	}
	sort.Strings(names)
	startPart := int32(0)
	if c := req.Cursor; c != nil {
		i := sort.SearchStrings(names, c.Topic)
		names = names[i:]
		startPart = c.Partition
	}
	count := 0
	for ti, name := range names {
		st := kmsg.NewDescribeTopicPartitionsResponseTopic()
		st.Topic = kmsg.StringPtr(name)
		t := b.topicByName(name)
		if !listAll && !r.authorizeTopic(kmsg.ACLOperationDescribe, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t == nil {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID, st.IsInternal = t.id, t.internal
		st.AuthorizedOperations = r.authorizedOperations(kmsg.ACLResourceTypeTopic, name, topicOperations)
		n := t.numPartitions()
		from := int32(0)
		if ti == 0 {
			from = startPart
		}
		for i := from; i < n; i++ {
			if count == limit {
				resp.Topics = append(resp.Topics, st)
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: i}
				return resp, nil
			}
			sp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			ps := t.placementOf(i)
			sp.Partition, sp.LeaderID, sp.LeaderEpoch = i, ps.Leader, ps.LeaderEpoch
			sp.Replicas, sp.ISR = append([]int32{}, ps.Replicas...), append([]int32{}, ps.ISR...)
			sp.EligibleLeaderReplicas, sp.LastKnownELR = []int32{}, []int32{}
			sp.OfflineReplicas = b.offlineReplicas(ps.Replicas)
			if ps.Offline() {
				sp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			st.Partitions = append(st.Partitions, sp)
			count++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
