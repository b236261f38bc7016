package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/coordtest"
)

// Transactions on three in-process nodes: the partitions of a
// transaction are led by different brokers, so the coordinator writes
// markers on other brokers with WriteTxnMarkers, and partition leaders
// verify transactional produce with a coordinator elsewhere.

func txnCluster(t *testing.T, opts ...brokertest.Option) *brokertest.Cluster {
	t.Helper()
	return brokertest.StartCluster(t, 3, append([]brokertest.Option{
		brokertest.WithProperty("transaction.state.log.num.partitions", "5"),
		brokertest.WithProperty("offsets.topic.num.partitions", "5"),
		brokertest.WithProperty("replica.lag.time.max.ms", "5000"),
		brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"),
	}, opts...)...)
}

// spreadTopic creates a topic of n partitions with replication factor 3
// and min.insync.replicas 2, and waits until every partition has its full
// ISR; it returns the leader of each partition. (min.insync.replicas is
// not set for the whole broker: __consumer_offsets still has one replica.)
func spreadTopic(t *testing.T, ctx context.Context, adm *kadm.Client, name string, n int32) []int32 {
	t.Helper()
	if res, err := adm.CreateTopic(ctx, n, 3, map[string]*string{"min.insync.replicas": str("2")}, name); err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res.Err)
	}
	var leaders []int32
	waitFor(t, name+" in sync", func() error {
		md, err := adm.Metadata(ctx, name)
		if err != nil {
			return err
		}
		leaders = leaders[:0]
		for i := range n {
			p, ok := md.Topics[name].Partitions[i]
			if !ok || p.Leader < 0 || len(p.ISR) != 3 {
				return fmt.Errorf("partition %d: %+v", i, p)
			}
			leaders = append(leaders, p.Leader)
		}
		return nil
	})
	return leaders
}

// readCommitted reads every record of topic visible under read_committed,
// once no transaction is left open, sorted.
func readCommitted(t *testing.T, ctx context.Context, seeds []string, topic string) []string {
	t.Helper()
	vals := readToEnd(t, ctx, seeds, topic, true)
	sort.Strings(vals)
	return vals
}

// TestTransactionsAcrossBrokers: one transaction spans partitions led by
// three brokers; commits and aborts are seen correctly under
// read_committed, and the transaction is described as complete.
func TestTransactionsAcrossBrokers(t *testing.T) {
	c := txnCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, adm := newAdmin(t, c.Seeds()[0], kgo.SeedBrokers(c.Seeds()...), freshMetadata())
	leaders := spreadTopic(t, ctx, adm, "xa", 3)
	if distinct := slices.Compact(slices.Sorted(slices.Values(leaders))); len(distinct) < 3 {
		t.Fatalf("partitions all led by one broker: %v", leaders)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.TransactionalID("xa-txn"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("xa"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var want []string
	for round, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			for i := range 3 {
				v := fmt.Sprintf("r%d-p%d-%d", round, p, i)
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("produce %s: %v", v, err)
				}
				if end == kgo.TryCommit {
					want = append(want, v)
				}
			}
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatalf("end round %d: %v", round, err)
		}
	}
	waitTxnComplete(t, ctx, cl)
	coord := adm.FindTxnCoordinators(ctx, "xa-txn")["xa-txn"]
	t.Logf("partition leaders %v, transaction coordinator %d", leaders, coord.NodeID)
	sort.Strings(want)
	if got := readCommitted(t, ctx, c.Seeds(), "xa"); !slices.Equal(got, want) {
		t.Fatalf("read_committed saw %d records %v,\nwant %d %v", len(got), got, len(want), want)
	}
	d, err := adm.DescribeTransactions(ctx, "xa-txn")
	if err != nil || d["xa-txn"].State != "CompleteCommit" {
		t.Fatalf("describe: %+v %v", d, err)
	}
}

