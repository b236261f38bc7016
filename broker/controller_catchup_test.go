package broker

import (
	"testing"
	"time"

	"github.com/gregorhq/gregor/broker/meta"
)

// TestFencedBrokerUnfencedOnlyOnceCaughtUp: a broker fenced while cut off
// from the quorum comes back with the metadata from before the cut. Its
// registration is old, so it is past its registration offset at once; it
// must not be unfenced until it has applied what the controller had
// applied when it first heartbeat as fenced (the changes made while it
// was away), and the target stays fixed while the log grows.
func TestFencedBrokerUnfencedOnlyOnceCaughtUp(t *testing.T) {
	n := newMetaNode(t, 1)
	c := newController(n.b)
	n.apply(meta.Record{Type: meta.RecordFenceBroker, BrokerID: 3})
	for i := 0; i < 5; i++ { // changes made while broker 3 was away
		n.apply(meta.Record{Type: meta.RecordFenceBroker, BrokerID: 2})
		n.apply(meta.Record{Type: meta.RecordUnfenceBroker, BrokerID: 2})
	}
	n.b.mu.RLock()
	reg, _ := n.b.meta.Broker(3)
	applied := int64(n.b.meta.AppliedIndex())
	n.b.mu.RUnlock()
	key := brokerKey{reg.ID, reg.Epoch}
	if reg.Epoch >= applied {
		t.Fatalf("registration offset %d not below the applied offset %d", reg.Epoch, applied)
	}
	for _, tc := range []struct {
		offset int64
		want   bool
	}{
		{reg.Epoch, false},   // past its registration only: still the metadata of before the cut
		{applied - 1, false}, // one change short
		{applied, true},
	} {
		if got := c.fencedCaughtUp(key, tc.offset); got != tc.want {
			t.Errorf("fencedCaughtUp(offset %d), applied %d: %v, want %v", tc.offset, applied, got, tc.want)
		}
	}
	// The log grows meanwhile: the target does not move with it.
	n.apply(meta.Record{Type: meta.RecordFenceBroker, BrokerID: 2})
	if !c.fencedCaughtUp(key, applied) {
		t.Errorf("target moved with the log: offset %d no longer enough", applied)
	}
	// Unfenced, then fenced again later: a new target is taken.
	c.caughtUp(key)
	if c.fencedCaughtUp(key, applied) {
		t.Errorf("after unfencing, the next fencing kept the old target %d", applied)
	}
}

// TestFencedBrokerDoubtsItsLeadership: a node the controller answers as
// fenced treats its leadership as in doubt even right after an answer, so
// a consumer's fetch past its log end is sent to the metadata
// (NOT_LEADER_OR_FOLLOWER), not told to reset.
func TestFencedBrokerDoubtsItsLeadership(t *testing.T) {
	b := &Broker{cfg: Config{NodeID: 1, Cluster: ClusterConfig{Voters: map[int32]string{1: "a:1", 2: "b:1", 3: "c:1"}, SessionTimeout: 9 * time.Second}}}
	b.lastControllerContact.Store(time.Now().UnixNano())
	if b.leadershipInDoubt() {
		t.Fatal("unfenced, just heard from the controller: in doubt")
	}
	b.fenced.Store(true)
	if !b.leadershipInDoubt() {
		t.Fatal("fenced, just heard from the controller: not in doubt")
	}
}
