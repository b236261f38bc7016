package meta

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/google/uuid"
)

// Cluster record types: brokers joining and leaving service, and partition
// leadership and placement changes.
const (
	// RecordRegisterBroker registers one incarnation of a broker (Kafka's
	// RegisterBrokerRecord). The broker epoch is the index of the record in
	// the metadata log. A new incarnation fences the old one first.
	RecordRegisterBroker RecordType = "register-broker"
	// RecordFenceBroker fences a broker (Kafka's FenceBrokerRecord):
	// leadership moves off it, to another in-sync replica where there is
	// one, and it leaves the ISR of every partition where others remain.
	RecordFenceBroker RecordType = "fence-broker"
	// RecordUnfenceBroker unfences a broker that has caught up with the
	// metadata (Kafka's UnfenceBrokerRecord); partitions left without a
	// leader whose ISR holds it are led by it again.
	RecordUnfenceBroker RecordType = "unfence-broker"
	// RecordPartitionChange changes one partition's leader, ISR or replicas
	// (Kafka's PartitionChangeRecord).
	RecordPartitionChange RecordType = "partition-change"
	// RecordClusterID names the cluster, once: the first active controller
	// writes the ID from its meta.properties, and every node adopts it.
	RecordClusterID RecordType = "cluster-id"
)

// NoLeader is the leader of a partition that has none (offline).
const NoLeader int32 = -1

// Errors Apply returns for records that do not fit the state; callers map
// them to Kafka error codes.
var (
	ErrTopicExists    = errors.New("meta: topic exists")
	ErrUnknownTopic   = errors.New("meta: unknown topic")
	ErrUnknownBroker  = errors.New("meta: unknown broker")
	ErrStaleBroker    = errors.New("meta: stale broker epoch")
	ErrConflict       = errors.New("meta: record conflicts with the current state")
	ErrBadRecord      = errors.New("meta: malformed record")
	ErrStalePartition = errors.New("meta: stale partition epoch")
)

// Endpoint is one listener a broker serves clients on.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// BrokerRegistration is one registered broker.
type BrokerRegistration struct {
	ID          int32      `json:"id"`
	Epoch       int64      `json:"epoch"` // index of the registration record
	Incarnation uuid.UUID  `json:"incarnation"`
	Endpoints   []Endpoint `json:"endpoints"`
	Rack        string     `json:"rack,omitempty"`
	Fenced      bool       `json:"fenced"`
}

// Endpoint returns the broker's endpoint for a listener name.
func (b BrokerRegistration) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// PartitionState is where a partition lives and who leads it.
type PartitionState struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// AddingReplicas and RemovingReplicas are set while the partition is
	// being reassigned (KIP-455): Replicas is then the union of the target
	// and the original replicas, the adding ones are in the target only
	// and the removing ones in the original only (reassign.go).
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
}

// Offline reports whether the partition has no leader.
func (p PartitionState) Offline() bool { return p.Leader == NoLeader }

// Hosts reports whether node holds a replica of the partition.
func (p PartitionState) Hosts(node int32) bool { return slices.Contains(p.Replicas, node) }

func (p PartitionState) clone() PartitionState {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return p
}

// NewPartitionState is a new partition on replicas, led by the first.
func NewPartitionState(replicas []int32) PartitionState {
	leader := NoLeader
	if len(replicas) > 0 {
		leader = replicas[0]
	}
	return PartitionState{Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas), Leader: leader}
}

// PartitionChange is the body of a partition-change record: the new state
// of one partition, valid only while the partition epoch is still
// ExpectEpoch.
type PartitionChange struct {
	Topic       uuid.UUID      `json:"topic"`
	Partition   int32          `json:"partition"`
	ExpectEpoch int32          `json:"expectEpoch"`
	State       PartitionState `json:"state"`
}

func (s *State) applyRegister(index uint64, r Record) error {
	if r.Broker == nil || r.Broker.ID < 0 {
		return fmt.Errorf("%w: %s without broker", ErrBadRecord, r.Type)
	}
	if old, ok := s.brokers[r.Broker.ID]; ok && !old.Fenced {
		s.fence(old.ID)
	}
	reg := *r.Broker
	reg.Endpoints = slices.Clone(reg.Endpoints)
	reg.Epoch = int64(index)
	reg.Fenced = true // a new incarnation serves once it has caught up
	s.brokers[reg.ID] = &reg
	return nil
}

func (s *State) applyFence(r Record, fence bool) error {
	b, ok := s.brokers[r.BrokerID]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownBroker, r.BrokerID)
	}
	if r.BrokerEpoch != 0 && r.BrokerEpoch != b.Epoch {
		return fmt.Errorf("%w: broker %d epoch %d, record says %d", ErrStaleBroker, b.ID, b.Epoch, r.BrokerEpoch)
	}
	if fence {
		if !b.Fenced {
			s.fence(b.ID)
		}
		return nil
	}
	if b.Fenced {
		s.unfence(b.ID)
	}
	return nil
}

