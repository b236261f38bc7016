package broker

import (
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

func init() { register(75, 0, 0, handleDescribeTopicPartitions) }

func handleDescribeTopicPartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > 2000 {
		limit = 2000
	}
	var names []string
	if len(req.Topics) == 0 {
		b.mu.RLock()
		for n := range b.topics {
			names = append(names, n)
		}
		b.mu.RUnlock()
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
	node := b.cfg.NodeID
	for ti, name := range names {
		st := kmsg.NewDescribeTopicPartitionsResponseTopic()
		st.Topic = kmsg.StringPtr(name)
		t := b.topicByName(name)
		if t == nil {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID, st.IsInternal = t.id, t.internal
		parts := t.partitionList()
		from := int32(0)
		if ti == 0 {
			from = startPart
		}
		for i := from; int(i) < len(parts); i++ {
			if count == limit {
				resp.Topics = append(resp.Topics, st)
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: i}
				return resp, nil
			}
			sp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			sp.Partition, sp.LeaderID, sp.LeaderEpoch = i, node, parts[i].log.LeaderEpoch()
			sp.Replicas, sp.ISR = []int32{node}, []int32{node}
			sp.EligibleLeaderReplicas, sp.LastKnownELR, sp.OfflineReplicas = []int32{}, []int32{}, []int32{}
			st.Partitions = append(st.Partitions, sp)
			count++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