// TestTxnOffsetCommitOnAnotherBroker: a consume-transform-produce session
// whose transaction coordinator and group coordinator are different
// brokers; offsets commit with the transaction and are dropped when it
// aborts.
func TestTxnOffsetCommitOnAnotherBroker(t *testing.T) {
	c := txnCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	plain, adm := newAdmin(t, c.Seeds()[0], kgo.RecordPartitioner(kgo.ManualPartitioner()), freshMetadata())
	spreadTopic(t, ctx, adm, "in", 3)
	spreadTopic(t, ctx, adm, "out", 3)
	groupName, txnID := pickCoordinators(t, ctx, adm)

	produceIn := func(from, n int) {
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Topic: "in", Partition: int32(i % 3), Value: fmt.Appendf(nil, "v%03d", i)}
			if err := plain.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.Seeds()...), kgo.TransactionalID(txnID),
		kgo.ConsumerGroup(groupName), kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("out"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// process consumes n records and produces them to out in one
	// transaction, ended with end.
	process := func(n int, end kgo.TransactionEndTry) {
		t.Helper()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		for seen := 0; seen < n; {
			fs := sess.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen++
				sess.Produce(ctx, &kgo.Record{Partition: r.Partition, Value: r.Value}, nil)
			})
		}
		committed, err := sess.End(ctx, end)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed != (end == kgo.TryCommit) {
			t.Fatalf("end %v: committed = %v", end, committed)
		}
	}
	committedOffsets := func() int64 {
		offs, err := adm.FetchOffsets(ctx, groupName)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	produceIn(0, 12)
	process(12, kgo.TryCommit)
	waitFor(t, "offsets committed with the transaction", func() error {
		if n := committedOffsets(); n != 12 {
			return fmt.Errorf("committed offsets sum to %d, want 12", n)
		}
		return nil
	})
	produceIn(12, 6)
	process(6, kgo.TryAbort)
	time.Sleep(time.Second) // the abort's markers land meanwhile
	if n := committedOffsets(); n != 12 {
		t.Fatalf("after an abort the committed offsets sum to %d, want 12", n)
	}
	process(6, kgo.TryCommit) // the session rewound to the committed offsets
	waitFor(t, "offsets after the retry", func() error {
		if n := committedOffsets(); n != 18 {
			return fmt.Errorf("committed offsets sum to %d, want 18", n)
		}
		return nil
	})
	var want []string
	for i := range 18 {
		want = append(want, fmt.Sprintf("v%03d", i))
	}
	if got := readCommitted(t, ctx, c.Seeds(), "out"); !slices.Equal(got, want) {
		t.Fatalf("out under read_committed: %v, want %v", got, want)
	}
}

// pickCoordinators returns a group and a transactional ID whose
// coordinators are different brokers.
func pickCoordinators(t *testing.T, ctx context.Context, adm *kadm.Client) (string, string) {
	t.Helper()
	var p coordtest.Pair
	waitFor(t, "a group and a transactional ID on different coordinators", func() (err error) {
		p, err = coordtest.Split(ctx, adm, "etl", 10)
		return err
	})
	t.Log(p)
	return p.Group, p.TxnID
}

