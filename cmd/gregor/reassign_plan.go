package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// reassignmentPlan is Kafka's reassignment JSON, as
// kafka-reassign-partitions.sh reads and writes it.
type reassignmentPlan struct {
	Version    int                `json:"version"`
	Partitions []plannedPartition `json:"partitions"`
}

// plannedPartition is one partition's replicas in a plan. LogDirs is
// Kafka's per-replica log directory; Gregor has one per broker, so only
// "any" is accepted.
type plannedPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// topicsToMove is the --topics-to-move-json-file format.
type topicsToMove struct {
	Version int `json:"version"`
	Topics  []struct {
		Topic string `json:"topic"`
	} `json:"topics"`
}

// parsePlan reads a reassignment JSON file's contents and checks it.
func parsePlan(data []byte) (reassignmentPlan, error) {
	var p reassignmentPlan
	if err := json.Unmarshal(data, &p); err != nil {
		return p, usagef("reassignment JSON: %w", err)
	}
	if len(p.Partitions) == 0 {
		return p, usagef(`reassignment JSON: no partitions (want {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]})`)
	}
	seen := map[string]bool{}
	for _, pp := range p.Partitions {
		key := fmt.Sprintf("%s-%d", pp.Topic, pp.Partition)
		switch {
		case pp.Topic == "":
			return p, usagef("reassignment JSON: a partition without a topic")
		case seen[key]:
			return p, usagef("reassignment JSON: partition %s appears twice", key)
		case len(pp.Replicas) == 0:
			return p, usagef("reassignment JSON: partition %s has no replicas", key)
		}
		seen[key] = true
		for i, r := range pp.Replicas {
			if slices.Contains(pp.Replicas[:i], r) {
				return p, usagef("reassignment JSON: partition %s names broker %d twice", key, r)
			}
		}
		for _, d := range pp.LogDirs {
			if d != "any" {
				return p, usagef("reassignment JSON: partition %s: log directory %q: Gregor keeps one log directory per broker, use \"any\"", key, d)
			}
		}
		if len(pp.LogDirs) != 0 && len(pp.LogDirs) != len(pp.Replicas) {
			return p, usagef("reassignment JSON: partition %s has %d log_dirs for %d replicas", key, len(pp.LogDirs), len(pp.Replicas))
		}
	}
	return p, nil
}

