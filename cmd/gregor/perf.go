package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newPerfCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure producer and consumer throughput and latency",
		Long: `Load tests like Kafka's kafka-producer-perf-test.sh and
kafka-consumer-perf-test.sh, with the same flag names. A progress line goes to
stderr every second; the summary goes to stdout (as JSON with --output json).`,
		Example: `  gregor perf produce --topic perf --num-records 1000000 --record-size 100 --throughput -1
  gregor perf consume --topic perf --messages 1000000`,
		Args: noArgs,
	}
	cmd.AddCommand(newPerfProduce(g), newPerfConsume(g))
	return cmd
}

// mib is Kafka's perf tools' "MB".
const mib = 1024 * 1024

// maxLatencySamples bounds the memory used for percentiles, as Kafka does.
const maxLatencySamples = 500000

// perfStats accumulates throughput and latency, overall and per reporting
// window. It is safe for concurrent use.
type perfStats struct {
	mu          sync.Mutex
	start       time.Time
	records     int64
	bytes       int64
	failed      int64
	firstErr    error
	latSum      time.Duration
	latMax      time.Duration
	samples     []time.Duration
	sampleEvery int64

	wStart   time.Time
	wRecords int64
	wBytes   int64
	wLatSum  time.Duration
	wLatMax  time.Duration
}

func newPerfStats(expected int64, now time.Time) *perfStats {
	every := expected / maxLatencySamples
	if every < 1 {
		every = 1
	}
	return &perfStats{start: now, wStart: now, sampleEvery: every}
}

// add counts one record of n bytes with its latency.
func (s *perfStats) add(n int, lat time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.records%s.sampleEvery == 0 && len(s.samples) < maxLatencySamples {
		s.samples = append(s.samples, lat)
	}
	s.records++
	s.bytes += int64(n)
	s.latSum += lat
	s.latMax = max(s.latMax, lat)
	s.wRecords++
	s.wBytes += int64(n)
	s.wLatSum += lat
	s.wLatMax = max(s.wLatMax, lat)
}

// fail counts one failed record.
func (s *perfStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// window returns the progress line for the window since the last call and
// starts a new window.
func (s *perfStats) window(now time.Time, verb string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := now.Sub(s.wStart).Seconds()
	line := fmt.Sprintf("%d records %s, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		s.wRecords, verb, rate(float64(s.wRecords), el), rate(float64(s.wBytes)/mib, el),
		ms(avg(s.wLatSum, s.wRecords)), ms(s.wLatMax))
	s.wStart, s.wRecords, s.wBytes, s.wLatSum, s.wLatMax = now, 0, 0, 0, 0
	return line
}

// perfSummary is the final result of a perf run.
type perfSummary struct {
	Records       int64   `json:"records"`
	Failed        int64   `json:"failed"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyAvgMs  float64 `json:"latency_avg_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP95Ms  float64 `json:"latency_p95_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyP999Ms float64 `json:"latency_p999_ms"`
}

func (s *perfStats) summary(now time.Time) perfSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := now.Sub(s.start).Seconds()
	sorted := append([]time.Duration(nil), s.samples...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return perfSummary{
		Records: s.records, Failed: s.failed, Bytes: s.bytes, Seconds: el,
		RecordsPerSec: rate(float64(s.records), el), MBPerSec: rate(float64(s.bytes)/mib, el),
		LatencyAvgMs: ms(avg(s.latSum, s.records)), LatencyMaxMs: ms(s.latMax),
		LatencyP50Ms: ms(percentile(sorted, 0.5)), LatencyP95Ms: ms(percentile(sorted, 0.95)),
		LatencyP99Ms: ms(percentile(sorted, 0.99)), LatencyP999Ms: ms(percentile(sorted, 0.999)),
	}
}

// percentile returns the p-th (0..1) value of sorted latencies, the way
// Kafka's perf tool picks it (index floor(p*n)).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func rate(n, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return n / secs
}

func avg(sum time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summaryLine formats the summary like kafka-producer-perf-test.sh.
func (p perfSummary) summaryLine(verb string) string {
	return fmt.Sprintf("%d records %s, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		p.Records, verb, p.RecordsPerSec, p.MBPerSec, p.LatencyAvgMs, p.LatencyMaxMs, p.LatencyP50Ms, p.LatencyP95Ms, p.LatencyP99Ms, p.LatencyP999Ms)
}

// pacer spaces sends so that they average at most perSec per second.
type pacer struct {
	start  time.Time
	perSec float64
}

// wait returns how long to wait before sending record i (0-based).
func (p pacer) wait(i int64, now time.Time) time.Duration {
	if p.perSec <= 0 {
		return 0
	}
	due := p.start.Add(time.Duration(float64(i) / p.perSec * float64(time.Second)))
	return due.Sub(now)
}

// randomPayload is n random upper-case letters, as Kafka's perf tool sends.
func randomPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + rand.IntN(26))
	}
	return b
}

// progress prints a window line to w every interval until stop is closed.
func progress(w io.Writer, s *perfStats, verb string, interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			fmt.Fprintln(w, s.window(now, verb))
		}
	}
}

type perfProduceOptions struct {
	topic       string
	numRecords  int64
	recordSize  int
	throughput  float64
	acks        string
	compression string
}

