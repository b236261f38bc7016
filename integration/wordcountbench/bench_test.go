package wordcountbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
	"github.com/gregorhq/gregor/streams"
)

const partitions = 4

type dataset struct {
	topic string
	lines int
	words int
	want  map[string]int64
}

func fill(b *testing.B, addr string, lines int) dataset {
	rng := rand.New(rand.NewPCG(7, 11))
	vocab := make([]string, 5000)
	for i := range vocab {
		w := make([]byte, 3+rng.IntN(8))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w) + strconv.Itoa(i)
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, uint64(len(vocab)-1))
	d := dataset{topic: "wc-input", lines: lines, want: map[string]int64{}}
	mkTopic(b, addr, d.topic, nil)
	cl := newClient(b, addr, kgo.ProducerLinger(10*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	for i := 0; i < lines; i++ {
		n := 1 + rng.IntN(8)
		words := make([]string, n)
		for j := range words {
			words[j] = vocab[zipf.Uint64()]
			d.want[words[j]]++
		}
		d.words += n
		cl.Produce(context.Background(), &kgo.Record{Topic: d.topic, Value: []byte(strings.Join(words, " "))}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return d
}

// warmGroups has a throwaway group consume one record and commit, so that the broker's
// group coordinator (and __consumer_offsets) exists before the first timed run joins.
func warmGroups(b *testing.B, addr, topic string) {
	cl := newClient(b, addr, kgo.ConsumerGroup("wc-warmup"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for fs := cl.PollRecords(ctx, 1); fs.NumRecords() == 0; fs = cl.PollRecords(ctx, 1) {
		if err := fs.Err0(); err != nil {
			b.Fatalf("warm-up group: %v", err)
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		b.Fatalf("warm-up group: %v", err)
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

func mkTopic(b *testing.B, addr, topic string, cfg map[string]*string) {
	resp, err := kadm.NewClient(newClient(b, addr)).CreateTopic(context.Background(), partitions, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatal(err)
	}
}

// waitExact follows topic until every word's latest count (decoded by dec) is exact.
func waitExact(ctx context.Context, b *testing.B, addr, topic string, want map[string]int64, dec func([]byte) int64) {
	cl := newClient(b, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[string]int64{}
	matched := 0
	for matched < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("%s: timed out with %d of %d words exact", topic, matched, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := string(r.Key)
			v := dec(r.Value)
			w, ok := want[k]
			if !ok {
				return
			}
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

func runStreams(b *testing.B, addr string, d dataset, round int) time.Duration {
	out := fmt.Sprintf("wc-streams-output-%d", round)
	topo, err := wordcount.Topology(d.topic, out)
	if err != nil {
		b.Fatal(err)
	}
	mkTopic(b, addr, out, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	app, err := streams.New(topo, streams.Config{ApplicationID: fmt.Sprintf("wc-streams-%d", round), Brokers: []string{addr}, StateDir: b.TempDir(),
		NumStreamThreads: threads(), CommitInterval: commitInterval(), ClientOptions: clientOpts()})
	if err != nil {
		b.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer app.Close(context.Background())
	waitExact(ctx, b, addr, out, d.want, func(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) })
	return time.Since(start)
}

func runBare(b *testing.B, addr string, d dataset, round int) time.Duration {
	out := fmt.Sprintf("wc-bare-output-%d", round)
	mkTopic(b, addr, out, nil)
	start := time.Now()
	cl := newClient(b, addr, kgo.ConsumeTopics(d.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	counts := map[string]int64{}
	for seen := 0; seen < d.lines; {
		fs := cl.PollFetches(context.Background())
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			for _, w := range wordcount.Words(string(r.Value)) {
				counts[w]++
			}
		})
	}
	for w, n := range counts {
		cl.Produce(context.Background(), &kgo.Record{Topic: out, Key: []byte(w), Value: binary.BigEndian.AppendUint64(nil, uint64(n))}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	for w, n := range d.want {
		if counts[w] != n {
			b.Fatalf("bare: %s = %d, want %d", w, counts[w], n)
		}
	}
	return elapsed
}

func runGoka(b *testing.B, addr string, d dataset, round int) time.Duration {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	goka.ReplaceGlobalConfig(cfg)
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	compact := "compact"
	wordsTopic := fmt.Sprintf("wc-goka-words-%d", round)
	group := fmt.Sprintf("wc-goka-count-%d", round)
	mkTopic(b, addr, wordsTopic, nil)
	mkTopic(b, addr, group+"-table", map[string]*string{"cleanup.policy": &compact})
	dir := b.TempDir()
	opts := []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithTopicManagerConfig(tm)),
		goka.WithStorageBuilder(storage.DefaultBuilder(dir)),
		goka.WithLogger(log.New(io.Discard, "", 0)),
	}
	split := goka.DefineGroup(goka.Group(fmt.Sprintf("wc-goka-split-%d", round)),
		goka.Input(goka.Stream(d.topic), new(codec.String), func(ctx goka.Context, msg any) {
			for _, w := range wordcount.Words(msg.(string)) {
				ctx.Emit(goka.Stream(wordsTopic), w, int64(1))
			}
		}),
		goka.Output(goka.Stream(wordsTopic), new(codec.Int64)))
	count := goka.DefineGroup(goka.Group(group),
		goka.Input(goka.Stream(wordsTopic), new(codec.Int64), func(ctx goka.Context, msg any) {
			var n int64
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			ctx.SetValue(n + msg.(int64))
		}),
		goka.Persist(new(codec.Int64)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	errs := make(chan error, 2)
	for _, g := range []*goka.GroupGraph{split, count} {
		p, err := goka.NewProcessor([]string{addr}, g, opts...)
		if err != nil {
			b.Fatal(err)
		}
		go func() { errs <- p.Run(ctx) }()
	}
	waitExact(ctx, b, addr, group+"-table", d.want, func(v []byte) int64 {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		return n
	})
	elapsed := time.Since(start)
	cancel()
	for range 2 {
		<-errs
	}
	return elapsed
}

// BenchmarkWordCount runs the three word counts on the same broker and data, each
// GREGOR_BENCH_WC_ROUNDS times (default 3, every round from scratch: new output topics,
// groups and state), and prints their best words/s side by side.
func BenchmarkWordCount(b *testing.B) {
	lines := envInt("GREGOR_BENCH_WC_LINES", 200_000)
	rounds := envInt("GREGOR_BENCH_WC_ROUNDS", 3)
	only := os.Getenv("GREGOR_BENCH_WC_ONLY")
	br := brokertest.Start(b, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
	d := fill(b, br.Addr(), lines)
	warmGroups(b, br.Addr(), d.topic)
	type result struct {
		name      string
		best, all []time.Duration
	}
	var results []result
	round := 0
	for _, r := range []struct {
		name string
		run  func(*testing.B, string, dataset, int) time.Duration
	}{{"franz-go-bare", runBare}, {"gregor-streams", runStreams}, {"goka", runGoka}} {
		if only != "" && !slices.Contains(strings.Split(only, ","), r.name) {
			continue
		}
		b.Run(r.name, func(b *testing.B) {
			res := result{name: r.name}
			for range b.N {
				for range rounds {
					round++
					res.all = append(res.all, r.run(b, br.Addr(), d, round))
				}
			}
			best := slices.Min(res.all)
			res.best = []time.Duration{best}
			b.ReportMetric(float64(d.words)/best.Seconds(), "words/s")
			results = append(results, res)
		})
	}
	fmt.Printf("\nwordcount: %d lines, %d words, %d distinct, %d partitions, one in-process broker, best of %d rounds\n",
		d.lines, d.words, len(d.want), partitions, rounds)
	fmt.Printf("%-16s %10s %14s %10s  %s\n", "implementation", "best", "words/s", "vs goka", "all rounds")
	var goka float64
	for _, r := range results {
		if r.name == "goka" {
			goka = float64(d.words) / r.best[0].Seconds()
		}
	}
	for _, r := range results {
		wps := float64(d.words) / r.best[0].Seconds()
		rel := "-"
		if goka > 0 {
			rel = fmt.Sprintf("%.1fx", wps/goka)
		}
		var all []string
		for _, t := range r.all {
			all = append(all, t.Round(time.Millisecond).String())
		}
		fmt.Printf("%-16s %10v %14.0f %10s  %s\n", r.name, r.best[0].Round(time.Millisecond), wps, rel, strings.Join(all, " "))
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// commitInterval is the streams commit interval: GREGOR_BENCH_WC_COMMIT, default 100ms.
func commitInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GREGOR_BENCH_WC_COMMIT")); err == nil {
		return d
	}
	return 100 * time.Millisecond
}

func threads() int { return envInt("GREGOR_BENCH_WC_THREADS", 2) }

func clientOpts() []kgo.Opt {
	if d, err := time.ParseDuration(os.Getenv("GREGOR_BENCH_WC_LINGER")); err == nil {
		return []kgo.Opt{kgo.ProducerLinger(d)}
	}
	return nil
}