// sortPlan orders a plan's partitions by topic, then partition.
func sortPlan(p *reassignmentPlan) {
	sort.Slice(p.Partitions, func(i, j int) bool {
		a, b := p.Partitions[i], p.Partitions[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
}

// withAnyLogDirs fills log_dirs with "any", as Kafka's tool prints plans.
func withAnyLogDirs(p reassignmentPlan) reassignmentPlan {
	for i := range p.Partitions {
		dirs := make([]string, len(p.Partitions[i].Replicas))
		for j := range dirs {
			dirs[j] = "any"
		}
		p.Partitions[i].LogDirs = dirs
	}
	return p
}

// generatePlan proposes a new placement of current's partitions over
// brokers (ID -> rack, "" for none; rack-aware only when every broker has
// a rack). Topic by topic, each broker ends up with the same number of
// replicas give or take one (the extra ones going to the brokers that hold
// the most already), each partition's replicas on distinct brokers and, as
// far as the racks allow, distinct racks, and as many current replicas as
// that allows stay where they are. Each partition's first replica (its
// preferred leader) is then chosen to spread leadership evenly too,
// keeping the current preferred leader where it is not over its share.
func generatePlan(current reassignmentPlan, brokers map[int32]string) (reassignmentPlan, error) {
	ids := make([]int32, 0, len(brokers))
	rackAware := len(brokers) > 0
	for id, rack := range brokers {
		ids = append(ids, id)
		if rack == "" {
			rackAware = false
		}
	}
	slices.Sort(ids)
	byTopic := map[string][]plannedPartition{}
	var topics []string
	for _, pp := range current.Partitions {
		if len(pp.Replicas) > len(ids) {
			return reassignmentPlan{}, usagef("partition %s-%d has %d replicas but only %d brokers are given", pp.Topic, pp.Partition, len(pp.Replicas), len(ids))
		}
		if _, ok := byTopic[pp.Topic]; !ok {
			topics = append(topics, pp.Topic)
		}
		byTopic[pp.Topic] = append(byTopic[pp.Topic], pp)
	}
	sort.Strings(topics)
	out := reassignmentPlan{Version: 1}
	overall := map[int32]int{} // replicas placed so far, over all topics
	for _, t := range topics {
		parts := byTopic[t]
		sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
		placed := placeTopic(parts, ids, brokers, rackAware, overall)
		out.Partitions = append(out.Partitions, placed...)
	}
	return out, nil
}

// placeTopic places one topic's partitions (see generatePlan): the
// current replicas on the given brokers stay (but for a second replica on
// one rack while another rack is free), empty slots go to the least loaded
// brokers, then single replicas move from the most loaded broker to the
// least loaded one until no two brokers differ by more than one. Every
// move lowers the sum of squared loads, so this ends.
func placeTopic(parts []plannedPartition, ids []int32, racks map[int32]string, rackAware bool, overall map[int32]int) []plannedPartition {
	pl := &placer{ids: ids, racks: racks, rackAware: rackAware, overall: overall, load: map[int32]int{}}
	kept := pl.keepAndFill(parts)
	pl.balance(kept)
	return pl.leaders(parts, kept)
}

// placer is the state of placeTopic: the brokers, their racks, each
// broker's replicas of the topic (load) and over the topics placed before
// (overall).
type placer struct {
	ids       []int32
	racks     map[int32]string
	rackAware bool
	overall   map[int32]int
	load      map[int32]int
}

// rackCount is how many racks replicas span.
func (pl *placer) rackCount(replicas []int32) int {
	used := map[string]bool{}
	for _, r := range replicas {
		used[pl.racks[r]] = true
	}
	return len(used)
}

// byLoad lists the brokers least loaded first.
func (pl *placer) byLoad() []int32 {
	out := slices.Clone(pl.ids)
	slices.SortStableFunc(out, func(a, b int32) int {
		if c := cmp.Compare(pl.load[a], pl.load[b]); c != 0 {
			return c
		}
		return cmp.Compare(pl.overall[a], pl.overall[b])
	})
	return out
}

// keepAndFill keeps each partition's current replicas on the given brokers
// (but a second one on a rack while another rack is free) and fills the
// free slots with the least loaded brokers, on new racks first.
func (pl *placer) keepAndFill(parts []plannedPartition) [][]int32 {
	ids, racks, rackAware, load := pl.ids, pl.racks, pl.rackAware, pl.load
	rackCount, byLoad := pl.rackCount, pl.byLoad
	distinctRacks := rackCount(ids)
	kept := make([][]int32, len(parts))
	for i, pp := range parts {
		for _, r := range pp.Replicas {
			if _, ok := racks[r]; !ok {
				continue // a broker being left
			}
			if rackAware && rackCount(kept[i]) < distinctRacks && rackCount(append(slices.Clone(kept[i]), r)) == rackCount(kept[i]) {
				continue // its rack is taken while another is free
			}
			kept[i] = append(kept[i], r)
			load[r]++
		}
	}
	for i, pp := range parts {
		for len(kept[i]) < len(pp.Replicas) {
			var pick int32 = -1
			for _, id := range byLoad() {
				if slices.Contains(kept[i], id) {
					continue
				}
				if pick < 0 {
					pick = id
				}
				if !rackAware || rackCount(append(slices.Clone(kept[i]), id)) > rackCount(kept[i]) || rackCount(kept[i]) >= distinctRacks {
					pick = id
					break
				}
			}
			kept[i] = append(kept[i], pick)
			load[pick]++
		}
	}
	return kept
}

// balance moves single replicas from the most to the least loaded brokers
// until no two differ by more than one (or no move keeps the racks). Every
// move lowers the sum of squared loads, so this ends.
func (pl *placer) balance(kept [][]int32) {
	load, rackAware, rackCount := pl.load, pl.rackAware, pl.rackCount
	for {
		order := pl.byLoad()
		moved := false
	pairs:
		for hi := len(order) - 1; hi > 0; hi-- {
			for lo := 0; lo < hi; lo++ {
				from, to := order[hi], order[lo]
				if load[from]-load[to] <= 1 {
					break
				}
				for i := range kept {
					j := slices.Index(kept[i], from)
					if j < 0 || slices.Contains(kept[i], to) {
						continue
					}
					next := slices.Clone(kept[i])
					next[j] = to
					if rackAware && rackCount(next) < rackCount(kept[i]) {
						continue
					}
					kept[i] = next
					load[from]--
					load[to]++
					moved = true
					break pairs
				}
			}
		}
		if !moved {
			break
		}
	}
}

// leaders orders each partition's replicas with its preferred leader
// first: the replica leading the fewest partitions so far, the current
// preferred leader among equals; then leadership moves within a partition
// from a broker leading two more than another replica of it until none
// does.
func (pl *placer) leaders(parts []plannedPartition, kept [][]int32) []plannedPartition {
	overall := pl.overall
	leaders := map[int32]int{}
	lead := make([]int, len(parts))
	for i, pp := range parts {
		replicas := kept[i]
		for j, r := range replicas {
			if c := cmp.Compare(leaders[r], leaders[replicas[lead[i]]]); c < 0 || c == 0 && len(pp.Replicas) > 0 && r == pp.Replicas[0] {
				lead[i] = j
			}
		}
		leaders[replicas[lead[i]]]++
	}
	for changed := true; changed; {
		changed = false
		for i := range parts {
			cur := kept[i][lead[i]]
			for j, r := range kept[i] {
				if leaders[cur]-leaders[r] >= 2 {
					leaders[cur]--
					leaders[r]++
					lead[i], changed = j, true
					break
				}
			}
		}
	}
	out := make([]plannedPartition, len(parts))
	for i, pp := range parts {
		replicas := kept[i]
		ordered := append([]int32{replicas[lead[i]]}, slices.Delete(slices.Clone(replicas), lead[i], lead[i]+1)...)
		for _, r := range ordered {
			overall[r]++
		}
		out[i] = plannedPartition{Topic: pp.Topic, Partition: pp.Partition, Replicas: ordered}
	}
	return out
}
