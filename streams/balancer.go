package streams

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/state"
)

// taskBalancer is the group balancer of a streams application: it assigns whole tasks
// (the same partition of every source topic of a sub-topology) to members, keeps tasks
// where they were when the load allows, spreads each sub-topology's tasks, and follows
// the cooperative protocol (a task changes owner only after its old owner revoked it).
type taskBalancer struct {
	topicSub map[string]int // resolved source topic -> sub-topology
	// endpoint is this instance's application.server ("" when unset), published in
	// the subscription.
	endpoint string
	// onHosts receives, with each assignment, which application server runs which
	// source partitions.
	onHosts func(map[string][]state.TopicPartition)
}

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

// ProtocolName names the assignment protocol.
func (*taskBalancer) ProtocolName() string { return "gregor-streams" }

// IsCooperative reports true: rebalances are incremental.
func (*taskBalancer) IsCooperative() bool { return true }

// JoinGroupMetadata encodes the subscription with the partitions owned now.
func (b *taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
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
	meta.UserData = encodeSubscriptionInfo(b.endpoint)
	return meta.AppendTo(nil)
}

// ParseSyncAssignment decodes this member's assignment.
func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	parts, err := kgo.ParseConsumerSyncAssignment(assignment)
	if err != nil {
		return nil, err
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err == nil && b.onHosts != nil {
		if hosts, err := decodeAssignmentInfo(a.UserData); err == nil {
			b.onHosts(hosts)
		}
	}
	return parts, nil
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
	endpoints := map[string]string{}
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		members = append(members, m)
		if ep, err := decodeSubscriptionInfo(meta.UserData); err == nil && ep != "" {
			endpoints[m.MemberID] = ep
		}
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
	hosts := map[string][]state.TopicPartition{}
	for member, topics := range plan.AsMemberIDMap() {
		ep, ok := endpoints[member]
		if !ok {
			continue
		}
		for topic, parts := range topics {
			for _, p := range parts {
				hosts[ep] = append(hosts[ep], state.TopicPartition{Topic: topic, Partition: p})
			}
		}
	}
	return &hostsPlan{plan: plan, info: encodeAssignmentInfo(hosts)}
}

// hostsPlan is a balance plan whose every member assignment carries the map of
// application servers to the partitions they run.
type hostsPlan struct {
	plan *kgo.BalancePlan
	info []byte
}

func (h *hostsPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := h.plan.IntoSyncAssignment()
	for i := range out {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(out[i].MemberAssignment); err != nil {
			continue // kgo just encoded it; leave it as it is
		}
		a.UserData = h.info
		out[i].MemberAssignment = a.AppendTo(nil)
	}
	return out
}

// The subscription's and the assignment's user data: JSON with a version, so that
// later fields can be added.
type subscriptionInfo struct {
	Version  int    `json:"version"`
	Endpoint string `json:"endpoint,omitempty"`
}

type assignmentInfo struct {
	Version int                               `json:"version"`
	Hosts   map[string][]state.TopicPartition `json:"hosts,omitempty"`
}

func encodeSubscriptionInfo(endpoint string) []byte {
	b, _ := json.Marshal(subscriptionInfo{Version: 1, Endpoint: endpoint})
	return b
}

func decodeSubscriptionInfo(b []byte) (string, error) {
	var si subscriptionInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return "", fmt.Errorf("streams: subscription user data: %w", err)
	}
	return si.Endpoint, nil
}

func encodeAssignmentInfo(hosts map[string][]state.TopicPartition) []byte {
	b, _ := json.Marshal(assignmentInfo{Version: 1, Hosts: hosts})
	return b
}

func decodeAssignmentInfo(b []byte) (map[string][]state.TopicPartition, error) {
	var ai assignmentInfo
	if err := json.Unmarshal(b, &ai); err != nil {
		return nil, fmt.Errorf("streams: assignment user data: %w", err)
	}
	if ai.Hosts == nil {
		ai.Hosts = map[string][]state.TopicPartition{}
	}
	return ai.Hosts, nil
}
