package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("tx"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn produces n records to partition 0 in one transaction and ends it.
func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, prefix string, n int, commit kgo.TransactionEndTry) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, commit); err != nil {
		t.Fatal(err)
	}
	waitTxnComplete(t, ctx, cl)
}

// waitTxnComplete waits until the coordinator has written every marker of
// cl's last transaction: as in Kafka, EndTxn answers once the commit or
// abort is decided, and the markers follow.
func waitTxnComplete(t *testing.T, ctx context.Context, cl *kgo.Client) {
	t.Helper()
	id, _ := cl.OptValue(kgo.TransactionalID).(string)
	adm := kadm.NewClient(cl)
	for {
		d, err := adm.DescribeTransactions(ctx, id)
		if err == nil {
			if st := d[id].State; st == "CompleteCommit" || st == "CompleteAbort" || st == "Empty" {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("transaction %q never completed: %v %v", id, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readValues consumes topic tx up to its end for the isolation level.
func readValues(t *testing.T, ctx context.Context, addr string, committed bool) []string {
	t.Helper()
	return readToEnd(t, ctx, []string{addr}, "tx", committed)
}

// readToEnd consumes every partition of topic from the start up to the end
// offset of its isolation level (read_committed: the last stable offset;
// read_uncommitted: the high watermark) as listed when it starts, and
// returns every value read, in the order read. It keeps control records
// so that it sees the end even where a partition ends with a transaction
// marker (their values are not returned): the end is reached by reading
// it, not by a fetch coming back empty within some time, which a loaded
// machine can take longer for.
func readToEnd(t *testing.T, ctx context.Context, seeds []string, topic string, committed bool) []string {
	t.Helper()
	_, adm := newAdmin(t, seeds[0], kgo.SeedBrokers(seeds...))
	iso, list := kgo.ReadUncommitted(), adm.ListEndOffsets
	if committed {
		iso, list = kgo.ReadCommitted(), adm.ListCommittedOffsets
	}
	offs, err := list(ctx, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	ends, from := map[int32]int64{}, map[int32]kgo.Offset{}
	offs.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition], from[o.Partition] = o.Offset, kgo.NewOffset().AtStart()
		}
	})
	if len(ends) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var vals []string
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v; read %v, partitions not read to their end offsets: %v", topic, ctx.Err(), vals, ends)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				vals = append(vals, string(r.Value))
			}
			if end, ok := ends[r.Partition]; ok && r.Offset+1 >= end {
				delete(ends, r.Partition)
			}
		})
	}
	return vals
}

func TestTransactionsCommitAbortVisibility(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "tx", 1, nil)
	cl := txnProducer(t, b.Addr(), "vis")
	produceTxn(t, ctx, cl, "kept", 5, kgo.TryCommit)
	produceTxn(t, ctx, cl, "dropped", 5, kgo.TryAbort)
	produceTxn(t, ctx, cl, "kept2", 2, kgo.TryCommit)

	committed := readValues(t, ctx, b.Addr(), true)
	if len(committed) != 7 || committed[0] != "kept-0" || committed[6] != "kept2-1" {
		t.Fatalf("read_committed saw %v", committed)
	}
	all := readValues(t, ctx, b.Addr(), false)
	if len(all) != 12 {
		t.Fatalf("read_uncommitted saw %d records: %v", len(all), all)
	}
	// The transaction is described and listed as complete.
	desc, err := adm.DescribeTransactions(ctx, "vis")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := desc["vis"]; !ok || d.State != "CompleteCommit" {
		t.Fatalf("describe transactions: %+v", desc)
	}
	lt, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(lt) != 1 {
		t.Fatalf("list transactions: %v %v", lt, err)
	}
	// After a restart, read_committed still hides the aborted records.
	b.Restart()
	if got := readValues(t, ctx, b.Addr(), true); len(got) != 7 {
		t.Fatalf("after restart read_committed saw %v", got)
	}
}

