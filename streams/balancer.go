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
	// standbys is num.standby.replicas: how many other members keep a warm copy of
	// each task's stores.
	standbys int
	// held returns the standby tasks this member keeps now, published in the
	// subscription so that the leader leaves them where they are warm.
	held func() []TaskID
	// onAssignment receives, with each assignment, which application server runs which
	// source partitions and this member's standby tasks.
	onAssignment func(hosts map[string][]state.TopicPartition, standbys []TaskID)
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
	var held []TaskID
	if b.held != nil {
		held = b.held()
	}
	meta.UserData = encodeSubscriptionInfo(b.endpoint, held)
	return meta.AppendTo(nil)
}

// ParseSyncAssignment decodes this member's assignment.
func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	parts, err := kgo.ParseConsumerSyncAssignment(assignment)
	if err != nil {
		return nil, err
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err == nil && b.onAssignment != nil {
		if ai, err := decodeAssignmentInfo(a.UserData); err == nil {
			b.onAssignment(ai.Hosts, ai.Standbys)
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
	held := map[TaskID][]string{} // standby task -> members keeping it warm now
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		members = append(members, m)
		if si, err := decodeSubscriptionInfo(meta.UserData); err == nil {
			if si.Endpoint != "" {
				endpoints[m.MemberID] = si.Endpoint
			}
			for _, id := range si.Standbys {
				held[id] = append(held[id], m.MemberID)
			}
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
	return &infoPlan{plan: plan, hosts: hosts, standbys: b.assignStandbys(ids, assign, members, held)}
}

// assignStandbys places b.standbys standby copies of every task on members other than
// its active owner, first with the members that keep it warm already, then with the
// least loaded ones.
func (b *taskBalancer) assignStandbys(ids []TaskID, assign map[TaskID]*kmsg.JoinGroupResponseMember,
	members []*kmsg.JoinGroupResponseMember, held map[TaskID][]string) map[string][]TaskID {
	out := map[string][]TaskID{}
	if b.standbys <= 0 || len(members) < 2 {
		return out
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m.MemberID] = true
	}
	load := map[string]int{}
	for _, id := range ids {
		taken := map[string]bool{}
		if m := assign[id]; m != nil {
			taken[m.MemberID] = true
		}
		for range b.standbys {
			pick := ""
			for _, m := range held[id] {
				if live[m] && !taken[m] {
					pick = m
					break
				}
			}
			if pick == "" {
				for _, m := range members {
					if !taken[m.MemberID] && (pick == "" || load[m.MemberID] < load[pick]) {
						pick = m.MemberID
					}
				}
			}
			if pick == "" {
				break // fewer members than replicas
			}
			taken[pick] = true
			load[pick]++
			out[pick] = append(out[pick], id)
		}
	}
	return out
}

// infoPlan is a balance plan whose member assignments carry, as user data, the map of
// application servers to the partitions they run and the member's standby tasks.
type infoPlan struct {
	plan     *kgo.BalancePlan
	hosts    map[string][]state.TopicPartition
	standbys map[string][]TaskID
}

func (h *infoPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := h.plan.IntoSyncAssignment()
	for i := range out {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(out[i].MemberAssignment); err != nil {
			continue // kgo just encoded it; leave it as it is
		}
		a.UserData = encodeAssignmentInfo(h.hosts, h.standbys[out[i].MemberID])
		out[i].MemberAssignment = a.AppendTo(nil)
	}
	return out
}

// The subscription's and the assignment's user data: JSON with a version, so that
// later fields can be added.
type subscriptionInfo struct {
	Version  int      `json:"version"`
	Endpoint string   `json:"endpoint,omitempty"`
	Standbys []TaskID `json:"standbys,omitempty"`
}

type assignmentInfo struct {
	Version  int                               `json:"version"`
	Hosts    map[string][]state.TopicPartition `json:"hosts,omitempty"`
	Standbys []TaskID                          `json:"standbys,omitempty"`
}

func encodeSubscriptionInfo(endpoint string, standbys []TaskID) []byte {
	b, _ := json.Marshal(subscriptionInfo{Version: 1, Endpoint: endpoint, Standbys: standbys})
	return b
}

func decodeSubscriptionInfo(b []byte) (subscriptionInfo, error) {
	var si subscriptionInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return si, fmt.Errorf("streams: subscription user data: %w", err)
	}
	return si, nil
}

func encodeAssignmentInfo(hosts map[string][]state.TopicPartition, standbys []TaskID) []byte {
	b, _ := json.Marshal(assignmentInfo{Version: 1, Hosts: hosts, Standbys: standbys})
	return b
}

func decodeAssignmentInfo(b []byte) (assignmentInfo, error) {
	var ai assignmentInfo
	if err := json.Unmarshal(b, &ai); err != nil {
		return ai, fmt.Errorf("streams: assignment user data: %w", err)
	}
	if ai.Hosts == nil {
		ai.Hosts = map[string][]state.TopicPartition{}
	}
	return ai, nil
}
