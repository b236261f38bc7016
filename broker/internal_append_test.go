package broker

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/gregorhq/gregor/broker/meta"
)

// TestInternalAppendRefusedAfterLeadershipMoved: a coordinator (or a
// transaction-marker writer) found node 3 leading a partition, then the
// metadata made node 1 the leader before its append. appendLocal, the
// broker-written append under every coordinator write, must refuse it as
// appendAsLeader refuses a client's: appended, the batch would sit in a
// follower's log among records copied from the new leader, a divergence
// no later fetch detects once the log carries the new epoch.
func TestInternalAppendRefusedAfterLeadershipMoved(t *testing.T) {
	n := newMetaNode(t, 3)
	id := uuid.New()
	n.apply(meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{Name: "t", ID: id, Partitions: 1,
		Assignments: []meta.PartitionState{meta.NewPartitionState([]int32{3, 1, 2})}}})
	p := n.b.topics["t"].allPartitions()[0]
	if !p.leading.Load() {
		t.Fatal("node 3 does not lead the partition")
	}
	if _, _, err := n.b.appendLocal(p, ackTestBatch("written while leading")); err != nil {
		t.Fatalf("append while leading: %v", err)
	}
	p.rep.mu.Lock()
	pe := p.rep.partEpoch
	p.rep.mu.Unlock()
	n.apply(meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{Topic: id, Partition: 0, ExpectEpoch: pe,
		State: meta.PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1, 2}, Leader: 1}}})
	if p.leading.Load() {
		t.Fatal("node 3 still leads after the change")
	}
	_, _, err := n.b.appendLocal(p, ackTestBatch("a coordinator write that lost the race"))
	if !errors.Is(err, errNotLeading) {
		t.Errorf("internal append after leadership moved: %v, want errNotLeading", err)
	}
	if end := p.log.LogEndOffset(); end != 1 {
		t.Errorf("a follower's log took a broker-written batch: log end %d, want 1", end)
	}
}