func newPerfProduce(g *globals) *cobra.Command {
	var o perfProduceOptions
	cmd := &cobra.Command{
		Use:   "produce --topic T --num-records N --record-size B [--throughput R]",
		Short: "Producer load test: throughput and latency percentiles",
		Long: `Produce N records of B random bytes as fast as possible, or at most R records per
second with --throughput, and report records/sec, MB/sec and latency (from send to
acknowledgement): average, maximum and the 50th, 95th, 99th and 99.9th percentiles.
Ctrl-C stops early and still prints the summary.`,
		Example: `  gregor perf produce --topic perf --num-records 100000 --record-size 1024
  gregor perf produce --topic perf --num-records 50000 --record-size 100 --throughput 5000 --acks 1 --compression zstd`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPerfProduce(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.Int64Var(&o.numRecords, "num-records", 0, "number of records to produce (required)")
	f.IntVar(&o.recordSize, "record-size", 100, "size of each record in bytes")
	f.Float64Var(&o.throughput, "throughput", -1, "maximum records per second (-1: no limit)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	_ = cmd.RegisterFlagCompletionFunc("topic", completeTopics(g))
	return cmd
}

func runPerfProduce(cmd *cobra.Command, g *globals, o perfProduceOptions) error {
	if o.topic == "" {
		return usagef("--topic is required")
	}
	if o.numRecords <= 0 {
		return usagef("--num-records must be > 0")
	}
	if o.recordSize < 0 {
		return usagef("--record-size must be >= 0")
	}
	if o.throughput == 0 {
		return usagef("--throughput must be > 0, or -1 for no limit")
	}
	acks, err := parseAcks(o.acks)
	if err != nil {
		return err
	}
	codec, err := parseCompression(o.compression)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(o.topic), kgo.RequiredAcks(acks), kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(g.timeout), kgo.AllowAutoTopicCreation(), kgo.MaxBufferedRecords(100000),
	}
	if o.acks != "all" && o.acks != "-1" {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := g.client(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := cmdContext(cmd)
	payload := randomPayload(o.recordSize)
	start := time.Now()
	stats := newPerfStats(o.numRecords, start)
	stop, done := make(chan struct{}), make(chan struct{})
	go progress(cmd.ErrOrStderr(), stats, "sent", time.Second, stop, done)
	pace := pacer{start: start, perSec: o.throughput}
	for i := int64(0); i < o.numRecords && ctx.Err() == nil; i++ {
		if d := pace.wait(i, time.Now()); d > time.Millisecond {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: payload}, func(r *kgo.Record, err error) {
			if err != nil {
				stats.fail(kafkaErr("Produce", err))
				return
			}
			stats.add(len(r.Value), time.Since(sent))
		})
	}
	fctx, cancel := context.WithTimeout(context.Background(), g.timeout+5*time.Second)
	defer cancel()
	ferr := cl.Flush(fctx)
	close(stop)
	<-done
	sum := stats.summary(time.Now())
	if err := writePerfSummary(cmd, g, sum, "sent"); err != nil {
		return err
	}
	if ferr != nil {
		return fmt.Errorf("flush: %w", ferr)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d records failed: %w", sum.Failed, stats.firstErr)
	}
	return nil
}

func writePerfSummary(cmd *cobra.Command, g *globals, s perfSummary, verb string) error {
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, s)
	}
	_, err := fmt.Fprintln(w, s.summaryLine(verb))
	return err
}

type perfConsumeOptions struct {
	topic    string
	messages int64
	group    string
}

func newPerfConsume(g *globals) *cobra.Command {
	var o perfConsumeOptions
	cmd := &cobra.Command{
		Use:   "consume --topic T --messages N",
		Short: "Consumer load test: throughput and end-to-end latency",
		Long: `Consume N records from the start of TOPIC (all partitions, or as a member of
--group) and report records/sec and MB/sec. Latency is end to end: from each
record's timestamp to when it was consumed, which measures the pipeline when a
producer runs at the same time (on old data it is simply the data's age). Fails if
no record arrives for --timeout before N were consumed.`,
		Example: `  gregor perf consume --topic perf --messages 100000
  gregor perf consume --topic perf --messages 100000 --group perf-consumer --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPerfConsume(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.Int64Var(&o.messages, "messages", 0, "number of records to consume (required)")
	f.StringVar(&o.group, "group", "", "consume as a member of this group (default: no group)")
	_ = cmd.RegisterFlagCompletionFunc("topic", completeTopics(g))
	return cmd
}

func runPerfConsume(cmd *cobra.Command, g *globals, o perfConsumeOptions) error {
	if o.topic == "" {
		return usagef("--topic is required")
	}
	if o.messages <= 0 {
		return usagef("--messages must be > 0")
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}
	if o.group != "" {
		opts = append(opts, kgo.ConsumerGroup(o.group))
	}
	cl, err := g.client(cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkTopics(cmd, g, cl, []string{o.topic}, nil); err != nil {
		return err
	}
	ctx := cmdContext(cmd)
	start := time.Now()
	stats := newPerfStats(o.messages, start)
	stop, done := make(chan struct{}), make(chan struct{})
	go progress(cmd.ErrOrStderr(), stats, "consumed", time.Second, stop, done)
	var loopErr error
	for stats.count() < o.messages {
		pctx, cancel := context.WithTimeout(ctx, g.timeout)
		fetches := cl.PollRecords(pctx, int(o.messages-stats.count()))
		cancel()
		if ctx.Err() != nil {
			break
		}
		if fetches.NumRecords() == 0 && pctx.Err() != nil {
			loopErr = fmt.Errorf("consumed only %d of %d records: none arrived for %s (--timeout)", stats.count(), o.messages, g.timeout)
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			if loopErr == nil && ctx.Err() == nil && pctx.Err() == nil {
				loopErr = fmt.Errorf("consume %s/%d: %w", t, p, err)
			}
		})
		if loopErr != nil {
			break
		}
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			stats.add(len(r.Value)+len(r.Key), now.Sub(r.Timestamp))
		})
	}
	close(stop)
	<-done
	sum := stats.summary(time.Now())
	if err := writePerfSummary(cmd, g, sum, "consumed"); err != nil {
		return err
	}
	return loopErr
}

func (s *perfStats) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}
