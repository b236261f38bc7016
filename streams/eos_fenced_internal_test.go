package streams

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/testcluster"
)

// TestExactlyOnceSurvivesFencedProduce: in the middle of processing, another client
// takes the App's transactional id (InitProducerId bumps the epoch and aborts the open
// transaction), so the App's next produces fail with INVALID_PRODUCER_EPOCH or
// PRODUCER_FENCED while a stream thread processes a fetched batch. Kafka Streams treats
// that as a TaskMigratedException; the App must too: abort, replace its producer,
// re-create the tasks from the last commit, and end with exact sums.
// The copies topic only gets the produce issued by the stream thread as it processes. (CI saw the App
// stop on it when a broker kill moved the transaction coordinator: a task with one
// source processes records as its batch arrives, and that path stopped the App.)
//
// It runs against Gregor's broker and franz-go's kfake (internal/testcluster): the
// recovery is the client's and must hold on any Kafka cluster.
func TestExactlyOnceSurvivesFencedProduce(t *testing.T) {
	testcluster.Run(t, survivesFencedProduce)
}

func survivesFencedProduce(t *testing.T, addr string) {
	cl := sumsTopics(t, addr, 3)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "copies"); err != nil {
		t.Fatal(err)
	}
	var app *App
	// countdown reaches 0 at the record that fences the App's producer; the next record
	// waits until a produce has failed, so its own sends meet the error.
	var countdown atomic.Int32
	fenceAt := func() {
		switch countdown.Add(-1) {
		case 0:
			fence(t, addr, app.commits.txnID)
		case -1:
			waitProduceFailed(t, app)
		}
	}
	// Each amount is also copied to "copies" as it is processed: a produce issued by
	// the stream thread itself, not deferred to a flush as the store's are.
	b := NewBuilder()
	amounts := StreamFrom[string, int64](b, "amounts", nil, nil).Peek(func(string, int64) { fenceAt() })
	amounts.To("copies")
	Aggregate(amounts.GroupByKey(),
		func() int64 { return 0 }, func(_ string, v, sum int64) int64 { return sum + v },
		nil, As("sums")).ToStream().To("sums")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err = New(topo, Config{ApplicationID: "eos-fenced", Brokers: []string{addr}, StateDir: t.TempDir(),
		ProcessingGuarantee: ExactlyOnceV2, NumStreamThreads: 1, SessionTimeout: 30 * time.Second,
		CacheMaxBytes: -1, CommitInterval: 200 * time.Millisecond,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	countdown.Store(1 << 30) // no fence until the first sums are out
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)

	want, got, produce, read := sumsHarness(t, ctx, cl, addr, 31, 32)
	waitSums := func(what string) { t.Helper(); waitExactSums(t, app, what, want, got, read) }
	produce(300)
	waitSums("before the fence")
	countdown.Store(50)
	produce(300)
	waitSums("after the fence")
	if countdown.Load() > -1 {
		t.Fatal("the producer was never fenced")
	}
}

// fence takes transactional id txnID with a new producer, as a second instance with the
// same id would: the broker bumps the epoch and aborts the open transaction.
func fence(t *testing.T, addr, txnID string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(txnID))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		t.Errorf("fence %s: %v", txnID, err)
	}
}

// waitProduceFailed waits until a produce of the App's has failed: a sink's (current
// generation) or a store's changelog append.
func waitProduceFailed(t *testing.T, app *App) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		fs := []*inflight{app.commits.sinks.cur.Load()}
		tasks, _ := app.tm.snapshot()
		for _, tk := range tasks {
			if w, ok := tk.cfg.writer.(*changelogWriter); ok {
				fs = append(fs, w.f)
			}
		}
		var err error
		for _, f := range fs {
			f.mu.Lock()
			if f.err != nil {
				err = f.err
			}
			f.mu.Unlock()
		}
		if err != nil {
			if !fenced(err) {
				t.Errorf("a produce failed, not fenced: %v", err)
			}
			return
		}
	}
	t.Error("no produce failed within 30s of the fence")
}
