package eosbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/streams"
)

const (
	partitions = 4
	users      = 100_000
	// span is the event time the clicks cover: five one-minute windows.
	span = 5 * time.Minute
	// epoch is the first click's timestamp, on a minute boundary.
	epoch int64 = 1_700_000_040_000
)

var regions = []string{"emea", "amer", "apac", "latam"}

// dataset is the pre-filled input and the answers the outputs must reach.
type dataset struct {
	clicks, profiles string
	n                int
	// counts is each (user, window start) key's final count, keyed by the bytes of
	// Kafka's time-windowed key: the user, then the window start as 8 bytes.
	counts map[string]int64
}

func user(i int) string { return "user-" + strconv.Itoa(i) }

func fill(b *testing.B, addr string, n int) dataset {
	d := dataset{clicks: "eos-clicks", profiles: "eos-profiles", n: n, counts: map[string]int64{}}
	mkTopic(b, addr, d.clicks)
	mkTopic(b, addr, d.profiles)
	cl := newClient(b, addr, kgo.ProducerLinger(10*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	fail := func(_ *kgo.Record, err error) {
		if err != nil {
			b.Error(err)
		}
	}
	mkTopic(b, addr, "eos-warmup")
	ctx := context.Background()
	for i := range users {
		cl.Produce(ctx, &kgo.Record{Topic: d.profiles, Key: []byte(user(i)), Value: []byte(regions[i%len(regions)]), Timestamp: time.UnixMilli(epoch - 1)}, fail)
	}
	step := span.Milliseconds() / int64(n)
	for i := range n {
		u := user((i * 7919) % users) // every user clicks, interleaved
		ts := epoch + int64(i)*step
		start := ts - ts%time.Minute.Milliseconds()
		d.counts[string(binary.BigEndian.AppendUint64([]byte(u), uint64(start)))]++
		cl.Produce(ctx, &kgo.Record{Topic: d.clicks, Key: []byte(u), Value: []byte("/page/" + strconv.Itoa(i%500)), Timestamp: time.UnixMilli(ts)}, fail)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return d
}

// warmUp has the broker create __consumer_offsets and __transaction_state before the
// first timed run, so that no run pays for it: a throwaway group commits, a throwaway
// transactional producer commits one record.
func warmUp(b *testing.B, addr, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := newClient(b, addr, kgo.ConsumerGroup("eos-warmup"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.TransactionalID("eos-warmup"))
	for fs := cl.PollRecords(ctx, 1); fs.NumRecords() == 0; fs = cl.PollRecords(ctx, 1) {
		if err := fs.Err0(); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	if err := cl.BeginTransaction(); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "eos-warmup", Value: []byte("x")}).FirstErr(); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	cl.LeaveGroup()
}

func newClient(b *testing.B, addr string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

func mkTopic(b *testing.B, addr, topic string) {
	resp, err := kadm.NewClient(newClient(b, addr)).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatal(err)
	}
}

// windowedCount is the first topology: clicks per user per one-minute window.
func windowedCount(d dataset, out string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	clicks := streams.StreamFrom[string, string](b, d.clicks, nil, nil)
	streams.WindowedBy(clicks.GroupByKey(), streams.TimeWindowsOfSizeWithNoGrace(time.Minute)).
		Count(streams.As("clicks-per-minute")).
		ToStream().
		To(out)
	return b.Build()
}

// streamTableJoin is the second topology: each click with its user's region.
func streamTableJoin(d dataset, out string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	clicks := streams.StreamFrom[string, string](b, d.clicks, nil, nil)
	profiles := streams.TableFrom[string, string](b, d.profiles, nil, nil, streams.As("profiles"))
	streams.StreamTableLeftJoin(clicks, profiles, func(_ string, page string, region *string) string {
		if region == nil {
			return page + "@unknown"
		}
		return page + "@" + *region
	}).To(out)
	return b.Build()
}

// waitCounts reads out (read_committed) until every windowed key's latest count is
// the final one.
func waitCounts(ctx context.Context, b *testing.B, addr, out string, want map[string]int64) {
	cl := newClient(b, addr, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	last := map[string]int64{}
	matched := 0
	for matched < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("%s: timed out with %d of %d windowed counts final", out, matched, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := string(r.Key)
			w, ok := want[k]
			if !ok || len(r.Value) != 8 {
				b.Errorf("%s: unexpected record %q = %x", out, r.Key, r.Value)
				return
			}
			v := int64(binary.BigEndian.Uint64(r.Value))
			if last[k] == w {
				matched--
			}
			last[k] = v
			if v == w {
				matched++
			}
		})
	}
}

// waitRecords reads out (read_committed) until it holds n records.
func waitRecords(ctx context.Context, b *testing.B, addr, out string, n int) {
	cl := newClient(b, addr, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := 0
	for seen < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("%s: timed out with %d of %d records", out, seen, n)
		}
		seen += fs.NumRecords()
	}
	if seen != n {
		b.Fatalf("%s: %d records, want %d (a duplicate under exactly-once is a bug)", out, seen, n)
	}
}

// run runs one topology under one guarantee from scratch and returns the time from
// the application's start until the output is complete.
func run(b *testing.B, addr string, d dataset, topology string, g streams.ProcessingGuarantee, round int) time.Duration {
	out := fmt.Sprintf("eos-out-%s-%s-%d", topology, g, round)
	mkTopic(b, addr, out)
	var topo *streams.Topology
	var err error
	if topology == "windowed-count" {
		topo, err = windowedCount(d, out)
	} else {
		topo, err = streamTableJoin(d, out)
	}
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	app, err := streams.New(topo, streams.Config{
		ApplicationID:       fmt.Sprintf("eos-%s-%s-%d", topology, g, round),
		Brokers:             []string{addr},
		StateDir:            b.TempDir(),
		NumStreamThreads:    2,
		CommitInterval:      commitInterval(),
		ProcessingGuarantee: g,
		ClientOptions:       []kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond)},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer app.Close(context.Background())
	if topology == "windowed-count" {
		waitCounts(ctx, b, addr, out, d.counts)
	} else {
		waitRecords(ctx, b, addr, out, d.n)
	}
	return time.Since(start)
}

// BenchmarkEOS runs both topologies under both guarantees on one broker and one input
// and prints records/s side by side with the exactly-once / at-least-once ratio.
func BenchmarkEOS(b *testing.B) {
	n := envInt("GREGOR_BENCH_EOS_CLICKS", 1_000_000)
	rounds := envInt("GREGOR_BENCH_EOS_ROUNDS", 2)
	br := brokertest.Start(b, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
	d := fill(b, br.Addr(), n)
	warmUp(b, br.Addr(), d.clicks)
	guarantees := []streams.ProcessingGuarantee{streams.AtLeastOnce, streams.ExactlyOnceV2}
	type key struct {
		topology string
		g        streams.ProcessingGuarantee
	}
	all := map[key][]time.Duration{}
	round := 0
	for range b.N {
		for r := range rounds {
			for _, topology := range []string{"windowed-count", "stream-table-join"} {
				for i := range guarantees {
					g := guarantees[(i+r)%len(guarantees)]
					round++
					all[key{topology, g}] = append(all[key{topology, g}], run(b, br.Addr(), d, topology, g, round))
				}
			}
		}
	}
	fmt.Printf("\nstreams, exactly-once vs at-least-once: %d clicks, %d users, %d partitions, commit interval %v, best of %d rounds\n",
		n, users, partitions, commitInterval(), rounds)
	fmt.Printf("%-18s %15s %15s %7s  %s\n", "topology", "at_least_once/s", "exactly_once/s", "ratio", "target >= 0.60")
	for _, topology := range []string{"windowed-count", "stream-table-join"} {
		alos := float64(n) / slices.Min(all[key{topology, streams.AtLeastOnce}]).Seconds()
		eos := float64(n) / slices.Min(all[key{topology, streams.ExactlyOnceV2}]).Seconds()
		verdict := "ok"
		if eos < 0.6*alos {
			verdict = "MISSED"
		}
		fmt.Printf("%-18s %15.0f %15.0f %7.2f  %s\n", topology, alos, eos, eos/alos, verdict)
		b.ReportMetric(eos/alos, topology+"-eos/alos")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func commitInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GREGOR_BENCH_EOS_COMMIT")); err == nil && d > 0 {
		return d
	}
	return 100 * time.Millisecond
}