func TestOpenTransactionPinsLastStableOffset(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	plain, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	mustCreate(t, ctx, adm, "tx", 1, nil)
	if err := plain.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl := txnProducer(t, b.Addr(), "open")
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("pending")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := plain.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lso, _ := adm.ListCommittedOffsets(ctx, "tx")
	hw, _ := adm.ListEndOffsets(ctx, "tx")
	l, _ := lso.Lookup("tx", 0)
	h, _ := hw.Lookup("tx", 0)
	if l.Offset != 1 || h.Offset != 3 {
		t.Fatalf("last stable offset %d, high watermark %d; want 1 and 3", l.Offset, h.Offset)
	}
	if got := readValues(t, ctx, b.Addr(), true); len(got) != 1 || got[0] != "before" {
		t.Fatalf("read_committed during the transaction saw %v", got)
	}
	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"tx": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range dp.SortedProducers() {
		if p.CurrentTxnStartOffset == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("describe producers lacks the open transaction at offset 1: %+v", dp)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitTxnComplete(t, ctx, cl)
	if got := readValues(t, ctx, b.Addr(), true); len(got) != 3 {
		t.Fatalf("after commit read_committed saw %v", got)
	}
}

func TestZombieProducerIsFenced(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "tx", 1, nil)
	zombie := txnProducer(t, b.Addr(), "shared")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A new producer with the same transactional.id aborts the zombie's
	// open transaction and fences it.
	fresh := txnProducer(t, b.Addr(), "shared")
	produceTxn(t, ctx, fresh, "fresh", 1, kgo.TryCommit)
	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("the fenced producer committed")
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Logf("zombie commit failed with %v", err)
	}
	got := readValues(t, ctx, b.Addr(), true)
	if len(got) != 1 || got[0] != "fresh-0" {
		t.Fatalf("read_committed saw %v, want only the fresh producer's record", got)
	}
}

func TestTransactionTimeoutAborts(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("transaction.abort.timed.out.transaction.cleanup.interval.ms", "100"))
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "tx", 1, nil)
	cl := txnProducer(t, b.Addr(), "slow", kgo.TransactionTimeout(1500*time.Millisecond))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("late")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		lso, _ := adm.ListCommittedOffsets(ctx, "tx")
		if o, _ := lso.Lookup("tx", 0); o.Offset == 2 { // the record and the abort marker
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := readValues(t, ctx, b.Addr(), true); len(got) != 0 {
		t.Fatalf("read_committed saw a timed-out transaction: %v", got)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("committing a transaction that timed out succeeded")
	}
}

func TestTransactionalProduceNeedsAddPartitions(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "tx", 2, nil)
	init := kmsg.NewPtrInitProducerIDRequest()
	id := "stray"
	init.TransactionalID = &id
	init.TransactionTimeoutMillis = 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init: %v %v", err, ir)
	}
	// A timeout above transaction.max.timeout.ms is refused.
	init.TransactionTimeoutMillis = 1 << 30
	if r, _ := init.RequestWith(ctx, cl); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("huge timeout: code %d", r.ErrorCode)
	}
	raw := rawTxnBatch(ir.ProducerID, ir.ProducerEpoch, "stray")
	prod := kmsg.NewPtrProduceRequest()
	prod.TransactionID = &id
	prod.Acks = -1
	prod.TimeoutMillis = 5000
	td, err := adm.ListTopics(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "tx", TopicID: td["tx"].ID, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 1, Records: raw}}}}
	pr, err := prod.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition outside the transaction: code %d, want INVALID_TXN_STATE", code)
	}
	lso, _ := adm.ListCommittedOffsets(ctx, "tx")
	if o, _ := lso.Lookup("tx", 1); o.Offset != 0 {
		t.Fatalf("a refused stray write moved the partition: %d", o.Offset)
	}
}

// rawTxnBatch is a transactional record batch of one record, sequence 0.
func rawTxnBatch(pid int64, epoch int16, value string) []byte {
	now := time.Now().UnixMilli()
	batch := kmsg.RecordBatch{Magic: 2, ProducerID: pid, ProducerEpoch: epoch, FirstSequence: 0,
		Attributes: 0x10, NumRecords: 1, FirstTimestamp: now, MaxTimestamp: now}
	r := kmsg.Record{Value: []byte(value)}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	batch.Records = r.AppendTo(nil)
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	fixCRC(raw)
	return raw
}
