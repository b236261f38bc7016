package broker

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
)

// zombieBatch is one record as a deposed leader appended it in leader
// epoch epoch at offset 0: what it answers a follower's fetch with.
func zombieBatch(epoch int32) kmsg.FetchResponseTopicPartition {
	batch := ackTestBatch("appended by a leader woken from a pause")
	binary.BigEndian.PutUint32(batch[12:], uint32(epoch)) // partitionLeaderEpoch, outside the CRC
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.HighWatermark, sp.LogStartOffset, sp.RecordBatches = 0, 0, batch
	return sp
}

// metaNode is node self of a three-node cluster as far as applying
// metadata goes: records are applied and reconciled as applyMetadata does,
// without a quorum, a controller or listeners.
type metaNode struct {
	t     *testing.T
	b     *Broker
	index uint64
}

func newMetaNode(t *testing.T, self int32) *metaNode {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	logs, err := blog.OpenManager(t.TempDir(), blog.Options{Logger: logger, CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: self}
	b := &Broker{cfg: cfg, logger: logger, topics: map[string]*topic{}, byID: map[uuid.UUID]*topic{},
		meta: meta.NewState(), logs: logs, incarnation: uuid.New(), quotas: newQuotaManager(cfg),
		closing: make(chan struct{}), strayChecked: true,
		dirHealth: newLogDirHealth(logs.Dir(), logger, func() (blog.DiskSpace, error) { return blog.DiskSpace{}, blog.ErrSpaceUnknown })}
	b.fetchers = &replicaFetchers{b: b, byLeader: map[int32]*replicaFetcher{}}
	t.Cleanup(func() {
		b.fetchers.close()
		logs.Close()
	})
	n := &metaNode{t: t, b: b}
	for _, id := range []int32{1, 2, 3} {
		inc := uuid.New()
		if id == self {
			inc = b.incarnation
		}
		n.apply(meta.Record{Type: meta.RecordRegisterBroker, Broker: &meta.BrokerRegistration{ID: id, Incarnation: inc}})
		n.apply(meta.Record{Type: meta.RecordUnfenceBroker, BrokerID: id})
	}
	return n
}

// apply applies rec and reconciles this node with it.
func (n *metaNode) apply(rec meta.Record) {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	n.index++
	if err := n.b.meta.ApplyAt(n.index, rec); err != nil {
		n.t.Errorf("apply %s: %v", rec.Type, err)
		return
	}
	if _, err := n.b.reconcileAllLocked(); err != nil {
		n.t.Errorf("reconcile after %s: %v", rec.Type, err)
	}
}

// TestElectedFollowerDropsZombieFetch is the paused-leader race (the
// flake of TestChaosReplicationPausedLeader): node 1 leads partitions 0
// and 1, node 3 follows it. Node 1 stops (SIGSTOP) past its session; the
// controller fences it and elects node 3 for both partitions (epoch 1).
// Node 3 applies the record and reconciles partition 0 (becoming its
// leader writes a leader-epoch file, slow under load: here the fetcher
// hand-over is held up) while partition 1 still waits; meanwhile node 1
// wakes, appends a produce that queued while it was stopped, and answers a
// fetch node 3 made for epoch 0 with it. Node 3 must drop that answer: it
// has applied the metadata that deposed node 1, and once it leads
// partition 1 it would start epoch 1 after the record and keep it, a write
// the new leader never took and the producer was never acknowledged.
func TestElectedFollowerDropsZombieFetch(t *testing.T) {
	n := newMetaNode(t, 3)
	id := uuid.New()
	n.apply(meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{Name: "side", ID: id, Partitions: 2,
		Assignments: []meta.PartitionState{meta.NewPartitionState([]int32{1, 3, 2}), meta.NewPartitionState([]int32{1, 3, 2})}}})
	tp := n.b.topics["side"]
	p0, p1 := tp.allPartitions()[0], tp.allPartitions()[1]
	if p1.leading.Load() || p1.rep.leader != 1 {
		t.Fatalf("node 3 should follow node 1 on partition 1: leading %v, leader %d", p1.leading.Load(), p1.rep.leader)
	}
	zombie := &replicaFetcher{b: n.b, leader: 1}
	rp, ok := zombie.position(p1) // the fetch node 3 sent before node 1 stopped
	if !ok {
		t.Fatal("node 3 does not fetch partition 1 from node 1")
	}

	// Node 3 applies node 1's fencing; its reconcile stalls after
	// partition 0 (the fetchers' lock, which handing partition 0 over
	// takes, is held here).
	n.b.fetchers.mu.Lock()
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		n.apply(meta.Record{Type: meta.RecordFenceBroker, BrokerID: 1})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !p0.leading.Load() {
		if time.Now().After(deadline) {
			n.b.fetchers.mu.Unlock()
			t.Fatal("node 3 never took up leadership of partition 0")
		}
		time.Sleep(time.Millisecond)
	}
	if p1.leading.Load() {
		t.Fatal("partition 1 reconciled already: the race is not set up")
	}
	// Node 1 wakes and answers the fetch with the write that queued.
	err := zombie.apply(p1, rp.CurrentLeaderEpoch, zombieBatch(rp.CurrentLeaderEpoch))
	n.b.fetchers.mu.Unlock()
	<-applied
	if err != nil {
		t.Fatal(err)
	}
	if !p1.leading.Load() || p1.leaderEpoch.Load() != 1 {
		t.Fatalf("node 3 does not lead partition 1 in epoch 1: leading %v, epoch %d", p1.leading.Load(), p1.leaderEpoch.Load())
	}
	if end := p1.log.LogEndOffset(); end != 0 {
		t.Errorf("node 3 leads partition 1 with %d record(s) the deposed leader appended after it was fenced; epochs %v", end, p1.log.Epochs())
	}
}

