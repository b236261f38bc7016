package quorum

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestThreeNodesElectOneLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	eventually(t, "every node to know the leader", func() bool {
		for _, id := range c.ids {
			if c.nodes[id].Leader() != lead {
				return false
			}
		}
		return true
	})
	// Status snapshots and OnLeadership calls are published by each node's
	// goroutine a moment after the leader is ready: wait for them.
	eventually(t, "every node's status and the leader's OnLeadership call", func() bool {
		for _, id := range c.ids {
			st := c.nodes[id].Status()
			if st.LeaderReady != (id == lead) || st.Leader != lead || st.ID != id || st.Term == 0 || len(st.Voters) != 3 {
				return false
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		got := c.leads[lead]
		return len(got) > 0 && got[len(got)-1]
	})
}

func TestProposeAppliedInSameOrderEverywhere(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	n := c.nodes[lead]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Concurrent proposers: each gets the index its entry was applied at.
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		at  = map[uint64]string{}
		err error
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				v := fmt.Sprintf("w%d-%d", w, i)
				idx, perr := n.Propose(ctx, []byte(v))
				mu.Lock()
				if perr != nil && err == nil {
					err = perr
				}
				at[idx] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if len(at) != 100 {
		t.Fatalf("%d distinct indexes for 100 proposals", len(at))
	}
	last := slices.Max(slices.Collect(func(yield func(uint64) bool) {
		for k := range at {
			if !yield(k) {
				return
			}
		}
	}))
	c.converged(last)
	// The leader knows how far each voter's log reaches.
	eventually(t, "the leader to see every voter caught up", func() bool {
		st := n.Status()
		for _, v := range st.Voters {
			if v.Match < last || v.Lag != 0 || (v.ID != lead && v.LastContact.IsZero()) {
				return false
			}
		}
		return st.Commit >= last && st.Applied >= last && len(st.Voters) == 3
	})
	sm := c.sms[lead]
	sm.mu.Lock()
	for i, idx := range sm.idx {
		if at[idx] != sm.vals[i] {
			t.Errorf("index %d holds %q, Propose returned it for %q", idx, sm.vals[i], at[idx])
		}
	}
	sm.mu.Unlock()
	if got := c.sms[lead].values(); len(got) != 100 {
		t.Errorf("leader applied %d values, want 100", len(got))
	}

	// The state machine's Apply error reaches the proposer.
	if _, err := n.Propose(ctx, []byte("fail")); !errors.Is(err, errApply) {
		t.Errorf("Propose(fail) = %v, want %v", err, errApply)
	}
}

func TestProposeOnFollowerIsNotLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	for _, id := range c.ids {
		if id == lead {
			continue
		}
		_, err := c.nodes[id].Propose(context.Background(), []byte("x"))
		if !errors.Is(err, ErrNotLeader) {
			t.Errorf("Propose on follower %d = %v, want ErrNotLeader", id, err)
		}
	}
}

func TestSingleVoterElectsItselfAtOnce(t *testing.T) {
	dir := t.TempDir()
	open := func(sm *testSM) *Node {
		n, err := Open(Config{
			NodeID: 7, Voters: map[uint64]string{7: "127.0.0.1:0"}, Dir: dir,
			TickInterval: -1, // no clock at all: leadership must not need an election timeout
			Logger:       testLogger(),
		}, sm)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	sm := &testSM{}
	n := open(sm)
	eventually(t, "the single voter to lead", n.LeaderReady)
	ctx := context.Background()
	for i := range 5 {
		if _, err := n.Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	want := sm.hash()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Propose after Close = %v, want ErrClosed", err)
	}

	sm2 := &testSM{}
	n = open(sm2)
	defer n.Close()
	if got := sm2.hash(); got != want {
		t.Errorf("restarted state %s (%v), want %s", got, sm2.values(), want)
	}
	eventually(t, "the restarted single voter to lead", n.LeaderReady)
	if _, err := n.Propose(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
}
