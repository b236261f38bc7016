package quorum

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func others(ids []uint64, not uint64) []uint64 {
	return slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == not })
}

func TestIsolatedLeaderStepsDownAndRejoins(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 10 {
		c.propose(fmt.Sprintf("before-%d", i))
	}
	old := c.leader()
	rest := others(c.ids, old)

	// A write started on the old leader just as it is cut off can never
	// commit: it must not be reported as applied.
	c.net.isolate(old, c.ids, true)
	stranded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.nodes[old].Propose(ctx, []byte("stranded"))
		stranded <- err
	}()

	// CheckQuorum: the old leader stops being the ready leader by itself,
	// and says so through OnLeadership.
	eventually(t, "the isolated leader to step down", func() bool { return !c.nodes[old].LeaderReady() })
	eventually(t, "OnLeadership(false) on the isolated leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		l := c.leads[old]
		return len(l) > 0 && !l[len(l)-1]
	})
	if _, err := c.nodes[old].Propose(context.Background(), []byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Propose on the deposed leader = %v, want ErrNotLeader", err)
	}

	// The other two elect a leader among themselves and writes resume.
	newLead := c.leader(rest...)
	if newLead == old {
		t.Fatalf("the isolated node %d is still the leader", old)
	}
	var idx uint64
	for i := range 10 {
		// Leadership may still move between the two under load.
		idx = c.propose(fmt.Sprintf("during-%d", i), rest...)
	}
	c.converged(idx, rest...)

	// Heal: the old leader rejoins as a follower and converges.
	c.net.isolate(old, c.ids, false)
	idx = c.propose("after")
	c.converged(idx)
	select {
	case err := <-stranded:
		if err == nil {
			t.Errorf("the stranded proposal reported success")
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the stranded proposal never returned")
	}
	for _, id := range c.ids {
		if slices.Contains(c.sms[id].values(), "stranded") {
			t.Errorf("node %d applied the stranded proposal", id)
		}
	}
	if got := len(c.sms[old].values()); got != 21 {
		t.Errorf("rejoined node holds %d values, want 21", got)
	}
}

func TestOneWayPartitionsAndLossyNetwork(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	follower := others(c.ids, lead)[0]

	// The leader cannot hear from one follower (its acks are lost), but the
	// other keeps a majority: writes go on.
	c.net.setCut(follower, lead, true)
	var idx uint64
	for i := range 5 {
		idx = c.propose(fmt.Sprintf("oneway-%d", i))
	}
	c.net.setCut(follower, lead, false)

	// 20% of all messages lost, in every direction.
	c.net.setDrop(0.2)
	for i := range 20 {
		idx = c.propose(fmt.Sprintf("lossy-%d", i))
	}
	c.net.setDrop(0)
	c.converged(idx)
	if got := len(c.sms[follower].values()); got != 25 {
		t.Errorf("follower %d holds %d values, want 25", follower, got)
	}
}

func TestBarrierOnFollowerSeesCommittedWrite(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	follower := others(c.ids, lead)[0]
	c.propose("warmup")
	// Slow the leader -> follower link, so the follower learns of a commit
	// well after the leader applied it: without the barrier waiting, the
	// follower would not hold the write yet.
	c.net.setDelay(lead, follower, 150*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		v := fmt.Sprintf("read-your-write-%d", i)
		if _, err := c.nodes[lead].Propose(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[follower].Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(c.sms[follower].values(), v) {
			t.Fatalf("after Barrier the follower does not hold %q", v)
		}
		if err := c.nodes[lead].Barrier(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// With no leader reachable, Barrier waits for its context.
	c.net.setDelay(lead, follower, 0)
	c.net.isolate(follower, c.ids, true)
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := c.nodes[follower].Barrier(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Barrier on an isolated follower = %v, want DeadlineExceeded", err)
	}
}