// fence marks a broker fenced and moves leadership off it.
func (s *State) fence(id int32) {
	s.brokers[id].Fenced = true
	s.eachPartition(func(p *PartitionState) {
		if !slices.Contains(p.ISR, id) && p.Leader != id {
			return
		}
		changed := false
		if len(p.ISR) > 1 && slices.Contains(p.ISR, id) {
			p.ISR = slices.DeleteFunc(p.ISR, func(r int32) bool { return r == id })
			changed = true
		}
		if p.Leader == id {
			p.Leader = s.electLeader(p, id)
			p.LeaderEpoch++
			changed = true
		}
		if changed {
			p.PartitionEpoch++
		}
	})
}

// unfence marks a broker unfenced and gives it the partitions that have no
// leader and hold it in their ISR.
func (s *State) unfence(id int32) {
	s.brokers[id].Fenced = false
	s.eachPartition(func(p *PartitionState) {
		if p.Leader == NoLeader && slices.Contains(p.ISR, id) {
			p.Leader = id
			p.LeaderEpoch++
			p.PartitionEpoch++
		}
	})
}

// electLeader picks the first in-sync replica, in replica order, that is
// registered, unfenced and not excluded; NoLeader when there is none.
func (s *State) electLeader(p *PartitionState, exclude int32) int32 {
	for _, r := range p.Replicas {
		if r == exclude || !slices.Contains(p.ISR, r) {
			continue
		}
		if b, ok := s.brokers[r]; ok && !b.Fenced {
			return r
		}
	}
	return NoLeader
}

func (s *State) eachPartition(fn func(p *PartitionState)) {
	for _, t := range s.topics {
		unclean := t.Configs["unclean.leader.election.enable"] == "true"
		for i := range t.Assignments {
			p := &t.Assignments[i]
			fn(p)
			if unclean && p.Leader == NoLeader {
				s.electUnclean(p)
			}
		}
	}
}

// electUnclean makes the first live replica of a leaderless partition its
// leader and sole in-sync replica (unclean.leader.election.enable=true:
// availability over the records only the lost replicas had).
func (s *State) electUnclean(p *PartitionState) {
	for _, r := range p.Replicas {
		if b, ok := s.brokers[r]; ok && !b.Fenced {
			p.Leader = r
			p.ISR = []int32{r}
			p.LeaderEpoch++
			p.PartitionEpoch++
			return
		}
	}
}

func (s *State) applyPartitionChange(r Record) error {
	c := r.Partition
	if c == nil {
		return fmt.Errorf("%w: %s without partition", ErrBadRecord, r.Type)
	}
	t, ok := s.byID[c.Topic]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, c.Topic)
	}
	if c.Partition < 0 || int(c.Partition) >= len(t.Assignments) {
		return fmt.Errorf("%w: %s has no partition %d", ErrBadRecord, t.Name, c.Partition)
	}
	cur := &t.Assignments[c.Partition]
	if cur.PartitionEpoch != c.ExpectEpoch {
		return fmt.Errorf("%w: %s-%d is at epoch %d, change expects %d", ErrStalePartition, t.Name, c.Partition, cur.PartitionEpoch, c.ExpectEpoch)
	}
	next := c.State.clone()
	for _, id := range next.ISR {
		if slices.Contains(cur.ISR, id) {
			continue
		}
		// A replica joins the ISR only while its broker is in service.
		if b, ok := s.brokers[id]; !ok || b.Fenced {
			return fmt.Errorf("%w: broker %d cannot join the ISR of %s-%d: it is fenced or unknown", ErrConflict, id, t.Name, c.Partition)
		}
	}
	if err := next.validReassignment(); err != nil {
		return fmt.Errorf("%w: %s-%d: %w", ErrBadRecord, t.Name, c.Partition, err)
	}
	s.maybeCompleteReassignment(&next)
	if next.Leader != cur.Leader {
		next.LeaderEpoch = cur.LeaderEpoch + 1
	} else {
		next.LeaderEpoch = cur.LeaderEpoch
	}
	next.PartitionEpoch = cur.PartitionEpoch + 1
	*cur = next
	return nil
}

// Broker returns a copy of a broker's registration.
func (s *State) Broker(id int32) (BrokerRegistration, bool) {
	b, ok := s.brokers[id]
	if !ok {
		return BrokerRegistration{}, false
	}
	c := *b
	c.Endpoints = slices.Clone(b.Endpoints)
	return c, true
}

// Brokers returns copies of every registered broker, by ID.
func (s *State) Brokers() []BrokerRegistration {
	out := make([]BrokerRegistration, 0, len(s.brokers))
	for id := range s.brokers {
		b, _ := s.Broker(id)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LiveBrokers returns the registered, unfenced brokers, by ID.
func (s *State) LiveBrokers() []BrokerRegistration {
	all := s.Brokers()
	out := all[:0]
	for _, b := range all {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	return out
}
