package group

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// memStorage keeps each partition's batches in memory.
type memStorage struct {
	mu    sync.Mutex
	parts map[int32][]byte
	fail  bool
}

func (m *memStorage) Append(p int32, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk on fire")
	}
	if m.parts == nil {
		m.parts = map[int32][]byte{}
	}
	m.parts[p] = append(m.parts[p], EncodeBatch(recs, time.Now().UnixMilli())...)
	return nil
}

func (m *memStorage) AppendTxn(p int32, pid int64, epoch int16, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("disk on fire")
	}
	if m.parts == nil {
		m.parts = map[int32][]byte{}
	}
	m.parts[p] = append(m.parts[p], EncodeTxnBatch(recs, time.Now().UnixMilli(), pid, epoch)...)
	return nil
}

func (m *memStorage) Replay(p int32, fn func([]byte) error) error {
	m.mu.Lock()
	b := append([]byte(nil), m.parts[p]...)
	m.mu.Unlock()
	if len(b) == 0 {
		return nil
	}
	return fn(b)
}

func testCoordinator(t *testing.T, st Storage, load bool) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = time.Millisecond
	cfg.Logger = discard()
	c, err := NewCoordinator(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(4, load)
	t.Cleanup(c.Close)
	return c
}

func TestCoordinatorGroupLifecycle(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	done := make(chan struct{})
	req := JoinRequest{ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}}, SessionTimeoutMs: 30000, RebalanceTimeoutMs: 60000}

	// The first member gets generation 1 alone; a second one makes the
	// group rebalance and waits until the first rejoins.
	res := make([]JoinResult, 2)
	var wg sync.WaitGroup
	res[0] = c.JoinGroup(done, "g1", req)
	if res[0].Err != nil || res[0].Generation != 1 {
		t.Fatalf("first join: %+v", res[0])
	}
	wg.Add(1)
	go func() { defer wg.Done(); res[1] = c.JoinGroup(done, "g1", req) }()
	waitState(t, c, "g1", PreparingRebalance)
	if err := c.Heartbeat("g1", res[0].MemberID, "", 1); err != kerr.RebalanceInProgress {
		t.Fatalf("heartbeat during rebalance: %v", err)
	}
	r := req
	r.MemberID = res[0].MemberID
	res[0] = c.JoinGroup(done, "g1", r)
	wg.Wait()
	if res[0].Err != nil || res[1].Err != nil || res[0].Generation != 2 || res[1].Generation != 2 {
		t.Fatalf("joins: %+v", res)
	}
	leader := res[0].Leader
	syncs := make([]SyncResult, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sr := SyncRequest{MemberID: res[i].MemberID, Generation: res[i].Generation}
			if res[i].MemberID == leader {
				sr.Assignments = map[string][]byte{res[0].MemberID: []byte("zero"), res[1].MemberID: []byte("one")}
			}
			syncs[i] = c.SyncGroup(done, "g1", sr)
		}()
	}
	wg.Wait()
	if string(syncs[0].Assignment) != "zero" || string(syncs[1].Assignment) != "one" {
		t.Fatalf("syncs: %+v", syncs)
	}
	d, err := c.DescribeGroup("g1")
	if err != nil || d.State != Stable || len(d.Members) != 2 {
		t.Fatalf("describe: %v %+v", err, d)
	}
	errs := c.CommitOffsets("g1", CommitRequest{MemberID: res[0].MemberID, Generation: res[0].Generation},
		[]CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 7, LeaderEpoch: -1, Metadata: "x", ExpireTimestamp: -1}}, kerr.IllegalGeneration)
	if errs[0] != nil {
		t.Fatalf("commit: %v", errs[0])
	}
	// A commit from no member to a missing group with a generation fails.
	errs = c.CommitOffsets("nope", CommitRequest{Generation: 3}, []CommitOffset{{Offset: 1}}, kerr.GroupIDNotFound)
	wantErr(t, "commit to missing group", errs[0], kerr.GroupIDNotFound)
	// Leave both; the group is Empty and can be deleted.
	top, lerrs := c.LeaveGroup("g1", []LeaveMember{{MemberID: res[0].MemberID}, {MemberID: res[1].MemberID}})
	if top != nil || lerrs[0] != nil || lerrs[1] != nil {
		t.Fatalf("leave: %v %v", top, lerrs)
	}
	if ls, _ := c.ListGroups(); len(ls) != 1 || ls[0].State != Empty {
		t.Fatalf("list: %+v", ls)
	}

	// A new coordinator over the same storage loads the offsets back.
	c2 := testCoordinator(t, st, true)
	var got []FetchedOffset
	for {
		var ferr *kerr.Error
		got, ferr = c2.FetchOffsets("g1", nil)
		if ferr != kerr.CoordinatorLoadInProgress {
			if ferr != nil {
				t.Fatal(ferr)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(got) != 1 || got[0].Offset.Offset != 7 || got[0].Metadata != "x" {
		t.Fatalf("loaded offsets: %+v", got)
	}
	if d, _ := c2.DescribeGroup("g1"); d.State != Empty || d.ProtocolType != "consumer" {
		t.Fatalf("loaded group: %+v", d)
	}
	wantErr(t, "delete", c2.DeleteGroup("g1"), nil)
	wantErr(t, "delete again", c2.DeleteGroup("g1"), kerr.GroupIDNotFound)
	if got, _ := c2.FetchOffsets("g1", []TopicPartition{{"t", 0}}); got[0].Found || got[0].Offset.Offset != -1 {
		t.Fatalf("offsets after delete: %+v", got)
	}
}

func TestCoordinatorCloseUnblocksJoin(t *testing.T) {
	c := testCoordinator(t, &memStorage{}, false)
	req := JoinRequest{ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}}, SessionTimeoutMs: 30000, RebalanceTimeoutMs: 60000}
	first := c.JoinGroup(nil, "g", req)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	// A second member makes the first one's group rebalance; with the
	// first never rejoining, the second waits until Close.
	got := make(chan JoinResult)
	go func() { got <- c.JoinGroup(nil, "g", req) }()
	waitState(t, c, "g", PreparingRebalance)
	c.Close()
	if r := <-got; r.Err != kerr.CoordinatorNotAvailable {
		t.Fatalf("join after close: %+v", r)
	}
}

