package meta

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// reassignState is a cluster of brokers 1..4 (unfenced) with topic "t" of
// one partition on cur.
func reassignState(t *testing.T, cur PartitionState) (*State, uuid.UUID) {
	t.Helper()
	s := NewState()
	for id := int32(1); id <= 4; id++ {
		if err := s.ApplyAt(uint64(id), Record{Type: RecordRegisterBroker, Broker: &BrokerRegistration{ID: id}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(Record{Type: RecordUnfenceBroker, BrokerID: id}); err != nil {
			t.Fatal(err)
		}
	}
	id := uuid.New()
	if err := s.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: id, Partitions: 1, Assignments: []PartitionState{cur}}}); err != nil {
		t.Fatal(err)
	}
	return s, id
}

// change applies a partition-change of topic id's partition 0 to next.
func change(s *State, id uuid.UUID, next PartitionState) error {
	t, _ := s.TopicByID(id)
	return s.Apply(Record{Type: RecordPartitionChange, Partition: &PartitionChange{Topic: id, ExpectEpoch: t.Assignments[0].PartitionEpoch, State: next}})
}

func partition0(s *State, id uuid.UUID) PartitionState {
	t, _ := s.TopicByID(id)
	return t.Assignments[0]
}

func TestValidateTarget(t *testing.T) {
	registered := func(id int32) bool { return id >= 1 && id <= 3 }
	cases := []struct {
		name   string
		target []int32
		ok     bool
	}{
		{"valid", []int32{3, 1}, true},
		{"empty", []int32{}, false},
		{"duplicate", []int32{1, 2, 1}, false},
		{"unknown broker", []int32{1, 9}, false},
		{"negative broker", []int32{-1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateTarget(c.target, registered)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidReplicaAssignment)) {
				t.Fatalf("ValidateTarget(%v) = %v", c.target, err)
			}
		})
	}
}

