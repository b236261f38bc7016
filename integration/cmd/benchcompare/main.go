package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gregorhq/gregor/integration"
	"github.com/gregorhq/gregor/integration/benchkit"
)

var (
	records    = flag.Int("records", 1000000, "records of 100 B in the throughput phases")
	records1k  = flag.Int("records-1k", 200000, "records of 1 KB in the throughput phases")
	partitions = flag.Int("partitions", 6, "partitions of each topic")
	rate       = flag.Int("rate", 5000, "records/s in the latency phases")
	latPhase   = flag.Duration("latency", 5*time.Second, "length of each latency phase")
	only       = flag.String("targets", "gregor-os,gregor-durable,kfake", "comma-separated brokers to run")
	rounds     = flag.Int("rounds", 1, "rounds of every phase; each figure is the best round")
)

func main() {
	flag.Parse()
	if benchkit.IsKfakeChild() {
		benchkit.RunKfakeChild(*partitions)
		return
	}
	benchkit.HandleSignals("benchcompare")

	bin := benchkit.GregorBinary("benchcompare")
	targets := []target{
		{name: "gregor-os", start: func(ctx context.Context, dir string) (*integration.Process, error) {
			return integration.StartGregor(ctx, bin, dir, "--flush", "os", "--log-level", "warn")
		}},
		{name: "gregor-durable", start: func(ctx context.Context, dir string) (*integration.Process, error) {
			return integration.StartGregor(ctx, bin, dir, "--flush", "durable", "--log-level", "warn")
		}},
		{name: "kfake", start: func(ctx context.Context, _ string) (*integration.Process, error) {
			return benchkit.StartKfake(ctx, "-partitions", fmt.Sprint(*partitions))
		}},
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	fmt.Fprintf(os.Stderr, "benchcompare: %d x 100 B and %d x 1 KB over %d partitions, acks=all; latency at %d records/s for %v; %d round(s)\n",
		*records, *records1k, *partitions, *rate, *latPhase, *rounds)
	loadBefore := benchkit.LoadAvg()
	var running []*running
	for _, t := range targets {
		if want[t.name] {
			r, err := t.launch()
			if err != nil {
				die("%s: %v", t.name, err)
			}
			running = append(running, r)
		}
	}
	if len(running) == 0 {
		die("no targets in -targets %q", *only)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, size := range []struct {
		label string
		n, sz int
		pick  func(r *result) *workload
	}{
		{"100b", *records, 100, func(r *result) *workload { return &r.Small }},
		{"1kb", *records1k, 1000, func(r *result) *workload { return &r.Big }},
	} {
		for round := range *rounds {
			for i := range running {
				r := running[(i+round)%len(running)]
				w, err := measure(ctx, r.name, r.p.Addr(), fmt.Sprintf("%s-r%d", size.label, round), size.n, size.sz)
				if err != nil {
					die("%s: %v\nbroker output:\n%s", r.name, err, tail(r.p.Output(), 40))
				}
				size.pick(&r.result).keepBest(w)
			}
		}
	}
	var results []result
	for _, r := range running {
		m, err := r.p.Memory()
		if err != nil {
			die("%s: %v", r.name, err)
		}
		r.result.Memory = m
		if err := r.p.Stop(30 * time.Second); err != nil && r.name != "kfake" {
			fmt.Fprintf(os.Stderr, "%s: unclean stop: %v\n", r.name, err)
		}
		results = append(results, r.result)
	}
	fmt.Printf("load average before: %s, after: %s (2 cores: above ~1.5 the figures are skewed by other work)\n\n", loadBefore, benchkit.LoadAvg())
	benchkit.RunCleanups()
	printTable(os.Stdout, results)
}

// target is one broker under test.
type target struct {
	name  string
	start func(ctx context.Context, dataDir string) (*integration.Process, error)
}

// workload is one record size's figures.
type workload struct {
	Produce, Consume phase
	Latency          latencies
}

// result is everything measured on one broker.
type result struct {
	Name       string
	Small, Big workload // 100 B and 1 KB
	Memory     integration.Memory
}

// running is a started target and what was measured on it.
type running struct {
	name   string
	p      *integration.Process
	result result
}

// launch starts the target's broker with a temporary data directory; both
// are removed at exit.
func (t target) launch() (*running, error) {
	dir, err := os.MkdirTemp("", "benchcompare-"+t.name+"-")
	if err != nil {
		return nil, err
	}
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := t.start(ctx, dir)
	if err != nil {
		return nil, err
	}
	benchkit.AtExit(p.Kill)
	fmt.Fprintf(os.Stderr, "%s: ready on %s (pid %d)\n", t.name, p.Addr(), p.Pid())
	return &running{name: t.name, p: p, result: result{Name: t.name}}, nil
}

// keepBest merges another round's figures: the higher throughput, the
// latency round with the lower p99.
func (w *workload) keepBest(o workload) {
	if w.Produce.Secs == 0 || o.Produce.RecsPerSec() > w.Produce.RecsPerSec() {
		w.Produce = o.Produce
	}
	if w.Consume.Secs == 0 || o.Consume.RecsPerSec() > w.Consume.RecsPerSec() {
		w.Consume = o.Consume
	}
	if len(w.Latency) == 0 || (len(o.Latency) > 0 && o.Latency.quantile(0.99) < w.Latency.quantile(0.99)) {
		w.Latency = o.Latency
	}
}

// measure runs the throughput and latency phases for one record size.
func measure(ctx context.Context, name, addr, label string, n, size int) (workload, error) {
	var w workload
	tput, lat := "bench-"+label+"-tput", "bench-"+label+"-lat"
	if err := createTopics(ctx, addr, int32(*partitions), tput, lat); err != nil {
		return w, fmt.Errorf("create topics: %w", err)
	}
	var err error
	if w.Produce, err = produce(ctx, addr, tput, n, size); err != nil {
		return w, fmt.Errorf("%s produce: %w", label, err)
	}
	fmt.Fprintf(os.Stderr, "%s: %s produce %.0f records/s, %.1f MB/s\n", name, label, w.Produce.RecsPerSec(), w.Produce.MBPerSec())
	if w.Consume, err = consume(ctx, addr, tput, n+1, size); err != nil {
		return w, fmt.Errorf("%s consume: %w", label, err)
	}
	fmt.Fprintf(os.Stderr, "%s: %s consume %.0f records/s, %.1f MB/s\n", name, label, w.Consume.RecsPerSec(), w.Consume.MBPerSec())
	if err := deleteTopics(ctx, addr, tput); err != nil { // free memory before the latency phase
		return w, fmt.Errorf("delete topic: %w", err)
	}
	if *latPhase > 0 {
		if w.Latency, err = latency(ctx, addr, lat, *rate, *latPhase, size); err != nil {
			return w, fmt.Errorf("%s latency: %w", label, err)
		}
		fmt.Fprintf(os.Stderr, "%s: %s latency p50 %v p99 %v\n", name, label, w.Latency.quantile(0.5), w.Latency.quantile(0.99))
	}
	if err := deleteTopics(ctx, addr, lat); err != nil {
		return w, fmt.Errorf("delete topic: %w", err)
	}
	return w, nil
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}

func die(format string, args ...any) { benchkit.Die("benchcompare", format, args...) }