// TestStaleCoordinatorFenced sends WriteTxnMarkers by hand: a marker from
// an older coordinator epoch than the producer's last one is refused, a
// partition led elsewhere is NOT_LEADER_OR_FOLLOWER, an unknown one
// UNKNOWN_TOPIC_OR_PARTITION.
func TestStaleCoordinatorFenced(t *testing.T) {
	c := txnCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], freshMetadata())
	leaders := spreadTopic(t, ctx, adm, "fence", 1)
	leader := leaders[0]
	other := leader%3 + 1
	send := func(to int32, topic string, coordEpoch int32, commit bool) int16 {
		t.Helper()
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 4242, 0, commit, coordEpoch
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = append(req.Markers, m)
		resp, err := req.RequestWith(ctx, cl.Broker(int(to)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := send(leader, "fence", 7, false); code != 0 {
		t.Fatalf("marker from coordinator epoch 7: %v", kerr.ErrorForCode(code))
	}
	if code := send(leader, "fence", 6, true); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("marker from stale coordinator epoch 6: %v, want TRANSACTION_COORDINATOR_FENCED", kerr.ErrorForCode(code))
	}
	if code := send(leader, "fence", 8, true); code != 0 {
		t.Fatalf("marker from a newer coordinator: %v", kerr.ErrorForCode(code))
	}
	if code := send(other, "fence", 9, true); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("marker to a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	if code := send(leader, "no-such-topic", 9, true); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("marker for an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"fence": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := dp.SortedProducers(); len(ps) != 1 || ps[0].ProducerID != 4242 || ps[0].CoordinatorEpoch != 8 {
		t.Fatalf("describe producers: %+v, want producer 4242 at coordinator epoch 8", ps)
	}
	// The fencing survives a change of leader: the followers replayed the
	// markers into their producer state.
	c.Stop(int(leader))
	var newLeader int32
	waitFor(t, "a new leader", func() error {
		md, err := adm.Metadata(ctx, "fence")
		if err != nil {
			return err
		}
		newLeader = md.Topics["fence"].Partitions[0].Leader
		if newLeader < 0 || newLeader == leader {
			return fmt.Errorf("leader %d", newLeader)
		}
		return nil
	})
	if code := send(newLeader, "fence", 7, true); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("stale marker on the new leader: %v, want TRANSACTION_COORDINATOR_FENCED", kerr.ErrorForCode(code))
	}
}

// TestTxnCoordinatorFailover stops the broker coordinating two
// transactional IDs: the partition's new leader loads them from the
// replicated __transaction_state, the producer carries on with it, and
// the transaction left open by the other producer is aborted by the new
// coordinator when it times out.
func TestTxnCoordinatorFailover(t *testing.T) {
	c := txnCluster(t, brokertest.WithProperty("transaction.abort.timed.out.transaction.cleanup.interval.ms", "200"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	acl, adm := newAdmin(t, c.Seeds()[0], kgo.SeedBrokers(c.Seeds()...), freshMetadata())
	spreadTopic(t, ctx, adm, "fo", 3)
	// Two transactional IDs with the same coordinator.
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("fo-%d", i))
	}
	var coords kadm.FindCoordinatorResponses
	waitFor(t, "coordinators", func() error {
		coords = adm.FindTxnCoordinators(ctx, ids...)
		for _, r := range coords {
			if r.Err != nil {
				return r.Err
			}
		}
		return nil
	})
	busy, slow := ids[0], ""
	for _, id := range ids[1:] {
		if coords[id].NodeID == coords[busy].NodeID {
			slow = id
			break
		}
	}
	if slow == "" {
		t.Fatal("no two transactional IDs share a coordinator")
	}
	coordinator := coords[busy].NodeID
	producer := func(id string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...), kgo.TransactionalID(id), freshMetadata(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic("fo")}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	var want []string
	round := func(cl *kgo.Client, name string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(3) {
			v := fmt.Sprintf("%s-p%d", name, p)
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			want = append(want, v)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %s: %v", name, err)
		}
	}
	a := producer(busy)
	round(a, "before")
	b := producer(slow, kgo.TransactionTimeout(3*time.Second))
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := b.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("never")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopping broker %d, the coordinator of %s and %s", coordinator, busy, slow)
	c.Stop(int(coordinator))
	// franz-go gives up a transactional produce with "unknown broker" when
	// it sends AddPartitionsToTxn to its cached coordinator, the stopped
	// broker, and that broker leaves its metadata before the retry, which
	// it pins to the same broker ID. The test is about the transactions
	// carrying on with the new coordinator: the producer starts the next
	// one once every live node names the new coordinator and its own
	// metadata no longer lists the stopped broker (so it looks the
	// coordinator up again).
	waitFor(t, "every live node naming a new coordinator", func() error {
		for id := int32(1); id <= 3; id++ {
			if id == coordinator {
				continue
			}
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType, req.CoordinatorKey = 1, busy
			resp, err := req.RequestWith(ctx, acl.Broker(int(id)))
			if err != nil {
				return err
			}
			if resp.ErrorCode != 0 || resp.NodeID == coordinator {
				return fmt.Errorf("node %d names coordinator %d (%v)", id, resp.NodeID, kerr.ErrorForCode(resp.ErrorCode))
			}
		}
		return nil
	})
	waitFor(t, "the producer's metadata without the stopped broker", func() error {
		a.ForceMetadataRefresh()
		if n := len(a.DiscoveredBrokers()); n != 2 {
			return fmt.Errorf("%d brokers listed, want the 2 live ones", n)
		}
		return nil
	})
	round(a, "after")
	waitTxnComplete(t, ctx, a)
	waitFor(t, "the open transaction aborted by the new coordinator", func() error {
		d, err := adm.DescribeTransactions(ctx, slow)
		if err != nil {
			return err
		}
		if st := d[slow]; st.State != "CompleteAbort" || st.Coordinator == coordinator {
			return fmt.Errorf("%s on broker %d: %s", slow, st.Coordinator, st.State)
		}
		return nil
	})
	sort.Strings(want)
	if got := readCommitted(t, ctx, c.Seeds(), "fo"); !slices.Equal(got, want) {
		t.Fatalf("read_committed saw %v, want %v", got, want)
	}
	c.Start(int(coordinator))
	round(a, "back")
	waitTxnComplete(t, ctx, a)
	sort.Strings(want)
	if got := readCommitted(t, ctx, c.Seeds(), "fo"); !slices.Equal(got, want) {
		t.Fatalf("after the restart read_committed saw %v, want %v", got, want)
	}
}

// TestStrayProduceVerifiedRemotely: a transactional produce to a partition
// outside the producer's transaction is refused (INVALID_TXN_STATE) by a
// leader whose coordinator for the producer is another broker; once the
// partition is added, the same produce goes through. A broker that is not
// the coordinator answers NOT_COORDINATOR.
func TestStrayProduceVerifiedRemotely(t *testing.T) {
	c := txnCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], kgo.SeedBrokers(c.Seeds()...), freshMetadata())
	leaders := spreadTopic(t, ctx, adm, "stray", 3)
	id := "stray-txn"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	var ir *kmsg.InitProducerIDResponse
	waitFor(t, "a producer ID", func() error {
		var err error
		if ir, err = init.RequestWith(ctx, cl); err == nil {
			err = kerr.ErrorForCode(ir.ErrorCode)
		}
		return err
	})
	coord := adm.FindTxnCoordinators(ctx, id)[id].NodeID
	part := slices.IndexFunc(leaders, func(l int32) bool { return l != coord })
	leader := leaders[part]
	// Another broker is not the coordinator of the ID.
	if r, err := init.RequestWith(ctx, cl.Broker(int(leader))); err != nil || r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("InitProducerId on broker %d, not the coordinator (%d): %v %v", leader, coord, err, kerr.ErrorForCode(r.ErrorCode))
	}
	td, err := adm.ListTopics(ctx, "stray")
	if err != nil {
		t.Fatal(err)
	}
	produce := func(value string) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = &id, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "stray", td["stray"].ID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(part), rawTxnBatch(ir.ProducerID, ir.ProducerEpoch, value)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce("stray"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("stray produce on broker %d (coordinator %d): %v, want INVALID_TXN_STATE", leader, coord, kerr.ErrorForCode(code))
	}
	// The batched (v4) form, as the client negotiates it; not VerifyOnly.
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	at := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	at.Topic, at.Partitions = "stray", []int32{int32(part)}
	tr.Topics = append(tr.Topics, at)
	add.Transactions = append(add.Transactions, tr)
	ar, err := add.RequestWith(ctx, cl.Broker(int(coord)))
	if err != nil || len(ar.Transactions) != 1 || ar.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add partitions: %v %+v", err, ar)
	}
	if code := produce("added"); code != 0 {
		t.Fatalf("produce after AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
}
