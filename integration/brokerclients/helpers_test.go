package brokerclients

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCtx is a context that ends with the test, or after a minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newAdmin is a franz-go client of addr and its admin client, closed when
// the test ends.
func newAdmin(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// mustCreate creates a topic with replication factor 1.
func mustCreate(t *testing.T, ctx context.Context, adm *kadm.Client, name string, parts int32, configs map[string]*string) {
	t.Helper()
	res, err := adm.CreateTopic(ctx, parts, 1, configs, name)
	if err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res.Err)
	}
}

func str(s string) *string { return &s }

// produceN writes n records round-robin over parts partitions, values
// "<prefix>-<i>".
func produceN(t *testing.T, ctx context.Context, addr, topic, prefix string, parts, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// checkCommittedEnd waits until group's committed offsets on topic are the
// partitions' end offsets.
func checkCommittedEnd(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) {
	t.Helper()
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		or, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		ends.Each(func(lo kadm.ListedOffset) {
			if c, _ := or.Lookup(topic, lo.Partition); c.At != lo.Offset {
				ok = false
			}
		})
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed offsets never reached the end offsets: %v", or)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// txnProducer is a transactional franz-go producer to topic tx.
func txnProducer(t *testing.T, addr, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("tx"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn produces n records to partition 0 in one transaction, ends it
// and waits until the coordinator has written its markers (EndTxn answers
// once the outcome is decided; the markers follow).
func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, prefix string, n int, commit kgo.TransactionEndTry) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, commit); err != nil {
		t.Fatal(err)
	}
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
