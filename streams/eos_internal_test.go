package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/testcluster"
)

// A commit that fails under exactly-once aborts its transaction; the App re-creates its
// tasks from the committed offsets and changelogs and goes on. Running sums read with
// read_committed then only grow and end exact: the aborted work left no trace and no
// input was lost.
func TestExactlyOnceAbortRecreatesTasks(t *testing.T) {
	testcluster.Run(t, abortRecreatesTasks)
}

func abortRecreatesTasks(t *testing.T, addr string) {
	cl := sumsTopics(t, addr, 3)
	ctx := context.Background()
	app, err := New(sumsTopology(t), Config{ApplicationID: "eos-abort", Brokers: []string{addr}, StateDir: t.TempDir(),
		ProcessingGuarantee: ExactlyOnceV2, NumStreamThreads: 2, SessionTimeout: 6 * time.Second,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)

	want, got, produce, read := sumsHarness(t, ctx, cl, addr, 11, 12)
	for range 5 {
		produce(500)
		read(200 * time.Millisecond)
		app.commits.failCommits.Store(1)
		produce(500)
		read(200 * time.Millisecond)
	}
	for deadline := time.Now().Add(60 * time.Second); fmt.Sprint(got) != fmt.Sprint(want); read(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("sums never matched:\n got  %v\n want %v", got, want)
		}
		if err := app.Err(); err != nil {
			t.Fatalf("application failed: %v", err)
		}
	}
}

// waitExactSums reads the sums until they equal want, failing the test if app fails
// or 90 s pass first; what names the moment in the messages.
func waitExactSums(t *testing.T, app *App, what string, want, got map[string]int64, read func(time.Duration)) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); fmt.Sprint(got) != fmt.Sprint(want); read(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: sums never matched:\n got  %v\n want %v", what, got, want)
		}
		if err := app.Err(); err != nil {
			t.Fatalf("%s: application failed: %v", what, err)
		}
	}
}

// sumsBroker starts a broker with the topics "amounts" and "sums" of the given
// partitions, and a client of it closed with the test.
func sumsBroker(t *testing.T, partitions int32) (*brokertest.Broker, *kgo.Client) {
	t.Helper()
	br := brokertest.Start(t, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
	return br, sumsTopics(t, br.Addr(), partitions)
}

// sumsTopics creates the topics "amounts" and "sums" of the given partitions on the
// cluster at addr, and returns a client of it closed with the test.
func sumsTopics(t *testing.T, addr string, partitions int32) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for _, topic := range []string{"amounts", "sums"} {
		if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	return cl
}

// sumsTopology sums each key's int64 amounts into the store and topic "sums".
func sumsTopology(t *testing.T) *Topology {
	t.Helper()
	b := NewBuilder()
	Aggregate(StreamFrom[string, int64](b, "amounts", nil, nil).GroupByKey(),
		func() int64 { return 0 }, func(_ string, v, sum int64) int64 { return sum + v }, nil, As("sums")).
		ToStream().To("sums")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// The process id (and with it the transactional id) survives restarts, and two
// instances on one state directory never share one.
func TestProcessIDStableAndExclusive(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id1, release1, err := acquireProcessID(dir, "app", log)
	if err != nil {
		t.Fatal(err)
	}
	id2, release2, err := acquireProcessID(dir, "app", log)
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Fatalf("two running instances share process id %s", id1)
	}
	release2()
	release1()
	id3, release3, err := acquireProcessID(dir, "app", log)
	if err != nil {
		t.Fatal(err)
	}
	if id3 != id1 {
		release3()
		t.Fatalf("process id changed across a restart: %s, then %s", id1, id3)
	}
	if err := os.WriteFile(filepath.Join(dir, "app", processIDFile), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	release3()
	id4, release4, err := acquireProcessID(dir, "app", log)
	if err != nil {
		t.Fatal(err)
	}
	defer release4()
	if id4 == "" || id4 == id1 {
		t.Fatalf("a malformed process id file gave %q", id4)
	}
}

// The exactly-once client's transaction requests stay below KIP-890 part 2, and a
// kgo.MaxVersions in ClientOptions that lifts the cap is a configuration error.
func TestEOSVersionsCapped(t *testing.T) {
	lifted := eosMaxVersions()
	lifted.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 6)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
		ok   bool
	}{
		{"eos cap", []kgo.Opt{kgo.MaxVersions(eosMaxVersions())}, true},
		{"old broker pin", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}, true},
		{"kgo default", nil, false},
		{"TxnOffsetCommit lifted", []kgo.Opt{kgo.MaxVersions(lifted)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:9")}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			err = checkEOSVersions(cl)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("checkEOSVersions = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// sumsHarness drives a sums topology: produce sends n random amounts to
// "amounts" (adding them to want), and read polls "sums" read_committed for d
// into got, failing the test if a sum ever goes down or repeats (aborted work
// made visible). The rng is seeded with seed1 and seed2.
func sumsHarness(t *testing.T, ctx context.Context, cl *kgo.Client, addr string, seed1, seed2 uint64) (want, got map[string]int64, produce func(n int), read func(d time.Duration)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed1, seed2))
	want, got = map[string]int64{}, map[string]int64{}
	produce = func(n int) {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			k, v := fmt.Sprintf("k%d", rng.IntN(50)), int64(1+rng.IntN(9))
			want[k] += v
			recs[i] = &kgo.Record{Topic: "amounts", Key: []byte(k), Value: binary.BigEndian.AppendUint64(nil, uint64(v))}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("sums"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	read = func(d time.Duration) {
		pctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		out.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			n := int64(binary.BigEndian.Uint64(r.Value))
			if prev := got[string(r.Key)]; n <= prev {
				t.Errorf("sum of %s went from %d to %d: aborted work is visible", r.Key, prev, n)
			}
			got[string(r.Key)] = n
		})
	}
	return want, got, produce, read
}