func TestStartReassignment(t *testing.T) {
	cases := []struct {
		name                       string
		cur                        PartitionState
		target                     []int32
		replicas, adding, removing []int32
	}{
		{"move one replica", NewPartitionState([]int32{1, 2, 3}), []int32{4, 2, 3}, []int32{4, 2, 3, 1}, []int32{4}, []int32{1}},
		{"grow", NewPartitionState([]int32{1, 2}), []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{3}, nil},
		{"shrink", NewPartitionState([]int32{1, 2, 3}), []int32{2}, []int32{2, 1, 3}, nil, []int32{1, 3}},
		{"reorder", NewPartitionState([]int32{1, 2, 3}), []int32{3, 2, 1}, []int32{3, 2, 1}, nil, nil},
		{"replace one in progress", StartReassignment(NewPartitionState([]int32{1, 2}), []int32{3, 2}), []int32{4, 2},
			[]int32{4, 2, 3, 1}, []int32{4}, []int32{3, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := StartReassignment(c.cur, c.target)
			if !slices.Equal(got.Replicas, c.replicas) || !slices.Equal(got.AddingReplicas, c.adding) || !slices.Equal(got.RemovingReplicas, c.removing) {
				t.Fatalf("got replicas %v adding %v removing %v, want %v %v %v", got.Replicas, got.AddingReplicas, got.RemovingReplicas, c.replicas, c.adding, c.removing)
			}
			if !slices.Equal(got.TargetReplicas(), c.target) {
				t.Fatalf("target %v, want %v", got.TargetReplicas(), c.target)
			}
			if err := got.validReassignment(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReassignmentLifecycle walks a reassignment through the metadata
// records that drive it: started, the new replica joins the ISR, and the
// record that adds it completes the move with the leader handed over.
func TestReassignmentLifecycle(t *testing.T) {
	s, id := reassignState(t, NewPartitionState([]int32{1, 2, 3}))
	cur := partition0(s, id)
	if err := change(s, id, StartReassignment(cur, []int32{4, 2, 3})); err != nil {
		t.Fatal(err)
	}
	p := partition0(s, id)
	if !p.Reassigning() || !slices.Equal(p.Replicas, []int32{4, 2, 3, 1}) || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("after start: %+v", p)
	}
	if got := s.Reassignments()["t"][0]; !slices.Equal(got.AddingReplicas, []int32{4}) {
		t.Fatalf("Reassignments: %+v", s.Reassignments())
	}
	// The leader shrinks the ISR (2 fell behind): still in progress.
	next := p
	next.ISR = []int32{1, 3}
	if err := change(s, id, next); err != nil {
		t.Fatal(err)
	}
	// 4 joins: 2 is still missing, nothing completes.
	next = partition0(s, id)
	next.ISR = []int32{1, 3, 4}
	if err := change(s, id, next); err != nil {
		t.Fatal(err)
	}
	if p := partition0(s, id); !p.Reassigning() {
		t.Fatalf("completed without replica 2 in sync: %+v", p)
	}
	// 2 joins: every target replica is in sync; 1 leaves, 4 leads.
	epoch := partition0(s, id).LeaderEpoch
	next = partition0(s, id)
	next.ISR = []int32{1, 3, 4, 2}
	if err := change(s, id, next); err != nil {
		t.Fatal(err)
	}
	p = partition0(s, id)
	if p.Reassigning() || !slices.Equal(p.Replicas, []int32{4, 2, 3}) || !slices.Equal(p.ISR, []int32{3, 4, 2}) || p.Leader != 4 || p.LeaderEpoch != epoch+1 {
		t.Fatalf("after completion: %+v", p)
	}
	if len(s.Reassignments()) != 0 {
		t.Fatalf("Reassignments after completion: %+v", s.Reassignments())
	}
}

func TestReassignmentCompletesAtOnce(t *testing.T) {
	cases := []struct {
		name           string
		target         []int32
		replicas, isr  []int32
		leader, epochs int32
	}{
		{"reorder keeps the leader", []int32{3, 2, 1}, []int32{3, 2, 1}, []int32{1, 2, 3}, 1, 0},
		{"shrink away from the leader", []int32{3, 2}, []int32{3, 2}, []int32{2, 3}, 3, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, id := reassignState(t, NewPartitionState([]int32{1, 2, 3}))
			if err := change(s, id, StartReassignment(partition0(s, id), c.target)); err != nil {
				t.Fatal(err)
			}
			p := partition0(s, id)
			if p.Reassigning() || !slices.Equal(p.Replicas, c.replicas) || !slices.Equal(p.ISR, c.isr) || p.Leader != c.leader || p.LeaderEpoch != c.epochs {
				t.Fatalf("got %+v", p)
			}
		})
	}
}

func TestReassignmentWaitsForALiveTargetLeader(t *testing.T) {
	s, id := reassignState(t, NewPartitionState([]int32{1, 2}))
	if err := change(s, id, StartReassignment(partition0(s, id), []int32{3})); err != nil {
		t.Fatal(err)
	}
	next := partition0(s, id)
	next.ISR = []int32{1, 2, 3}
	if err := change(s, id, next); err != nil {
		t.Fatal(err)
	}
	if p := partition0(s, id); p.Reassigning() || p.Leader != 3 || !slices.Equal(p.ISR, []int32{3}) {
		t.Fatalf("got %+v", p)
	}
	// A fenced target replica never joins the ISR, so never completes one.
	s, id = reassignState(t, NewPartitionState([]int32{1}))
	if err := s.Apply(Record{Type: RecordFenceBroker, BrokerID: 2}); err != nil {
		t.Fatal(err)
	}
	if err := change(s, id, StartReassignment(partition0(s, id), []int32{2})); err != nil {
		t.Fatal(err)
	}
	next = partition0(s, id)
	next.ISR = []int32{1, 2}
	if err := change(s, id, next); !errors.Is(err, ErrConflict) {
		t.Fatalf("fenced broker joined the ISR: %v", err)
	}
}

func TestCancelReassignment(t *testing.T) {
	live := func(id int32) bool { return id != 2 }
	if _, err := CancelReassignment(NewPartitionState([]int32{1, 2}), live); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("cancel with none in progress: %v", err)
	}
	cur := StartReassignment(NewPartitionState([]int32{1, 2}), []int32{3, 4})
	cur.ISR = []int32{1, 2, 3}
	got, err := CancelReassignment(cur, live)
	if err != nil || got.Reassigning() || !slices.Equal(got.Replicas, []int32{1, 2}) || !slices.Equal(got.ISR, []int32{1, 2}) || got.Leader != 1 {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	// An adding replica led (1 and 2 were fenced, 2 still is): 1 takes over.
	cur.Leader = 3
	got, _ = CancelReassignment(cur, live)
	if got.Leader != 1 {
		t.Fatalf("leader after cancel %d, want 1", got.Leader)
	}
	// Through the state: the record reverts it.
	s, id := reassignState(t, NewPartitionState([]int32{1, 2}))
	if err := change(s, id, StartReassignment(partition0(s, id), []int32{3, 4})); err != nil {
		t.Fatal(err)
	}
	reverted, err := CancelReassignment(partition0(s, id), s.live)
	if err != nil {
		t.Fatal(err)
	}
	if err := change(s, id, reverted); err != nil {
		t.Fatal(err)
	}
	if p := partition0(s, id); p.Reassigning() || !slices.Equal(p.Replicas, []int32{1, 2}) || p.Leader != 1 {
		t.Fatalf("after cancel: %+v", p)
	}
}

func TestPartitionChangeRefusesBadReassignment(t *testing.T) {
	s, id := reassignState(t, NewPartitionState([]int32{1, 2}))
	bad := partition0(s, id)
	bad.AddingReplicas = []int32{4} // not a replica
	if err := change(s, id, bad); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("got %v", err)
	}
}

// TestReassignmentSnapshot: a reassignment in progress survives a snapshot
// (a new controller or a restarted node carries on with it).
func TestReassignmentSnapshot(t *testing.T) {
	s, id := reassignState(t, NewPartitionState([]int32{1, 2}))
	if err := change(s, id, StartReassignment(partition0(s, id), []int32{3, 4})); err != nil {
		t.Fatal(err)
	}
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreState(data)
	if err != nil {
		t.Fatal(err)
	}
	p := partition0(r, id)
	if !slices.Equal(p.AddingReplicas, []int32{3, 4}) || !slices.Equal(p.RemovingReplicas, []int32{1, 2}) || r.Hash() != s.Hash() {
		t.Fatalf("restored %+v", p)
	}
}
