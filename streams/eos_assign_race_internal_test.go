package streams

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Commits that fail back to back while three threads take up their tasks: a second
// abort asks for the tasks to be made again while the first re-creation is still
// fetching offsets. The partitions whose tasks that re-creation made must not be
// rewound again (their input would be counted twice), and no task made before an
// abort may be opened after it. Sums read with read_committed end exact.
func TestExactlyOnceAbortsBackToBack(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) { abortsBackToBack(t, round) })
	}
}

func abortsBackToBack(t *testing.T, round int) {
	br, cl := sumsBroker(t, 8)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(round), 2))
	want := map[string]int64{}
	var recs []*kgo.Record
	for range 4000 {
		k, v := fmt.Sprintf("k%d", rng.IntN(40)), int64(1+rng.IntN(9))
		want[k] += v
		recs = append(recs, &kgo.Record{Topic: "amounts", Key: []byte(k), Value: binary.BigEndian.AppendUint64(nil, uint64(v))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	app, err := New(sumsTopology(t), Config{ApplicationID: "eos-back-to-back", Brokers: []string{br.Addr()}, StateDir: t.TempDir(),
		ProcessingGuarantee: ExactlyOnceV2, NumStreamThreads: 3, SessionTimeout: 6 * time.Second,
		CommitInterval: 20 * time.Millisecond, ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	app.commits.failCommits.Store(6)
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)

	out, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("sums"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got := map[string]int64{}
	for deadline := time.Now().Add(30 * time.Second); fmt.Sprint(got) != fmt.Sprint(want); {
		if time.Now().After(deadline) {
			t.Fatalf("sums never matched:\n got  %v\n want %v", got, want)
		}
		if err := app.Err(); err != nil {
			t.Fatalf("application failed: %v", err)
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		out.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = int64(binary.BigEndian.Uint64(r.Value)) })
		cancel()
	}
}
