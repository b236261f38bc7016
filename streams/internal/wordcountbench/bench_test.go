package wordcountbench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"regexp"
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
	"github.com/gregorhq/gregor/streams"
)

const partitions = 4

var nonWord = regexp.MustCompile(`\W+`)

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

func runStreams(b *testing.B, addr string, d dataset) time.Duration {
	bld := streams.NewBuilder()
	lines := streams.StreamFrom[string, string](bld, d.topic, nil, nil)
	words := streams.FlatMapValues(lines, func(_ string, line string) []string {
		return nonWord.Split(strings.ToLower(line), -1)
	}).Filter(func(_ string, w string) bool { return w != "" })
	streams.GroupBy(words, func(_ string, w string) string { return w }, nil).Count(streams.As("counts")).
		ToStream().To("wc-streams-output")
	topo, err := bld.Build()
	if err != nil {
		b.Fatal(err)
	}
	mkTopic(b, addr, "wc-streams-output", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	app, err := streams.New(topo, streams.Config{ApplicationID: "wc-streams", Brokers: []string{addr}, StateDir: b.TempDir(),
		NumStreamThreads: threads(), CommitInterval: commitInterval(), ClientOptions: clientOpts()})
	if err != nil {
		b.Fatal(err)
	}
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer app.Close(context.Background())
	waitExact(ctx, b, addr, "wc-streams-output", d.want, func(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) })
	return time.Since(start)
}

func runBare(b *testing.B, addr string, d dataset) time.Duration {
	mkTopic(b, addr, "wc-bare-output", nil)
	start := time.Now()
	cl := newClient(b, addr, kgo.ConsumeTopics(d.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	counts := map[string]int64{}
	for seen := 0; seen < d.lines; {
		fs := cl.PollFetches(context.Background())
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			for _, w := range nonWord.Split(strings.ToLower(string(r.Value)), -1) {
				if w != "" {
					counts[w]++
				}
			}
		})
	}
	for w, n := range counts {
		cl.Produce(context.Background(), &kgo.Record{Topic: "wc-bare-output", Key: []byte(w), Value: binary.BigEndian.AppendUint64(nil, uint64(n))}, nil)
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

func runGoka(b *testing.B, addr string, d dataset) time.Duration {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	goka.ReplaceGlobalConfig(cfg)
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	compact := "compact"
	mkTopic(b, addr, "wc-goka-words", nil)
	mkTopic(b, addr, "wc-goka-count-table", map[string]*string{"cleanup.policy": &compact})
	dir := b.TempDir()
	opts := []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithTopicManagerConfig(tm)),
		goka.WithStorageBuilder(storage.DefaultBuilder(dir)),
		goka.WithLogger(log.New(io.Discard, "", 0)),
	}
	split := goka.DefineGroup("wc-goka-split",
		goka.Input(goka.Stream(d.topic), new(codec.String), func(ctx goka.Context, msg any) {
			for _, w := range nonWord.Split(strings.ToLower(msg.(string)), -1) {
				if w != "" {
					ctx.Emit("wc-goka-words", w, int64(1))
				}
			}
		}),
		goka.Output("wc-goka-words", new(codec.Int64)))
	count := goka.DefineGroup("wc-goka-count",
		goka.Input("wc-goka-words", new(codec.Int64), func(ctx goka.Context, msg any) {
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
	waitExact(ctx, b, addr, "wc-goka-count-table", d.want, func(v []byte) int64 {
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

// BenchmarkWordCount runs the three word counts on the same broker and data and
// prints their words/s side by side.
func BenchmarkWordCount(b *testing.B) {
	lines := 200_000
	if v, err := strconv.Atoi(os.Getenv("GREGOR_BENCH_WC_LINES")); err == nil && v > 0 {
		lines = v
	}
	br := brokertest.Start(b, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
	d := fill(b, br.Addr(), lines)
	type result struct {
		name string
		took time.Duration
	}
	var results []result
	for _, r := range []struct {
		name string
		run  func(*testing.B, string, dataset) time.Duration
	}{{"franz-go-bare", runBare}, {"gregor-streams", runStreams}, {"goka", runGoka}} {
		b.Run(r.name, func(b *testing.B) {
			var took time.Duration
			for range b.N {
				took = r.run(b, br.Addr(), d)
			}
			b.ReportMetric(float64(d.words)/took.Seconds(), "words/s")
			results = append(results, result{r.name, took})
		})
	}
	fmt.Printf("\nwordcount: %d lines, %d words, %d distinct, %d partitions, one in-process broker\n", d.lines, d.words, len(d.want), partitions)
	fmt.Printf("%-16s %12s %14s %10s\n", "implementation", "time", "words/s", "vs goka")
	var goka float64
	for _, r := range results {
		if r.name == "goka" {
			goka = float64(d.words) / r.took.Seconds()
		}
	}
	for _, r := range results {
		wps := float64(d.words) / r.took.Seconds()
		rel := "-"
		if goka > 0 {
			rel = fmt.Sprintf("%.1fx", wps/goka)
		}
		fmt.Printf("%-16s %12v %14.0f %10s\n", r.name, r.took.Round(time.Millisecond), wps, rel)
	}
}

// commitInterval is the streams commit interval: GREGOR_BENCH_WC_COMMIT, default 100ms.
func commitInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GREGOR_BENCH_WC_COMMIT")); err == nil {
		return d
	}
	return 100 * time.Millisecond
}

func threads() int {
	if n, err := strconv.Atoi(os.Getenv("GREGOR_BENCH_WC_THREADS")); err == nil && n > 0 {
		return n
	}
	return 2
}

func clientOpts() []kgo.Opt {
	if d, err := time.ParseDuration(os.Getenv("GREGOR_BENCH_WC_LINGER")); err == nil {
		return []kgo.Opt{kgo.ProducerLinger(d)}
	}
	return nil
}
