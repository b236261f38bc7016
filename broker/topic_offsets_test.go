package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// rawTxn is a transactional producer driven by hand, to commit offsets in a
// transaction (TxnOffsetCommit) without producing anything.
type rawTxn struct {
	cl    *kgo.Client
	id    string
	pid   int64
	epoch int16
}

func initRawTxn(t *testing.T, ctx context.Context, cl *kgo.Client, id string) *rawTxn {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("InitProducerID %s: %v", id, err)
	}
	return &rawTxn{cl: cl, id: id, pid: resp.ProducerID, epoch: resp.ProducerEpoch}
}

// commitOffsets adds group to the transaction and commits offsets (topic
// -> partition -> offset) in it.
func (x *rawTxn) commitOffsets(t *testing.T, ctx context.Context, group string, offs map[string]map[int32]int64) {
	t.Helper()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = x.id, x.pid, x.epoch, group
	addResp, err := add.RequestWith(ctx, x.cl)
	if err == nil {
		err = kerr.ErrorForCode(addResp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("AddOffsetsToTxn: %v", err)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = x.id, group, x.pid, x.epoch, -1
	for topic, ps := range offs {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for p, o := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, x.cl)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("TxnOffsetCommit %s/%d: %v", rt.Topic, rp.Partition, err)
			}
		}
	}
}

func (x *rawTxn) end(t *testing.T, ctx context.Context, commit bool) {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, x.pid, x.epoch, commit
	resp, err := req.RequestWith(ctx, x.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
}

// committedOffsets returns a group's committed offsets, topic -> partition
// -> offset, as OffsetFetch answers them with require_stable (so no
// transactional commit is still on its way).
func committedOffsets(t *testing.T, ctx context.Context, cl *kgo.Client, group string) map[string]map[int32]int64 {
	t.Helper()
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group, req.RequireStable = group, true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("OffsetFetch %s: %v", group, err)
		}
		ferr := kerr.ErrorForCode(resp.ErrorCode)
		if ferr == nil {
			out := map[string]map[int32]int64{}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode == kerr.UnstableOffsetCommit.Code {
						ferr = kerr.UnstableOffsetCommit
					}
					if out[rt.Topic] == nil {
						out[rt.Topic] = map[int32]int64{}
					}
					out[rt.Topic][rp.Partition] = rp.Offset
				}
			}
			if ferr == nil {
				return out
			}
		}
		if !kerr.IsRetriable(ferr) && ferr != kerr.UnstableOffsetCommit {
			t.Fatalf("OffsetFetch %s: %v", group, ferr)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("OffsetFetch %s: %v (%v)", group, ferr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sameOffsets reports whether two committed-offset maps are equal.
func sameOffsets(got, want map[string]map[int32]int64) bool {
	n, m := 0, 0
	for topic, ps := range want {
		for p, o := range ps {
			n++
			if g, ok := got[topic][p]; !ok || g != o {
				return false
			}
		}
	}
	for _, ps := range got {
		m += len(ps)
	}
	return m == n
}

func wantOffsets(t *testing.T, what string, got, want map[string]map[int32]int64) {
	t.Helper()
	n := 0
	for topic, ps := range want {
		for p, o := range ps {
			n++
			if g, ok := got[topic][p]; !ok || g != o {
				t.Fatalf("%s: committed %v, want %v", what, got, want)
			}
		}
	}
	m := 0
	for _, ps := range got {
		m += len(ps)
	}
	if m != n {
		t.Fatalf("%s: committed %v, want %v", what, got, want)
	}
}

// TestDeletedTopicLosesCommittedOffsets follows issue 27: a consumer group,
// a group committing with plain OffsetCommit and one committing in
// transactions (one transaction ended before the deletion, one after) all
// have offsets on a topic that is deleted; none of them survive, through a
// broker restart, and the topic created again under the same name is
// consumed from the start. Other topics' offsets stay.
func TestDeletedTopicLosesCommittedOffsets(t *testing.T) {
	b := brokertest.Start(t,
		brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"),
		brokertest.WithProperty("group.min.session.timeout.ms", "100"),
		brokertest.WithProperty("offsets.topic.num.partitions", "5"),
		brokertest.WithDurableFlush(),
	)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "in", 3, nil)
	mustCreate(t, ctx, adm, "other", 1, nil)
	produceN(t, ctx, b.Addr(), "in", "old", 3, 30)

	// A consumer group reads everything and commits, then stops.
	m := startGroupMember(t, ctx, b.Addr(), "consumers", "in")
	waitConsumed(t, ctx, 30, m)
	checkCommittedEnd(t, ctx, adm, "consumers", "in")
	m.close()

	// Plain commits on both topics.
	os := kadm.Offsets{}
	for p := range int32(3) {
		os.Add(kadm.Offset{Topic: "in", Partition: p, At: 10, LeaderEpoch: -1})
	}
	os.Add(kadm.Offset{Topic: "other", Partition: 0, At: 4, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "plain", os); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}

	// Transactional commits: one transaction ends before the deletion,
	// the other (also committing to "other") only after it.
	before := initRawTxn(t, ctx, cl, "tx-before")
	before.commitOffsets(t, ctx, "txg", map[string]map[int32]int64{"in": {0: 7}})
	before.end(t, ctx, true)
	after := initRawTxn(t, ctx, cl, "tx-after")
	after.commitOffsets(t, ctx, "txg", map[string]map[int32]int64{"in": {1: 8, 2: 9}, "other": {0: 3}})

	if r, err := adm.DeleteTopics(ctx, "in"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	after.end(t, ctx, true)

	want := map[string]map[string]map[int32]int64{
		"consumers": {},
		"plain":     {"other": {0: 4}},
		"txg":       {"other": {0: 3}},
	}
	check := func(when string) {
		t.Helper()
		for g, w := range want {
			// A transaction's offsets become committed when its marker
			// lands, which the coordinator writes after EndTxn answers (as
			// Kafka's does): give it a moment.
			got := committedOffsets(t, ctx, cl, g)
			for i := 0; i < 100 && !sameOffsets(got, w); i++ {
				time.Sleep(50 * time.Millisecond)
				got = committedOffsets(t, ctx, cl, g)
			}
			wantOffsets(t, when+": group "+g, got, w)
		}
	}
	check("after delete")
	b.Restart()
	check("after restart")

	// The topic comes back with new records; the group reads all of them.
	mustCreate(t, ctx, adm, "in", 3, nil)
	check("after re-create")
	// More records per partition than the old committed offsets (10), so
	// stale offsets would skip some instead of being out of range.
	produceN(t, ctx, b.Addr(), "in", "new", 3, 45)
	m2 := startGroupMember(t, ctx, b.Addr(), "consumers", "in")
	defer m2.close()
	waitConsumed(t, ctx, 45, m2)
}
