package broker

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregorhq/gregor/broker/group"
	"github.com/gregorhq/gregor/broker/meta"
)

// groupsNode is node 3 of newMetaNode leading the single partition of
// __consumer_offsets (replicas 3, 1, 2; ISR 3 alone, so its writes are
// committed at once) with a group coordinator over it.
func groupsNode(t *testing.T) (*metaNode, *partition, *group.Coordinator, uuid.UUID) {
	n := newMetaNode(t, 3)
	n.b.cfg.Properties = map[string]string{"offsets.topic.num.partitions": "1"}
	id := uuid.New()
	n.apply(meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{Name: offsetsTopic, ID: id, Partitions: 1, Internal: true,
		Assignments: []meta.PartitionState{{Replicas: []int32{3, 1, 2}, ISR: []int32{3}, Leader: 3}}}})
	p := n.b.topics[offsetsTopic].allPartitions()[0]
	if !p.leading.Load() {
		t.Fatal("node 3 does not lead __consumer_offsets-0")
	}
	gcfg, err := groupConfig(n.b.cfg, n.b)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := group.NewCoordinator(gcfg, &offsetsStore{b: n.b})
	if err != nil {
		t.Fatal(err)
	}
	n.b.groups.Store(gc)
	gc.Start(1, true)
	t.Cleanup(func() {
		close(n.b.closing)
		n.b.wg.Wait()
		gc.Close()
	})
	return n, p, gc, id
}

// committedOffset polls the coordinator until it answers for group g
// (loading takes a moment) and returns partition 0 of topic "t"'s
// committed offset, -1 for none.
func committedOffset(t *testing.T, gc *group.Coordinator, g string) int64 {
	t.Helper()
	tp := group.TopicPartition{Topic: "t", Partition: 0}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, kErr := gc.FetchOffsets(g, []group.TopicPartition{tp})
		switch {
		case kErr == nil && len(out) == 1:
			if !out[0].Found {
				return -1
			}
			return out[0].Offset.Offset
		case kErr != kerr.CoordinatorLoadInProgress:
			t.Fatalf("fetch offsets: %v", kErr)
		case time.Now().After(deadline):
			t.Fatal("the coordinator is still loading after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// commit commits offset o of partition 0 of topic "t" for group g.
func commit(t *testing.T, gc *group.Coordinator, g string, o int64) {
	t.Helper()
	offs := []group.CommitOffset{{TopicPartition: group.TopicPartition{Topic: "t", Partition: 0}, Offset: o, LeaderEpoch: -1, ExpireTimestamp: -1}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		errs := gc.CommitOffsets(g, group.CommitRequest{Generation: -1}, offs, kerr.IllegalGeneration)
		switch {
		case errs[0] == nil:
			return
		case errs[0] != kerr.CoordinatorLoadInProgress:
			t.Fatalf("commit %d: %v", o, errs[0])
		case time.Now().After(deadline):
			t.Fatal("the coordinator is still loading after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupsReloadedWhenLeadershipReturnsInNewEpoch: node 3 leads
// __consumer_offsets-0 in epoch 0 and has its groups in memory; it then
// loses the partition (node 1 leads epoch 1) and gets it back (epoch 2)
// with both changes applied at once, as a node that was cut off applies
// what it missed. Its log is not what it was in epoch 0 (it followed and
// was truncated: here the commit of 9 it had written is gone). The group
// coordinator must read the partition back, as on any election (Kafka's
// onResignation then onElection), rather than keep serving the epoch-0
// groups it had: an OffsetFetch would answer offsets the log does not
// hold, or miss the ones the leaders in between acknowledged.
func TestGroupsReloadedWhenLeadershipReturnsInNewEpoch(t *testing.T) {
	n, p, gc, id := groupsNode(t)
	commit(t, gc, "g", 5)
	end := p.log.LogEndOffset()
	commit(t, gc, "g", 9)
	if got := committedOffset(t, gc, "g"); got != 9 {
		t.Fatalf("committed offset %d, want 9", got)
	}

	// Node 1 leads epoch 1, node 3 follows and truncates to where node
	// 1's log ends (after the commit of 5), then leads again in epoch 2;
	// node 3 applies both changes at once.
	mt, _ := n.b.meta.Topic(offsetsTopic)
	pe := mt.Assignments[0].PartitionEpoch
	n.b.mu.Lock()
	n.index++
	err := n.b.meta.ApplyAt(n.index, meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{Topic: id, Partition: 0, ExpectEpoch: pe,
		State: meta.PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{1, 3}, Leader: 1}}})
	if err == nil {
		mt, _ = n.b.meta.Topic(offsetsTopic)
		n.index++
		err = n.b.meta.ApplyAt(n.index, meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{Topic: id, Partition: 0,
			ExpectEpoch: mt.Assignments[0].PartitionEpoch, State: meta.PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{3}, Leader: 3}}})
	}
	if err == nil {
		err = p.log.TruncateTo(end) // what following node 1 did to node 3's log
	}
	if err == nil {
		_, err = n.b.reconcileAllLocked()
	}
	n.b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if !p.leading.Load() || p.leaderEpoch.Load() != 2 {
		t.Fatalf("node 3 does not lead in epoch 2: leading %v, epoch %d", p.leading.Load(), p.leaderEpoch.Load())
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		got := committedOffset(t, gc, "g")
		if got == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after leading again in epoch 2 the coordinator answers committed offset %d; its log holds 5", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And it still takes commits in the new epoch.
	commit(t, gc, "g", 7)
	if got := committedOffset(t, gc, "g"); got != 7 {
		t.Fatalf("committed offset %d after committing 7 in epoch 2", got)
	}
}
