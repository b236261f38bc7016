package meta

import (
	"errors"
	"fmt"
	"slices"
)

// Partition reassignment (KIP-455), as Kafka's controller keeps it: the
// target replica set is recorded in the partition itself. While a
// reassignment runs, Replicas is the target followed by the original
// replicas that are not in it; AddingReplicas are the target's new
// replicas (they copy the log and join the ISR like any follower) and
// RemovingReplicas the original ones the target drops. Once every target
// replica is in the ISR, the partition-change record that made it so
// completes the reassignment as it is applied: Replicas becomes the target,
// the ISR keeps only target replicas, and a leader outside the target hands
// over to the first live in-sync replica of the target. Cancelling reverts
// to the original replicas.

// Errors of StartReassignment and CancelReassignment; the broker answers
// them with INVALID_REPLICA_ASSIGNMENT and NO_REASSIGNMENT_IN_PROGRESS.
var (
	ErrInvalidReplicaAssignment = errors.New("meta: invalid replica assignment")
	ErrNoReassignment           = errors.New("meta: no reassignment in progress")
)

// Reassigning reports whether a reassignment of the partition is in progress.
func (p PartitionState) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is where the partition is going: Replicas without the
// removing ones (Replicas itself when no reassignment runs).
func (p PartitionState) TargetReplicas() []int32 {
	return without(p.Replicas, p.RemovingReplicas)
}

// OriginalReplicas is where the partition was before the reassignment in
// progress: Replicas without the adding ones.
func (p PartitionState) OriginalReplicas() []int32 {
	return without(p.Replicas, p.AddingReplicas)
}

// without returns a copy of list minus the IDs in drop, in list's order.
func without(list, drop []int32) []int32 {
	out := make([]int32, 0, len(list))
	for _, id := range list {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// ValidateTarget checks a target replica list: not empty, no broker
// twice, every broker registered (registered reports whether one is).
func ValidateTarget(target []int32, registered func(int32) bool) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: the target replica list is empty", ErrInvalidReplicaAssignment)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return fmt.Errorf("%w: the target replica list names broker %d twice", ErrInvalidReplicaAssignment, id)
		}
		if id < 0 || !registered(id) {
			return fmt.Errorf("%w: the target replica list includes broker %d, but no such broker is registered", ErrInvalidReplicaAssignment, id)
		}
	}
	return nil
}

// StartReassignment returns the partition's state with a reassignment to
// target recorded. A reassignment already in progress is replaced: the
// replicas it has so far count as current, as in Kafka's controller. The
// caller validates target first (ValidateTarget).
func StartReassignment(cur PartitionState, target []int32) PartitionState {
	next := cur.clone()
	current := cur.Replicas
	next.RemovingReplicas = without(current, target)
	next.AddingReplicas = without(target, current)
	next.Replicas = append(slices.Clone(target), next.RemovingReplicas...)
	if len(next.AddingReplicas) == 0 {
		next.AddingReplicas = nil
	}
	if len(next.RemovingReplicas) == 0 {
		next.RemovingReplicas = nil
	}
	return next
}

// CancelReassignment returns the partition's state with the reassignment in
// progress reverted: the adding replicas leave the replicas and the ISR,
// and if one of them led, the first in-sync original replica leads
// (live reports whether a broker is in service).
func CancelReassignment(cur PartitionState, live func(int32) bool) (PartitionState, error) {
	if !cur.Reassigning() {
		return cur, ErrNoReassignment
	}
	next := cur.clone()
	next.Replicas = cur.OriginalReplicas()
	next.ISR = without(cur.ISR, cur.AddingReplicas)
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	if !slices.Contains(next.Replicas, next.Leader) {
		// An adding replica led (the original leaders were fenced): the
		// first live in-sync original replica takes over, or none does.
		next.Leader = firstLive(next.Replicas, next.ISR, live)
	}
	return next, nil
}

// firstLive is the first of replicas, in order, that is in isr and live.
func firstLive(replicas, isr []int32, live func(int32) bool) int32 {
	for _, id := range replicas {
		if slices.Contains(isr, id) && live(id) {
			return id
		}
	}
	return NoLeader
}

// validReassignment checks that a partition state's reassignment fields fit
// its replicas.
func (p PartitionState) validReassignment() error {
	for _, id := range p.AddingReplicas {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.RemovingReplicas, id) {
			return fmt.Errorf("adding replica %d is not a replica, or is removed too", id)
		}
	}
	for _, id := range p.RemovingReplicas {
		if !slices.Contains(p.Replicas, id) {
			return fmt.Errorf("removing replica %d is not a replica", id)
		}
	}
	if p.Reassigning() && len(p.TargetReplicas()) == 0 {
		return errors.New("a reassignment to no replicas")
	}
	return nil
}

// maybeCompleteReassignment completes the partition's reassignment when
// every target replica is in its ISR and a target replica can lead: the
// replicas become the target, the ISR keeps only target replicas, and a
// leader outside the target gives way to the first live in-sync target
// replica.
func (s *State) maybeCompleteReassignment(p *PartitionState) {
	if !p.Reassigning() {
		return
	}
	target := p.TargetReplicas()
	for _, id := range target {
		if !slices.Contains(p.ISR, id) {
			return
		}
	}
	leader := p.Leader
	if !slices.Contains(target, leader) {
		leader = firstLive(target, p.ISR, s.live)
		if leader == NoLeader {
			return // no target replica can lead yet
		}
	}
	p.Replicas = target
	p.ISR = without(p.ISR, p.RemovingReplicas)
	p.Leader = leader
	p.AddingReplicas, p.RemovingReplicas = nil, nil
}

// live reports whether a broker is registered and unfenced.
func (s *State) live(id int32) bool {
	b, ok := s.brokers[id]
	return ok && !b.Fenced
}

// Reassignments lists the partitions being reassigned, by topic name and
// partition index.
func (s *State) Reassignments() map[string]map[int32]PartitionState {
	out := map[string]map[int32]PartitionState{}
	for _, t := range s.topics {
		for i, a := range t.Assignments {
			if a.Reassigning() {
				if out[t.Name] == nil {
					out[t.Name] = map[int32]PartitionState{}
				}
				out[t.Name][int32(i)] = a.clone()
			}
		}
	}
	return out
}