// TestFollowerDropsAnswerOfEarlierEpoch: a fetch made while node 1 led
// epoch 0 is answered after node 2 led epoch 1 and node 1 leads again in
// epoch 2. The leader is the same but the epoch is not: node 1 may have
// truncated what it answered with (it followed node 2 meanwhile), so the
// answer is dropped; one to a fetch made in epoch 2 is taken.
func TestFollowerDropsAnswerOfEarlierEpoch(t *testing.T) {
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
	f := &replicaFetcher{b: &Broker{cfg: Config{NodeID: 3}}, leader: 1}
	state := func(leader, epoch int32) {
		t.Helper()
		ps := meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: leader, LeaderEpoch: epoch, PartitionEpoch: epoch}
		tp.placement.Store(&[]meta.PartitionState{ps})
		if err := p.follow(ps, 3, true); err != nil {
			t.Fatal(err)
		}
	}
	state(1, 0)
	rp, ok := f.position(p)
	if !ok || rp.CurrentLeaderEpoch != 0 {
		t.Fatalf("fetch position %v, %v; want one in epoch 0", rp, ok)
	}
	state(2, 1)
	if _, ok := f.position(p); ok {
		t.Error("node 3 would fetch from node 1 while node 2 leads")
	}
	state(1, 2)
	if err := f.apply(p, 0, zombieBatch(0)); err != nil {
		t.Fatal(err)
	}
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("took an answer to a fetch of epoch 0 in epoch 2: log end %d", end)
	}
	rp, ok = f.position(p)
	if !ok || rp.CurrentLeaderEpoch != 2 {
		t.Fatalf("fetch position %v, %v; want one in epoch 2", rp, ok)
	}
	if err := f.apply(p, 2, zombieBatch(2)); err != nil {
		t.Fatal(err)
	}
	if end := l.LogEndOffset(); end != 1 {
		t.Fatalf("log end %d after the answer in epoch 2, want 1", end)
	}
}

// TestProduceRefusedAfterLeadershipMoved: a produce handler found node 3
// leading and read the leader epoch to stamp the batch with, then the
// metadata made node 1 the leader before the append (a node woken from a
// pause applies the records that deposed it while the requests that
// queued meanwhile are handled). The append is refused with
// NOT_LEADER_OR_FOLLOWER, as Kafka appends to a leader only under the
// lock that leadership changes take; appended, the batch would sit in a
// follower's log among records copied from the new leader.
func TestProduceRefusedAfterLeadershipMoved(t *testing.T) {
	n := newMetaNode(t, 3)
	id := uuid.New()
	n.apply(meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{Name: "t", ID: id, Partitions: 1,
		Assignments: []meta.PartitionState{meta.NewPartitionState([]int32{3, 1, 2})}}})
	p := n.b.topics["t"].allPartitions()[0]
	if !p.leading.Load() {
		t.Fatal("node 3 does not lead the partition")
	}
	epoch := p.log.LeaderEpoch() // as handleProduce reads it
	p.rep.mu.Lock()
	pe := p.rep.partEpoch
	p.rep.mu.Unlock()
	n.apply(meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{Topic: id, Partition: 0, ExpectEpoch: pe,
		State: meta.PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1, 2}, Leader: 1}}})
	if p.leading.Load() {
		t.Fatal("node 3 still leads after the change")
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	sp := kmsg.NewProduceResponseTopicPartition()
	_, kErr, msg := n.b.produceTo(p, epoch, ackTestBatch("queued while the leader was stopped"), 9, req, time.Now(), &sp, nil)
	if kErr != kerr.NotLeaderForPartition {
		t.Errorf("produce after leadership moved: %v (%s), want NOT_LEADER_OR_FOLLOWER", kErr, msg)
	}
	if end := p.log.LogEndOffset(); end != 0 {
		t.Errorf("a follower's log took a client's batch: log end %d", end)
	}
}
