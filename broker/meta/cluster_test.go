package meta

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
)

func brokers(racks ...string) []BrokerRegistration {
	out := make([]BrokerRegistration, len(racks))
	for i, r := range racks {
		out[i] = BrokerRegistration{ID: int32(i + 1), Rack: r}
	}
	return out
}

func TestPlace(t *testing.T) {
	cases := []struct {
		name    string
		live    []BrokerRegistration
		count   int32
		rf      int16
		start   int
		wantErr bool
		check   func(t *testing.T, got [][]int32)
	}{
		{name: "rf above live brokers", live: brokers("", ""), count: 1, rf: 3, wantErr: true},
		{name: "rf zero", live: brokers(""), count: 1, rf: 0, wantErr: true},
		{name: "one broker", live: brokers(""), count: 3, rf: 1, check: func(t *testing.T, got [][]int32) {
			for _, r := range got {
				if !slices.Equal(r, []int32{1}) {
					t.Fatalf("got %v", got)
				}
			}
		}},
		{name: "round robin leaders from start", live: brokers("", "", ""), count: 6, rf: 1, start: 1, check: func(t *testing.T, got [][]int32) {
			want := [][]int32{{2}, {3}, {1}, {2}, {3}, {1}}
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		}},
		{name: "rf3 distinct replicas, leaders spread", live: brokers("", "", ""), count: 9, rf: 3, check: func(t *testing.T, got [][]int32) {
			leaders := map[int32]int{}
			for _, r := range got {
				s := slices.Clone(r)
				slices.Sort(s)
				if !slices.Equal(s, []int32{1, 2, 3}) {
					t.Fatalf("replicas %v not distinct", r)
				}
				leaders[r[0]]++
			}
			if leaders[1] != 3 || leaders[2] != 3 || leaders[3] != 3 {
				t.Fatalf("leaders %v", leaders)
			}
		}},
		{name: "rack aware", live: brokers("a", "a", "b", "b"), count: 8, rf: 2, check: func(t *testing.T, got [][]int32) {
			rack := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
			for _, r := range got {
				if rack[r[0]] == rack[r[1]] {
					t.Fatalf("partition on one rack: %v (all %v)", r, got)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Place(c.live, c.count, 0, c.rf, c.start)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrReplicationFactor) {
					t.Fatalf("err %v does not wrap ErrReplicationFactor", err)
				}
				return
			}
			if len(got) != int(c.count) {
				t.Fatalf("%d assignments for %d partitions", len(got), c.count)
			}
			c.check(t, got)
		})
	}
}

func TestFenceMovesLeadership(t *testing.T) {
	st := NewState()
	for i := int32(1); i <= 3; i++ {
		must(t, st.ApplyAt(uint64(i), Record{Type: RecordRegisterBroker, Broker: &BrokerRegistration{ID: i, Incarnation: uuid.New()}}))
		must(t, st.ApplyAt(uint64(10+i), Record{Type: RecordUnfenceBroker, BrokerID: i}))
	}
	if b, _ := st.Broker(2); b.Epoch != 2 || b.Fenced {
		t.Fatalf("broker 2 = %+v, want epoch 2 unfenced", b)
	}
	id := uuid.New()
	must(t, st.ApplyAt(20, Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: id, Partitions: 2, Assignments: []PartitionState{
		NewPartitionState([]int32{1}), NewPartitionState([]int32{2, 3, 1}),
	}}}))
	// A stale epoch does not fence.
	if err := st.ApplyAt(21, Record{Type: RecordFenceBroker, BrokerID: 2, BrokerEpoch: 99}); !errors.Is(err, ErrStaleBroker) {
		t.Fatalf("stale fence: %v", err)
	}
	must(t, st.ApplyAt(22, Record{Type: RecordFenceBroker, BrokerID: 2, BrokerEpoch: 2}))
	tp, _ := st.Topic("t")
	p := tp.Assignments[1]
	if p.Leader != 3 || p.LeaderEpoch != 1 || slices.Contains(p.ISR, 2) {
		t.Fatalf("after fencing 2: %+v", p)
	}
	// RF 1: fencing the only replica takes the partition offline, and
	// unfencing brings it back with a new epoch.
	must(t, st.ApplyAt(23, Record{Type: RecordFenceBroker, BrokerID: 1}))
	tp, _ = st.Topic("t")
	if p := tp.Assignments[0]; !p.Offline() || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("after fencing 1: %+v", p)
	}
	must(t, st.ApplyAt(24, Record{Type: RecordUnfenceBroker, BrokerID: 1}))
	tp, _ = st.Topic("t")
	if p := tp.Assignments[0]; p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("after unfencing 1: %+v", p)
	}
	// Fencing 1 left 3 alone in partition 1's ISR. A new incarnation of 3
	// registers fenced; the old one is fenced first, and as the last
	// in-sync replica it takes the partition offline (no unclean election).
	must(t, st.ApplyAt(25, Record{Type: RecordRegisterBroker, Broker: &BrokerRegistration{ID: 3, Incarnation: uuid.New()}}))
	if b, _ := st.Broker(3); b.Epoch != 25 || !b.Fenced {
		t.Fatalf("re-registered broker 3 = %+v", b)
	}
	tp, _ = st.Topic("t")
	if p := tp.Assignments[1]; !p.Offline() || !slices.Equal(p.ISR, []int32{3}) {
		t.Fatalf("partition 1 after 3 re-registers: %+v", p)
	}

	// Snapshots restore the same state.
	data, err := st.Snapshot()
	must(t, err)
	again, err := RestoreState(data)
	must(t, err)
	if again.Hash() != st.Hash() || again.AppliedIndex() != 25 {
		t.Fatalf("restored state differs")
	}
	must(t, again.ApplyAt(26, Record{Type: RecordDeleteTopic, Topic: &Topic{ID: id}}))
	if again.Hash() == st.Hash() {
		t.Fatalf("hash did not change with the state")
	}
}

func TestPartitionChangeEpochs(t *testing.T) {
	st := NewState()
	id := uuid.New()
	must(t, st.Apply(Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: id, Partitions: 1, Assignments: []PartitionState{NewPartitionState([]int32{1, 2})}}}))
	change := Record{Type: RecordPartitionChange, Partition: &PartitionChange{Topic: id, Partition: 0, ExpectEpoch: 0, State: PartitionState{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2}}}
	must(t, st.Apply(change))
	if err := st.Apply(change); !errors.Is(err, ErrStalePartition) {
		t.Fatalf("replayed change: %v", err)
	}
	tp, _ := st.Topic("t")
	if p := tp.Assignments[0]; p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("after change: %+v", p)
	}
	// Producer ID blocks refuse a stale expectation.
	zero := int64(0)
	must(t, st.Apply(Record{Type: RecordProducerIDBlock, NextProducerID: 1000, ExpectNextProducerID: &zero}))
	if err := st.Apply(Record{Type: RecordProducerIDBlock, NextProducerID: 1000, ExpectNextProducerID: &zero}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale block: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
