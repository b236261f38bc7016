package group

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
)

// offsetsOf returns a group's visible committed offsets, waiting out a
// load in progress.
func offsetsOf(t *testing.T, c *Coordinator, group string) map[TopicPartition]int64 {
	t.Helper()
	var got []FetchedOffset
	var err *kerr.Error
	for {
		if got, err = c.FetchOffsets(group, nil); err != kerr.CoordinatorLoadInProgress {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[TopicPartition]int64{}
	for _, f := range got {
		out[f.TopicPartition] = f.Offset.Offset
	}
	return out
}

// tombstones returns the group/partition keys of the offset tombstones in a
// partition of st, in log order.
func tombstones(t *testing.T, st *memStorage, part int32) []string {
	t.Helper()
	st.mu.Lock()
	b := append([]byte(nil), st.parts[part]...)
	st.mu.Unlock()
	var out []string
	for len(b) > 0 {
		h, err := blog.ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.IsControl() {
			b = b[h.Size():]
			continue
		}
		recs, n, err := DecodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
		for _, r := range recs {
			d, ok, err := decodeKey(r.Key)
			if err != nil || !ok {
				t.Fatalf("undecodable key: %v", err)
			}
			if r.Value == nil && d.offset != nil {
				out = append(out, fmt.Sprintf("%s:%s/%d", d.group, d.offset.Topic, d.offset.Partition))
			}
		}
	}
	return out
}

// mark writes a transaction marker to the log and completes the producer's
// commits in c, as the transaction coordinator does.
func mark(st *memStorage, c *Coordinator, part int32, pid int64, commit bool) {
	typ := blog.ControlAbort
	if commit {
		typ = blog.ControlCommit
	}
	st.mu.Lock()
	st.parts[part] = append(st.parts[part], blog.EncodeControlBatch(pid, 0, typ, 0, 1)...)
	st.mu.Unlock()
	c.CompleteTxnOffsets(pid, part, commit)
}

func commitPlain(t *testing.T, c *Coordinator, group string, offs map[TopicPartition]int64) {
	t.Helper()
	var cs []CommitOffset
	for tp, o := range offs {
		cs = append(cs, CommitOffset{TopicPartition: tp, Offset: o, LeaderEpoch: -1, ExpireTimestamp: -1})
	}
	for _, err := range c.CommitOffsets(group, CommitRequest{Generation: -1}, cs, kerr.GroupIDNotFound) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func commitTxn(t *testing.T, c *Coordinator, group string, pid int64, offs map[TopicPartition]int64) {
	t.Helper()
	var cs []CommitOffset
	for tp, o := range offs {
		cs = append(cs, CommitOffset{TopicPartition: tp, Offset: o, LeaderEpoch: -1, ExpireTimestamp: -1})
	}
	for _, err := range c.CommitTxnOffsets(group, pid, 0, CommitRequest{Generation: -1}, cs) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func sameOffsets(t *testing.T, what string, got, want map[TopicPartition]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: offsets %v, want %v", what, got, want)
	}
	for tp, o := range want {
		if g, ok := got[tp]; !ok || g != o {
			t.Fatalf("%s: offsets %v, want %v", what, got, want)
		}
	}
}

// TestDeletedTopicOffsetsRemoved: deleting a topic removes every group's
// committed offsets of it, plain and transactional (committed before the
// deletion, or pending and committed after it), tombstones them, leaves
// other topics alone, and a reload from the log keeps them gone.
func TestDeletedTopicOffsetsRemoved(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	gone := func(p int32) TopicPartition { return TopicPartition{Topic: "gone", Partition: p} }
	kept := func(p int32) TopicPartition { return TopicPartition{Topic: "kept", Partition: p} }
	g, h := "g", "other-group"
	gp, hp := c.PartitionFor(g), c.PartitionFor(h)

	commitPlain(t, c, g, map[TopicPartition]int64{gone(0): 100, gone(1): 110, kept(0): 5})
	commitPlain(t, c, h, map[TopicPartition]int64{gone(0): 200})
	commitTxn(t, c, g, 8, map[TopicPartition]int64{gone(3): 300}) // committed before the deletion
	mark(st, c, gp, 8, true)
	commitTxn(t, c, g, 7, map[TopicPartition]int64{gone(2): 120, kept(1): 6}) // committed after it
	commitTxn(t, c, g, 9, map[TopicPartition]int64{gone(4): 400})             // never marked
	commitTxn(t, c, h, 7, map[TopicPartition]int64{gone(1): 210})             // same producer, other group

	if err := c.OnTopicsDeleted([]string{"gone"}); err != nil {
		t.Fatal(err)
	}
	if c.HasPendingTxnOffsets(g, []TopicPartition{gone(2), gone(4)}) || c.HasPendingTxnOffsets(h, nil) {
		t.Fatal("pending transactional commits of the deleted topic survived")
	}
	if !c.HasPendingTxnOffsets(g, []TopicPartition{kept(1)}) {
		t.Fatal("the pending commit of another topic was dropped")
	}
	mark(st, c, gp, 7, true)
	if hp != gp {
		mark(st, c, hp, 7, true)
	}

	wantG := map[TopicPartition]int64{kept(0): 5, kept(1): 6}
	sameOffsets(t, "group g", offsetsOf(t, c, g), wantG)
	sameOffsets(t, "group h", offsetsOf(t, c, h), nil)

	wantTomb := map[int32][]string{}
	wantTomb[gp] = append(wantTomb[gp], "g:gone/0", "g:gone/1", "g:gone/2", "g:gone/3", "g:gone/4")
	wantTomb[hp] = append(wantTomb[hp], "other-group:gone/0", "other-group:gone/1")
	for p, want := range wantTomb {
		got := tombstones(t, st, p)
		sort.Strings(got)
		sort.Strings(want)
		if len(got) != len(want) {
			t.Fatalf("partition %d tombstones %v, want %v", p, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("partition %d tombstones %v, want %v", p, got, want)
			}
		}
	}

	// A restart reads the log back: the tombstones keep the offsets gone,
	// and the later commit marker of producer 7 does not resurrect gone/2.
	c.Close()
	c2 := testCoordinator(t, st, true)
	sameOffsets(t, "group g after reload", offsetsOf(t, c2, g), wantG)
	sameOffsets(t, "group h after reload", offsetsOf(t, c2, h), nil)
	if c2.HasPendingTxnOffsets(g, nil) {
		t.Fatal("producer 9's commit of the deleted topic is pending again after reload")
	}
}

// gatedStorage holds Replay until gate is closed, to act while a
// partition loads.
type gatedStorage struct {
	*memStorage
	gate chan struct{}
}

func (s *gatedStorage) Replay(p int32, fn func([]byte) error) error {
	<-s.gate
	return s.memStorage.Replay(p, fn)
}

// TestTopicDeletedWhileLoading: a topic deleted while the coordinator still
// reads __consumer_offsets back loses its offsets when the load ends.
func TestTopicDeletedWhileLoading(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	tp := TopicPartition{Topic: "gone", Partition: 0}
	commitPlain(t, c, "g", map[TopicPartition]int64{tp: 100, {Topic: "kept"}: 1})
	c.Close()

	gs := &gatedStorage{memStorage: st, gate: make(chan struct{})}
	c2 := testCoordinator(t, gs, true)
	if _, err := c2.FetchOffsets("g", nil); err != kerr.CoordinatorLoadInProgress {
		t.Fatalf("fetch while loading: %v", err)
	}
	if err := c2.OnTopicsDeleted([]string{"gone"}); err != nil {
		t.Fatal(err)
	}
	close(gs.gate)
	sameOffsets(t, "after load", offsetsOf(t, c2, "g"), map[TopicPartition]int64{{Topic: "kept"}: 1})
	if got := tombstones(t, st, c2.PartitionFor("g")); len(got) != 1 || got[0] != "g:gone/0" {
		t.Fatalf("tombstones %v", got)
	}
}

// TestTopicDeletedWriteFails: the error names the group whose tombstones
// were not written.
func TestTopicDeletedWriteFails(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	commitPlain(t, c, "g", map[TopicPartition]int64{{Topic: "gone"}: 1})
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	err := c.OnTopicsDeleted([]string{"gone"})
	if err == nil || !strings.Contains(err.Error(), `group "g"`) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("want the group's storage error, got %v", err)
	}
}

// TestTombstoneClearsPendingCommit: the state machine's other tombstones
// (OffsetDelete, DeleteGroups) also drop the pending transactional commits
// of their partitions, as the loader does when it replays them, and a
// partition with a pending commit does not expire.
func TestTombstoneClearsPendingCommit(t *testing.T) {
	cfg := DefaultConfig()
	tp := TopicPartition{Topic: "t"}
	o := Offset{Offset: 1, LeaderEpoch: -1, ExpireTimestamp: -1}
	cases := []struct {
		name    string
		act     func(g *Group) Output
		pending bool // still pending afterwards
	}{
		{"OffsetDelete", func(g *Group) Output { _, _, out := g.DeleteOffsets([]TopicPartition{tp}); return out }, false},
		{"DeleteGroups", func(g *Group) Output { _, out := g.Delete(0); return out }, false},
		{"RemoveTopicOffsets", func(g *Group) Output { return g.RemoveTopicOffsets(map[string]bool{"t": true}) }, false},
		{"ExpireOffsets", func(g *Group) Output { return g.ExpireOffsets(1<<40, 1) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGroup(&cfg, "g", 0)
			g.ApplyCommit([]CommitOffset{{TopicPartition: tp}}, []Offset{o})
			g.StageTxnOffsets(7, []CommitOffset{{TopicPartition: tp}}, []Offset{o})
			out := tc.act(g)
			if g.HasPendingTxn(nil) != tc.pending {
				t.Fatalf("pending afterwards = %v, want %v", !tc.pending, tc.pending)
			}
			_, committed := g.CommittedOffset(tp)
			if tc.pending {
				if !committed || len(out.Records) != 0 || g.State() == Dead {
					t.Fatalf("a partition with a pending commit expired: %+v, %v", out.Records, g.State())
				}
				return
			}
			if committed || len(out.Records) == 0 || out.Records[0].Value != nil {
				t.Fatalf("offsets not tombstoned: %+v", out.Records)
			}
			g.CompleteTxn(7, true)
			if _, ok := g.CommittedOffset(tp); ok {
				t.Fatal("the commit marker brought the removed offset back")
			}
		})
	}
}
