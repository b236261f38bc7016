package broker

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// TestListOffsetsLatestWhileNewLeaderLags: node 3 becomes leader again in
// a new epoch holding two records its followers have not yet confirmed.
// Until they fetch past them, its high watermark (0) is below the end it
// took over (2), and "latest" must be OFFSET_NOT_AVAILABLE, not 0: a
// client would otherwise see the end offset go back below records the
// previous leader acknowledged. Timestamp lookups that find nothing below
// the high watermark answer the same; "earliest" is unaffected.
func TestListOffsetsLatestWhileNewLeaderLags(t *testing.T) {
	n := newMetaNode(t, 3)
	id := uuid.New()
	n.apply(meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{Name: "t", ID: id, Partitions: 1,
		Assignments: []meta.PartitionState{meta.NewPartitionState([]int32{3, 1, 2})}}})
	p := n.b.topics["t"].allPartitions()[0]
	for _, v := range []string{"a", "b"} {
		if _, _, err := n.b.appendLocal(p, ackTestBatch(v)); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	list := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		sp := kmsg.NewListOffsetsResponseTopicPartition()
		sp.Offset = -1
		n.b.listOffset(p, ts, false, &sp)
		return sp
	}
	// First term: it started at offset 0, so a high watermark of 0 is
	// simply the truth.
	if sp := list(-1); sp.ErrorCode != 0 || sp.Offset != 0 {
		t.Fatalf("latest in the first term: offset %d, %v", sp.Offset, kerr.ErrorForCode(sp.ErrorCode))
	}
	move := func(leader int32) {
		p.rep.mu.Lock()
		pe := p.rep.partEpoch
		p.rep.mu.Unlock()
		n.apply(meta.Record{Type: meta.RecordPartitionChange, Partition: &meta.PartitionChange{Topic: id, Partition: 0, ExpectEpoch: pe,
			State: meta.PartitionState{Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1, 2}, Leader: leader}}})
	}
	move(1)
	move(3)
	if !p.leading.Load() {
		t.Fatal("node 3 does not lead again")
	}
	for _, ts := range []int64{-1, time.Now().Add(-time.Hour).UnixMilli()} {
		if sp := list(ts); sp.ErrorCode != kerr.OffsetNotAvailable.Code {
			t.Errorf("timestamp %d while the high watermark lags: offset %d, %v; want OFFSET_NOT_AVAILABLE", ts, sp.Offset, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	if sp := list(-2); sp.ErrorCode != 0 || sp.Offset != 0 {
		t.Errorf("earliest while lagging: offset %d, %v", sp.Offset, kerr.ErrorForCode(sp.ErrorCode))
	}
	// The followers confirm both records: the high watermark reaches the
	// end the term started at, and "latest" answers it.
	now := time.Now()
	p.followerFetched(1, 2, now)
	p.followerFetched(2, 2, now)
	if sp := list(-1); sp.ErrorCode != 0 || sp.Offset != 2 {
		t.Errorf("latest once caught up: offset %d, %v; want 2", sp.Offset, kerr.ErrorForCode(sp.ErrorCode))
	}
}
