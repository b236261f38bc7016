package connect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

const benchRecords = 500_000

// BenchmarkPipeline measures Connect's throughput next to bare franz-go
// clients moving the same records against the same in-process broker in
// the same run: datagen -> topic versus a bare producer, and topic -> file
// sink versus a bare consumer writing the same file. It prints a table.
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
	for _, t := range []string{"dg", "bare"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, t); err != nil {
			b.Fatal(err)
		}
	}
	h := connecttest.Worker(b, br.Addr(), filepath.Join(dir, "offsets"), map[string]string{
		"key.converter": "StringConverter", "value.converter": "JsonConverter",
		"value.converter.schemas.enable": "false", "offset.flush.interval.ms": "100",
		"consumer.max.poll.records": "10000", "producer.linger.ms": "5",
	})
	defer h.Close()

	// 1. datagen -> topic through Connect.
	c1 := cpuTime()
	w1 := watch(b, "datagen records", benchRecords, func() int64 { return endOffset(b, adm, "dg") })
	connecttest.Create(b, h, "dg", map[string]string{"connector.class": "Datagen", "kafka.topic": "dg",
		"quickstart": "pageviews", "iterations": fmt.Sprint(benchRecords), "random.seed": "1"})
	srcConnect := <-w1
	srcConnectCPU := cpuTime() - c1

	// The same records, read back, for the bare clients.
	var recs []*kgo.Record
	var size int64 // of the sink's file: the values, one a line
	rd, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("dg"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	for len(recs) < benchRecords {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			recs = append(recs, &kgo.Record{Topic: "bare", Key: r.Key, Value: r.Value})
			size += int64(len(r.Value)) + 1
		})
	}
	rd.Close()

	// 2. Bare producer, same records, same producer settings as the
	// worker's (linger 5ms; kgo's defaults otherwise: acks=all,
	// idempotent, snappy).
	pr, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	c2 := cpuTime()
	w2 := watch(b, "bare records", benchRecords, func() int64 { return endOffset(b, adm, "bare") })
	for _, r := range recs {
		pr.Produce(ctx, r, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	srcBare := <-w2
	srcBareCPU := cpuTime() - c2
	pr.Close()

	// 3. topic -> file through Connect's FileStreamSink.
	out := filepath.Join(dir, "sink.txt")
	w3 := watch(b, "sink file", size, func() int64 { return fileSize(out) })
	connecttest.Create(b, h, "sink", map[string]string{"connector.class": "FileStreamSink", "topics": "dg", "file": out,
		// The records are JSON text: copy it as text, as the bare consumer does.
		"value.converter": "StringConverter"})
	sinkConnect := <-w3
	connecttest.Eventually(b, 2*time.Minute, "sink commits", func() bool {
		offs, err := adm.FetchOffsets(ctx, "connect-sink")
		if err != nil {
			return false
		}
		o, _ := offs.Lookup("dg", 0)
		return o.At >= benchRecords
	})

	// 4. Bare consumer writing the same file.
	bareOut := filepath.Join(dir, "bare.txt")
	w4 := watch(b, "bare file", size, func() int64 { return fileSize(bareOut) })
	co, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("dg"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(bareOut)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	n := 0
	for n < benchRecords {
		co.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			w.Write(r.Value)
			w.WriteByte('\n')
			n++
		})
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	sinkBare := <-w4
	co.Close()

	rate := func(d time.Duration) float64 { return benchRecords / d.Seconds() }
	fmt.Printf("\n%-22s %9s %15s %15s %7s\n", "path", "records", "connect rec/s", "bare rec/s", "ratio")
	defer fmt.Printf("datagen -> topic: process CPU %.2fs over %.2fs for Connect, %.2fs over %.2fs for the bare producer (broker included)\n",
		srcConnectCPU.Seconds(), srcConnect.Seconds(), srcBareCPU.Seconds(), srcBare.Seconds())
	for _, row := range []struct {
		name    string
		c, bare time.Duration
	}{{"datagen -> topic", srcConnect, srcBare}, {"topic -> file sink", sinkConnect, sinkBare}} {
		fmt.Printf("%-22s %9d %15.0f %15.0f %6.0f%%\n", row.name, benchRecords, rate(row.c), rate(row.bare), 100*rate(row.c)/rate(row.bare))
	}
	b.ReportMetric(rate(srcConnect), "source-rec/s")
	b.ReportMetric(rate(srcBare), "bare-produce-rec/s")
	b.ReportMetric(rate(sinkConnect), "sink-rec/s")
	b.ReportMetric(rate(sinkBare), "bare-consume-rec/s")
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