func TestCoordinatorCommitStorageFailure(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	errs := c.CommitOffsets("g", CommitRequest{Generation: -1}, []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 1, ExpireTimestamp: -1}}, nil)
	wantErr(t, "failed write", errs[0], kerr.CoordinatorNotAvailable)
	if got, _ := c.FetchOffsets("g", []TopicPartition{{"t", 0}}); got[0].Found {
		t.Fatal("an unwritten commit is visible")
	}
}

func waitState(t *testing.T, c *Coordinator, group string, s State) {
	t.Helper()
	for {
		if d, _ := c.DescribeGroup(group); d.State == s {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCoordinatorLoadsPartitionsItComesToLead: the broker that created
// __consumer_offsets (Start without load) has nothing to read in the
// partitions it leads, but another broker leads the rest and writes there;
// when this one comes to lead such a partition (its leader died), it must
// load what was written, not serve the groups as new. (The controller kill
// nemesis test found a group resuming from offset 0 after its coordinator
// died: the broker that had created the topic took over the partition
// without loading it.)
func TestCoordinatorLoadsPartitionsItComesToLead(t *testing.T) {
	st := &memStorage{}
	first := testCoordinator(t, st, false) // the partition's first leader
	errs := first.CommitOffsets("g", CommitRequest{Generation: -1},
		[]CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 7, LeaderEpoch: -1, ExpireTimestamp: -1}}, nil)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}

	var owns atomic.Bool
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.Logger = discard()
	cfg.Owns = func(int32) bool { return owns.Load() }
	c, err := NewCoordinator(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(4, false) // it created the topic, leading none of the partitions
	t.Cleanup(c.Close)
	if _, err := c.FetchOffsets("g", nil); err != kerr.NotCoordinator {
		t.Fatalf("fetch before it leads the partition: %v, want NOT_COORDINATOR", err)
	}
	owns.Store(true) // the first leader died; this broker leads now
	c.Load(PartitionFor("g", 4))
	for {
		got, err := c.FetchOffsets("g", []TopicPartition{{"t", 0}})
		if err == kerr.CoordinatorLoadInProgress {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !got[0].Found || got[0].Offset.Offset != 7 {
			t.Fatalf("offsets on the new leader: %+v, want the commit of 7", got)
		}
		return
	}
}
