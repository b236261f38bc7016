package broker

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
)

// TestFollowerDropsEmptyEpoch is the follower's side of a leader elected
// and gone before it appended anything: node 3 copied offsets 0-4 (epoch
// 0), was elected in epoch 1 (its cache says epoch 1 starts at 5), lost
// leadership at once, and node 2 leads epoch 2 from offset 5. Node 3 then
// fetches from 5 with LastFetchedEpoch 1, which node 2 never saw; node 2
// answers that its epoch 0 ends at 5. Node 3 has every record below 5, but
// it must drop epoch 1 from its cache, or it fetches with epoch 1 again and
// gets the same answer for ever (the controller-kill nemesis test found a
// replica stuck out of the ISR that way). It converges within two fetches
// and then takes node 2's records.
func TestFollowerDropsEmptyEpoch(t *testing.T) {
	open := func() *blog.Log {
		l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	leader, follower := open(), open()
	appendAt := func(l *blog.Log, epoch int32, values ...string) {
		t.Helper()
		if err := l.AssignLeaderEpoch(epoch, l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if _, err := l.Append(ackTestBatch(v), blog.AppendOptions{LeaderEpoch: epoch}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendAt(leader, 0, "a", "b", "c", "d", "e")
	copied, err := leader.Read(0, 1<<20, leader.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendAsFollower(copied); err != nil {
		t.Fatal(err)
	}
	if err := follower.AssignLeaderEpoch(1, follower.LogEndOffset()); err != nil { // elected, then gone
		t.Fatal(err)
	}
	appendAt(leader, 2, "f", "g")

	tp := &topic{name: "t"}
	tp.settings.Store(&topicSettings{values: map[string]string{}})
	p, err := newPartition(tp, 0, follower)
	if err != nil {
		t.Fatal(err)
	}
	f := &replicaFetcher{b: &Broker{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, leader: 2}
	fetches := 0
	for ; ; fetches++ {
		if fetches == 3 {
			t.Fatalf("still diverged after %d fetches: follower epochs %v, leader's %v", fetches, follower.Epochs(), leader.Epochs())
		}
		d := leader.DivergingEpoch(follower.LogEndOffset(), follower.LeaderEpoch())
		if d.Unknown {
			t.Fatalf("the leader cannot place epoch %d", follower.LeaderEpoch())
		}
		if !d.Diverged {
			break
		}
		div := kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: d.Epoch, EndOffset: d.EndOffset}
		if err := f.truncate(p, div); err != nil {
			t.Fatal(err)
		}
	}
	if end := follower.LogEndOffset(); end != 5 {
		t.Fatalf("follower's log end %d after the divergence, want 5 (it had every record)", end)
	}
	rest, err := leader.Read(5, 1<<20, leader.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendAsFollower(rest); err != nil {
		t.Fatal(err)
	}
	if want := leader.Epochs(); !slices.Equal(follower.Epochs(), want) || follower.LogEndOffset() != leader.LogEndOffset() {
		t.Errorf("follower epochs %v, end %d; leader's %v, %d", follower.Epochs(), follower.LogEndOffset(), want, leader.LogEndOffset())
	}
	t.Logf("converged after %d diverged fetch(es)", fetches)
}

// TestFollowerIgnoresOldLeader: a fetch answered by a leader the metadata
// has since replaced is dropped, records and high watermark alike; the
// follower copies only from the partition's current leader.
func TestFollowerIgnoresOldLeader(t *testing.T) {
	l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tp := &topic{name: "t"}
	tp.settings.Store(&topicSettings{values: map[string]string{}})
	p, err := newPartition(tp, 0, l)
	if err != nil {
		t.Fatal(err)
	}
	ps := meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}
	tp.placement.Store(&[]meta.PartitionState{ps})
	if err := p.follow(ps, 3, true); err != nil { // node 3 follows node 2
		t.Fatal(err)
	}
	batch := ackTestBatch("from node 1, which led epoch 0")
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.HighWatermark, sp.RecordBatches = 1, batch
	old := &replicaFetcher{b: &Broker{cfg: Config{NodeID: 3}}, leader: 1}
	if err := old.apply(p, 0, sp); err != nil { // made when node 1 led epoch 0
		t.Fatal(err)
	}
	if end, hw := l.LogEndOffset(), p.highWatermark(); end != 0 || hw != 0 {
		t.Fatalf("after node 1's answer: log end %d, high watermark %d; want nothing taken", end, hw)
	}
	cur := &replicaFetcher{b: &Broker{cfg: Config{NodeID: 3}}, leader: 2}
	if err := cur.apply(p, 1, sp); err != nil {
		t.Fatal(err)
	}
	if end, hw := l.LogEndOffset(), p.highWatermark(); end != 1 || hw != 1 {
		t.Fatalf("after node 2's answer: log end %d, high watermark %d; want 1, 1", end, hw)
	}
}
