package streams

import (
	"cmp"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer is the group balancer of a streams application: it assigns whole tasks
// (the same partition of every source topic of a sub-topology) to members, keeps tasks
// where they were when the load allows, spreads each sub-topology's tasks, and follows
// the cooperative protocol (a task changes owner only after its old owner revoked it).
type taskBalancer struct {
	topicSub map[string]int // resolved source topic -> sub-topology
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

// ProtocolName names the assignment protocol.
func (*taskBalancer) ProtocolName() string { return "gregor-streams" }

// IsCooperative reports true: rebalances are incremental.
func (*taskBalancer) IsCooperative() bool { return true }

// JoinGroupMetadata encodes the subscription with the partitions owned now.
func (*taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 2
	meta.Topics = interests
	meta.Generation = generation
	for topic, parts := range current {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic, op.Partitions = topic, parts
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	sort.Slice(meta.OwnedPartitions, func(i, j int) bool { return meta.OwnedPartitions[i].Topic < meta.OwnedPartitions[j].Topic })
	return meta.AppendTo(nil)
}

// ParseSyncAssignment decodes this member's assignment.
func (*taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

// MemberBalancer parses the members' subscriptions.
func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

type tp struct {
	topic string
	part  int32
}

// Balance computes the plan.
func (b *taskBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	tasks := map[TaskID][]tp{}
	extra := len(b.topicSub)
	for topic, n := range topics {
		sub, ok := b.topicSub[topic]
		if !ok { // not ours (another topology version): a group of its own
			sub = extra
			extra++
		}
		for p := int32(0); p < n; p++ {
			id := TaskID{Subtopology: sub, Partition: p}
			tasks[id] = append(tasks[id], tp{topic, p})
		}
	}
	var members []*kmsg.JoinGroupResponseMember
	owner := map[TaskID]string{}
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		members = append(members, m)
		for _, op := range meta.OwnedPartitions {
			sub, ok := b.topicSub[op.Topic]
			if !ok {
				continue
			}
			for _, p := range op.Partitions {
				id := TaskID{Subtopology: sub, Partition: p}
				if _, taken := owner[id]; !taken {
					owner[id] = m.MemberID
				}
			}
		}
	})
	ids := make([]TaskID, 0, len(tasks))
	for id := range tasks {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b TaskID) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Subtopology, b.Subtopology))
	})
	quota := (len(ids) + len(members) - 1) / max(len(members), 1)
	load := map[string]int{}
	assign := map[TaskID]*kmsg.JoinGroupResponseMember{}
	byID := map[string]*kmsg.JoinGroupResponseMember{}
	for _, m := range members {
		byID[m.MemberID] = m
	}
	for _, id := range ids { // sticky pass
		if m, ok := byID[owner[id]]; ok && load[m.MemberID] < quota {
			assign[id] = m
			load[m.MemberID]++
		}
	}
	for _, id := range ids {
		if _, ok := assign[id]; ok || len(members) == 0 {
			continue
		}
		best := members[0]
		for _, m := range members[1:] {
			if load[m.MemberID] < load[best.MemberID] {
				best = m
			}
		}
		assign[id] = best
		load[best.MemberID]++
	}
	plan := cb.NewPlan()
	for _, id := range ids {
		for _, t := range tasks[id] {
			plan.AddPartition(assign[id], t.topic, t.part)
		}
	}
	plan.AdjustCooperative(cb)
	return plan
}
