package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionSurvivesBrokerKill kills the broker (SIGKILL) while a
// transaction is open and after another committed: after the restart the
// committed one is visible to read_committed consumers, and the open one is
// never visible — it is aborted when its timeout passes, which also unpins
// the last stable offset.
func TestTransactionSurvivesBrokerKill(t *testing.T) {
	b := startBroker(t, "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200", "--flush", "durable")
	topic := uniqueTopic("txnkill")
	createTopic(t, b.addr(), topic, 1, nil)
	ctx := testCtx(t, 90*time.Second)

	committed := newClient(t, b.addr(), kgo.TransactionalID("txnkill-a"), kgo.DefaultProduceTopic(topic))
	if err := committed.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := committed.ProduceSync(ctx, kgo.StringRecord("committed")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := committed.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	open := newClient(t, b.addr(), kgo.TransactionalID("txnkill-b"), kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(3*time.Second))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctx, kgo.StringRecord("never")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b.kill()
	b.restart()

	adm := newKadm(t, b.addr())
	for {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			if o, _ := lso.Lookup(topic, 0); o.Offset >= 4 { // data, marker, data, abort marker
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the open transaction was never aborted after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	recs := consumeAll(t, ctx, b.addr(), topic, 0, 1, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if len(recs) != 1 || string(recs[0].Value) != "committed" {
		var vals []string
		for _, r := range recs {
			vals = append(vals, string(r.Value))
		}
		t.Fatalf("read_committed after the crash saw %v, want [committed]", vals)
	}
}
