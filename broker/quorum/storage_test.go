package quorum

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRestartedNodeReplaysWALAndSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 15; cfg.RetainEntries = 4 })
	var idx uint64
	for i := range 40 {
		idx = c.propose(fmt.Sprintf("v%d", i))
	}
	c.converged(idx)
	want := c.sms[1].hash()

	// One node, then the whole cluster, restarted from their directories.
	c.stop(2)
	c.start(2)
	if got := c.sms[2].hash(); got != want {
		t.Errorf("node 2 reopened with state %s, want %s", got, want)
	}
	snaps, _ := filepath.Glob(filepath.Join(c.dirs[2], "snap-*.snap"))
	if len(snaps) == 0 {
		t.Errorf("no snapshot files after 40 entries with SnapshotEntries=15")
	}
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		c.start(id)
		if got := c.sms[id].hash(); got != want {
			t.Errorf("node %d reopened with state %s, want %s", id, got, want)
		}
		if c.sms[id].restoreCount() != 1 {
			t.Errorf("node %d: %d restores on open, want 1", id, c.sms[id].restoreCount())
		}
	}
	idx = c.propose("after-restart")
	c.converged(idx)
	if got := len(c.sms[3].values()); got != 41 {
		t.Errorf("node 3 holds %d values, want 41", got)
	}
}

func TestLaggingNodeCatchesUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 10; cfg.RetainEntries = 2 })
	c.propose("first")
	lead := c.leader()
	lag := others(c.ids, lead)[0]
	c.net.isolate(lag, c.ids, true)
	var idx uint64
	for i := range 50 {
		idx = c.propose(fmt.Sprintf("v%d", i))
	}
	lagLast := c.nodes[lag].Status().Commit
	c.net.isolate(lag, c.ids, false)
	c.converged(idx)
	if got := c.sms[lag].restoreCount(); got < 2 {
		t.Errorf("lagging node restored %d times (once on open); want a snapshot from the leader", got)
	}
	if got := len(c.sms[lag].values()); got != 51 {
		t.Errorf("lagging node holds %d values, want 51 (it was at commit %d)", got, lagLast)
	}
	// What it installed survives its restart.
	c.stop(lag)
	c.start(lag)
	if got, want := c.sms[lag].hash(), c.sms[c.leader()].hash(); got != want {
		t.Errorf("restarted lagging node state %s, want %s", got, want)
	}
}

func openSingle(t *testing.T, dir string, sm StateMachine) *Node {
	t.Helper()
	n, err := Open(Config{NodeID: 1, Voters: map[uint64]string{1: "x:1"}, Dir: dir, Logger: testLogger()}, sm)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a single voter to lead", n.LeaderReady)
	return n
}

func TestTornWALTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	sm := &testSM{}
	n := openSingle(t, dir, sm)
	ctx := context.Background()
	for i := range 10 {
		if _, err := n.Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	want, count := sm.hash(), 10

	// A record cut short by a crash, then a whole record with a bad checksum.
	rec, _ := appendRecord(nil, recEntry, entry(100, 9, "torn"))
	for _, tail := range [][]byte{rec[:len(rec)/2], append(rec[:len(rec)-1:len(rec)-1], rec[len(rec)-1]^0xff)} {
		f, err := os.OpenFile(filepath.Join(dir, walFile), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(tail)
		f.Close()

		sm2 := &testSM{}
		n2 := openSingle(t, dir, sm2)
		if got := sm2.hash(); got != want {
			t.Errorf("state after reopening a torn WAL %s, want %s", got, want)
		}
		if _, err := n2.Propose(ctx, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if err := n2.Close(); err != nil {
			t.Fatal(err)
		}
		// Had the damaged bytes stayed, the write after them would make
		// them corruption in the middle of the WAL: this Open would fail.
		count++
		sm3 := &testSM{}
		n3 := openSingle(t, dir, sm3)
		if got := sm3.values(); len(got) != count || got[count-1] != "after" {
			t.Errorf("after a write past the truncation: %v", got)
		}
		n3.Close()
		want = sm3.hash()
	}
}

func TestCorruptWALMiddleIsAnError(t *testing.T) {
	dir := t.TempDir()
	n := openSingle(t, dir, &testSM{})
	for i := range 5 {
		if _, err := n.Propose(context.Background(), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	n.Close()
	path := filepath.Join(dir, walFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[recHeaderSize+2] ^= 0xff // inside the first record, with whole records after it
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{NodeID: 1, Voters: map[uint64]string{1: "x:1"}, Dir: dir, Logger: testLogger()}, &testSM{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open over a corrupt WAL = %v, want ErrCorrupt", err)
	}
}

func TestOpenRejectsChangedVoters(t *testing.T) {
	dir := t.TempDir()
	n := openSingle(t, dir, &testSM{})
	n.Close()
	_, err := Open(Config{NodeID: 1, Voters: map[uint64]string{1: "x:1", 2: "y:1"}, Dir: dir, Logger: testLogger()}, &testSM{})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Open with other voters = %v, want ErrConfig", err)
	}
}

func TestBootstrapDataIsTheInitialState(t *testing.T) {
	dir := t.TempDir()
	seed := &testSM{}
	seed.Apply(1, []byte("migrated-a"))
	seed.Apply(2, []byte("migrated-b"))
	data, _ := seed.Snapshot()
	calls := 0
	cfg := Config{
		NodeID: 1, Voters: map[uint64]string{1: "x:1"}, Dir: dir, Logger: testLogger(),
		Bootstrap: func() ([]byte, error) { calls++; return data, nil },
	}
	sm := &testSM{}
	n, err := Open(cfg, sm)
	if err != nil {
		t.Fatal(err)
	}
	if got := sm.values(); len(got) != 2 || got[0] != "migrated-a" {
		t.Errorf("state after bootstrap: %v", got)
	}
	n.Close()
	n, err = Open(cfg, &testSM{})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if calls != 1 {
		t.Errorf("Bootstrap called %d times, want once (only for an empty Dir)", calls)
	}

	cfg.Dir = t.TempDir()
	cfg.Bootstrap = func() ([]byte, error) { return nil, errApply }
	if _, err := Open(cfg, &testSM{}); !errors.Is(err, errApply) {
		t.Errorf("Open with a failing Bootstrap = %v, want its error", err)
	}
}

func TestCloseWaitsAndPendingCallsEnd(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	// Cut the leader off, so its proposal cannot commit, then close it.
	c.net.isolate(lead, c.ids, true)
	errc := make(chan error, 1)
	go func() {
		_, err := c.nodes[lead].Propose(context.Background(), []byte("never"))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.stop(lead)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotLeader) {
			t.Errorf("pending Propose after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending Propose did not return after Close")
	}
}
