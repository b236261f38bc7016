package streams

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// A transaction that outlives the transaction timeout (here a processor that stalls) is
// aborted by the coordinator, which bumps the producer epoch; the App's next produce or
// commit is refused with INVALID_PRODUCER_EPOCH. As Kafka Streams on a
// TaskMigratedException, the App aborts what it can, gets a usable epoch, re-creates its
// tasks from the committed state and goes on: the read_committed sums end exact.
func TestExactlyOnceSurvivesTransactionTimeout(t *testing.T) {
	br := brokertest.Start(t, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"),
		brokertest.WithProperty("transaction.abort.timed.out.transaction.cleanup.interval.ms", "100"))
	addr := br.Addr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for _, topic := range []string{"amounts", "sums"} {
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const txnTimeout = 2 * time.Second
	// stall counts down the records to process before the stall, which comes after
	// records went into the open transaction.
	var stall atomic.Int32
	b := NewBuilder()
	Aggregate(StreamFrom[string, int64](b, "amounts", nil, nil).GroupByKey(),
		func() int64 { return 0 }, func(_ string, v, sum int64) int64 {
			if stall.Add(-1) == 0 {
				// A slow processor: the open transaction (the records produced before
				// this one, caching being off) outlives its timeout meanwhile.
				time.Sleep(4 * txnTimeout)
			}
			return sum + v
		}, nil, As("sums")).ToStream().To("sums")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(topo, Config{ApplicationID: "eos-txn-timeout", Brokers: []string{addr}, StateDir: t.TempDir(),
		ProcessingGuarantee: ExactlyOnceV2, NumStreamThreads: 2, SessionTimeout: 30 * time.Second,
		TransactionTimeout: txnTimeout, CacheMaxBytes: -1,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)

	want, got, produce, read := sumsHarness(t, ctx, cl, addr, 21, 22)
	waitSums := func(what string) { t.Helper(); waitExactSums(t, app, what, want, got, read) }
	for round := range 2 {
		produce(300)
		waitSums(fmt.Sprintf("round %d, before the stall", round))
		stall.Store(100)
		produce(300)
		waitSums(fmt.Sprintf("round %d, after the stall", round))
		if stall.Load() > 0 {
			t.Fatalf("round %d: the processor never stalled", round)
		}
	}
}
