package connect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/converters"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

const benchRecords = 500_000

// BenchmarkPipeline measures Connect's throughput next to bare franz-go
// clients moving the same records against the same in-process broker in
// the same run: datagen -> topic versus a bare producer, and topic -> file
// sink versus a bare consumer writing the same file. Each side runs
// benchRounds times, alternating; it prints a table of the medians, the
// process CPU each side used, and what generating and converting the
// records costs without Kafka.
//
// Both sides of each row are timed the same way, by a watcher polling
// every 2ms, from the first record seen (in the topic, or in the file) to
// the last: start-up (connector creation, client metadata, group join) is
// left out on both sides, and neither side is timed by a different clock.
func BenchmarkPipeline(b *testing.B) {
	for range b.N {
		benchPipeline(b)
	}
}

func endOffset(tb testing.TB, adm *kadm.Client, topic string) int64 {
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// watch polls progress every 2ms in the background until it reaches n, and
// then sends the time from the first progress seen to completion.
func watch(tb testing.TB, what string, n int64, progress func() int64) <-chan time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		var first time.Time
		deadline := time.Now().Add(2 * time.Minute)
		for {
			p := progress()
			now := time.Now()
			if p > 0 && first.IsZero() {
				first = now
			}
			if p >= n {
				done <- now.Sub(first)
				return
			}
			if now.After(deadline) {
				tb.Errorf("timed out waiting for %s: %d of %d", what, p, n)
				done <- 0
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return done
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// benchRounds is how many times each side of each row runs, alternating
// Connect and bare; the table shows the medians (the machines this runs
// on are shared and noisy).
const benchRounds = 3

// benchSide collects one side of a row over the rounds.
type benchSide struct{ times, cpus []time.Duration }

func (s *benchSide) add(d, cpu time.Duration) {
	s.times, s.cpus = append(s.times, d), append(s.cpus, cpu)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (s *benchSide) rates() string {
	var parts []string
	for _, d := range s.times {
		parts = append(parts, fmt.Sprintf("%.0f", benchRecords/d.Seconds()))
	}
	return strings.Join(parts, " ")
}

func benchPipeline(b *testing.B) {
	br := connecttest.Broker(b)
	dir := b.TempDir()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	h := connecttest.Worker(b, br.Addr(), filepath.Join(dir, "offsets"), map[string]string{
		"key.converter": "StringConverter", "value.converter": "JsonConverter",
		"value.converter.schemas.enable": "false", "offset.flush.interval.ms": "100",
		"consumer.max.poll.records": "10000", "producer.linger.ms": "5",
	})
	defer h.Close()

	var srcConnect, srcBare, sinkConnect, sinkBare benchSide
	var values [][2][]byte // key and value of each record, for the bare clients
	var size int64         // of the sink's file: the values, one a line
	for round := range benchRounds {
		dg, bare := fmt.Sprintf("dg-%d", round), fmt.Sprintf("bare-%d", round)
		for _, t := range []string{dg, bare} {
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, t); err != nil {
				b.Fatal(err)
			}
		}

		// 1. datagen -> topic through Connect.
		c := cpuTime()
		w := watch(b, "datagen records", benchRecords, func() int64 { return endOffset(b, adm, dg) })
		connecttest.Create(b, h, dg, map[string]string{"connector.class": "Datagen", "kafka.topic": dg,
			"quickstart": "pageviews", "iterations": fmt.Sprint(benchRecords), "random.seed": "1"})
		d := <-w
		srcConnect.add(d, cpuTime()-c)

		if values == nil { // the same records, read back once, for the bare clients
			rd, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics(dg), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			for len(values) < benchRecords {
				rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					values = append(values, [2][]byte{r.Key, r.Value})
					size += int64(len(r.Value)) + 1
				})
			}
			rd.Close()
		}

		// 2. Bare producer, same records, same producer settings as the
		// worker's (linger 5ms; kgo's defaults otherwise: acks=all,
		// idempotent, snappy).
		recs := make([]*kgo.Record, len(values))
		for i, kv := range values {
			recs[i] = &kgo.Record{Topic: bare, Key: kv[0], Value: kv[1]}
		}
		pr, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		c = cpuTime()
		w = watch(b, "bare records", benchRecords, func() int64 { return endOffset(b, adm, bare) })
		for _, r := range recs {
			pr.Produce(ctx, r, nil)
		}
		if err := pr.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		d = <-w
		srcBare.add(d, cpuTime()-c)
		pr.Close()

		// 3. topic -> file through Connect's FileStreamSink.
		sink := fmt.Sprintf("sink-%d", round)
		out := filepath.Join(dir, sink+".txt")
		c = cpuTime()
		w = watch(b, "sink file", size, func() int64 { return fileSize(out) })
		connecttest.Create(b, h, sink, map[string]string{"connector.class": "FileStreamSink", "topics": dg, "file": out,
			// The records are JSON text: copy it as text, as the bare consumer does.
			"value.converter": "StringConverter"})
		d = <-w
		sinkConnect.add(d, cpuTime()-c)
		connecttest.Eventually(b, 2*time.Minute, "sink commits", func() bool {
			offs, err := adm.FetchOffsets(ctx, "connect-"+sink)
			if err != nil {
				return false
			}
			o, _ := offs.Lookup(dg, 0)
			return o.At >= benchRecords
		})

		// 4. Bare consumer writing the same file.
		c = cpuTime()
		d = bareConsume(b, br.Addr(), dg, filepath.Join(dir, fmt.Sprintf("bare-%d.txt", round)), size)
		sinkBare.add(d, cpuTime()-c)
	}

	// 5. For scale: what generating and converting the records costs
	// without Kafka (the part of the source row the bare producer skips).
	genOnly := generateAndConvert(b, benchRecords)

	rate := func(d time.Duration) float64 { return benchRecords / d.Seconds() }
	fmt.Printf("\n%-20s %9s %14s %14s %6s   %s\n", "path (median of 3)", "records", "connect rec/s", "bare rec/s", "ratio", "connect | bare, each round")
	for _, row := range []struct {
		name    string
		c, bare *benchSide
	}{{"datagen -> topic", &srcConnect, &srcBare}, {"topic -> file sink", &sinkConnect, &sinkBare}} {
		mc, mb := median(row.c.times), median(row.bare.times)
		fmt.Printf("%-20s %9d %14.0f %14.0f %5.0f%%   %s | %s\n", row.name, benchRecords, rate(mc), rate(mb), 100*rate(mc)/rate(mb), row.c.rates(), row.bare.rates())
	}
	fmt.Printf("process CPU (broker included, median): datagen -> topic %.2fs Connect, %.2fs bare; topic -> file %.2fs Connect, %.2fs bare\n",
		median(srcConnect.cpus).Seconds(), median(srcBare.cpus).Seconds(), median(sinkConnect.cpus).Seconds(), median(sinkBare.cpus).Seconds())
	fmt.Printf("datagen + converters alone, no Kafka: %.0f rec/s\n", rate(genOnly))
	b.ReportMetric(rate(median(srcConnect.times)), "source-rec/s")
	b.ReportMetric(rate(median(srcBare.times)), "bare-produce-rec/s")
	b.ReportMetric(rate(median(sinkConnect.times)), "sink-rec/s")
	b.ReportMetric(rate(median(sinkBare.times)), "bare-consume-rec/s")
}

// bareConsume reads topic from the start with a bare kgo consumer and
// writes the values, one a line, to path until it holds size bytes, then
// syncs it; it returns the time from the first byte written to the last.
func bareConsume(b *testing.B, addr, topic, path string, size int64) time.Duration {
	w := watch(b, "bare file", size, func() int64 { return fileSize(path) })
	co, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer co.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	n := 0
	for n < benchRecords {
		co.PollFetches(context.Background()).EachRecord(func(r *kgo.Record) {
			bw.Write(r.Value)
			bw.WriteByte('\n')
			n++
		})
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return <-w
}

// generateAndConvert polls a pageviews Datagen task directly and runs the
// benchmark's converters (String keys, schemaless JSON values) over n
// records, as the source pipeline does before producing, and returns the
// time it took.
func generateAndConvert(tb testing.TB, n int) time.Duration {
	conn, err := connect.DefaultRegistry.NewConnector("Datagen")
	if err != nil {
		tb.Fatal(err)
	}
	props := map[string]string{"kafka.topic": "dg", "quickstart": "pageviews", "iterations": fmt.Sprint(n), "random.seed": "1"}
	if err := conn.Start(props); err != nil {
		tb.Fatal(err)
	}
	cfgs, err := conn.TaskConfigs(1)
	if err != nil {
		tb.Fatal(err)
	}
	task := conn.(connect.SourceConnector).NewTask()
	if err := task.Start(cfgs[0]); err != nil {
		tb.Fatal(err)
	}
	keyConv, valConv := converters.String{}, &converters.JSON{}
	if err := valConv.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf []byte
	start := time.Now()
	for done := 0; done < n; {
		recs, err := task.Poll(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range recs {
			if cap(buf)-len(buf) < 2048 {
				buf = make([]byte, 0, 32<<10)
			}
			if buf, _, err = keyConv.AppendFromConnectData(buf, r.Topic, r.KeySchema, r.Key); err != nil {
				tb.Fatal(err)
			}
			if buf, _, err = valConv.AppendFromConnectData(buf, r.Topic, r.ValueSchema, r.Value); err != nil {
				tb.Fatal(err)
			}
		}
		done += len(recs)
	}
	return time.Since(start)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				n++
			}
		}
		if err != nil {
			return n
		}
	}
}
