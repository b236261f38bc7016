package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/integration"
	"github.com/gregorhq/gregor/integration/benchkit"
)

const prog = "connectbench"

var (
	records = flag.Int("records", 1_000_000, "records per row and round")
	rounds  = flag.Int("rounds", 5, "rounds per row; the table shows medians")
	profile = flag.String("worker-profile", "", "write a CPU profile of the worker during each connector's first row to PREFIX-<connector>.pprof")
)

// env is what every row runs against.
type env struct {
	ctx    context.Context
	dir    string
	broker *integration.Process
	worker *worker
	adm    *kadm.Client
}

// side collects one side of a row over the rounds.
type side struct {
	times             []time.Duration
	client, brokerCPU []time.Duration // CPU of the worker or this program, and of the broker
}

func (s *side) add(d, client, broker time.Duration) {
	s.times = append(s.times, d)
	s.client, s.brokerCPU = append(s.client, client), append(s.brokerCPU, broker)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func rate(d time.Duration) float64 { return float64(*records) / d.Seconds() }

func (s *side) rates() string {
	var parts []string
	for _, d := range s.times {
		parts = append(parts, fmt.Sprintf("%.0f", rate(d)))
	}
	return strings.Join(parts, " ")
}

func main() {
	flag.Parse()
	benchkit.HandleSignals(prog)
	defer benchkit.RunCleanups()
	bin := benchkit.GregorBinary(prog)
	dir, err := os.MkdirTemp("", prog+"-")
	if err != nil {
		die("%v", err)
	}
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	ctx := context.Background()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	broker, err := integration.StartGregor(startCtx, bin, filepath.Join(dir, "broker"), "--set", "group.initial.rebalance.delay.ms=0")
	if err != nil {
		die("start broker: %v", err)
	}
	benchkit.AtExit(func() { _ = broker.Stop(10 * time.Second) })
	w, err := startWorker(startCtx, bin, dir, broker.Addr())
	if err != nil {
		die("start worker: %v", err)
	}
	benchkit.AtExit(func() { _ = w.proc.Stop(10 * time.Second) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	if err != nil {
		die("%v", err)
	}
	defer cl.Close()
	e := &env{ctx: ctx, dir: dir, broker: broker, worker: w, adm: kadm.NewClient(cl)}

	fmt.Printf("connectbench: %d pageviews records per row and round, %d rounds, load %s\n", *records, *rounds, benchkit.LoadAvg())
	var srcConnect, srcBare, sinkConnect, sinkBare side
	var recs *recordSet
	for round := range *rounds {
		dg := fmt.Sprintf("dg-%d", round)
		d, c, b := e.datagen(dg)
		srcConnect.add(d, c, b)
		if recs == nil {
			recs = e.readBack(dg)
		}
		d, c, b = e.bareProduce(fmt.Sprintf("bare-%d", round), recs)
		srcBare.add(d, c, b)
		d, c, b = e.fileSink(fmt.Sprintf("sink-%d", round), dg, recs.lines)
		sinkConnect.add(d, c, b)
		d, c, b = e.bareConsume(dg, filepath.Join(dir, fmt.Sprintf("bare-%d.txt", round)), recs.lines)
		sinkBare.add(d, c, b)
	}
	genOnly := generateAndConvert(*records)

	fmt.Printf("\n%-20s %14s %14s %6s   %s\n", fmt.Sprintf("path (median of %d)", *rounds), "connect rec/s", "bare rec/s", "ratio", "connect | bare, each round")
	for _, row := range []struct {
		name    string
		c, bare *side
	}{{"datagen -> topic", &srcConnect, &srcBare}, {"topic -> file sink", &sinkConnect, &sinkBare}} {
		mc, mb := median(row.c.times), median(row.bare.times)
		fmt.Printf("%-20s %14.0f %14.0f %5.0f%%   %s | %s\n", row.name, rate(mc), rate(mb), 100*rate(mc)/rate(mb), row.c.rates(), row.bare.rates())
	}
	fmt.Printf("CPU (median): datagen -> topic: worker %.2fs + broker %.2fs, bare producer %.2fs + broker %.2fs\n",
		median(srcConnect.client).Seconds(), median(srcConnect.brokerCPU).Seconds(), median(srcBare.client).Seconds(), median(srcBare.brokerCPU).Seconds())
	fmt.Printf("              topic -> file: worker %.2fs + broker %.2fs, bare consumer %.2fs + broker %.2fs\n",
		median(sinkConnect.client).Seconds(), median(sinkConnect.brokerCPU).Seconds(), median(sinkBare.client).Seconds(), median(sinkBare.brokerCPU).Seconds())
	fmt.Printf("datagen + converters alone, no Kafka, in this process: %.0f rec/s\n", float64(*records)/genOnly.Seconds())
}

// meter reads the CPU time of a client process and of the broker.
type meter struct {
	pid            int // 0: this process
	client, broker time.Duration
}

func (e *env) startMeter(pid int) meter {
	m := meter{pid: pid, broker: benchkit.ProcessCPU(e.broker.Pid())}
	m.client = m.clientCPU()
	return m
}

func (m meter) clientCPU() time.Duration {
	if m.pid == 0 {
		return benchkit.SelfCPU()
	}
	return benchkit.ProcessCPU(m.pid)
}

func (e *env) stop(m meter) (client, broker time.Duration) {
	return m.clientCPU() - m.client, benchkit.ProcessCPU(e.broker.Pid()) - m.broker
}

// watch polls progress every 2 ms in the background until it reaches n,
// then sends the time from the first progress seen to the last.
func watch(what string, n int64, progress func() int64) <-chan time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		var first time.Time
		deadline := time.Now().Add(5 * time.Minute)
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
				die("timed out waiting for %s: %d of %d", what, p, n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return done
}

// endOffset is the sum of a topic's partitions' end offsets.
func (e *env) endOffset(topic string) int64 {
	ends, err := e.adm.ListEndOffsets(e.ctx, topic)
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

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (e *env) createTopic(name string) {
	if _, err := e.adm.CreateTopic(e.ctx, 1, 1, nil, name); err != nil {
		die("create topic %s: %v", name, err)
	}
}

// bareConsume reads topic from the start with a bare kgo consumer and
// writes the values, one a line, to path until it holds size bytes.
func (e *env) bareConsume(topic, path string, size int64) (time.Duration, time.Duration, time.Duration) {
	m := e.startMeter(0)
	w := watch("bare file", size, func() int64 { return fileSize(path) })
	co, err := kgo.NewClient(kgo.SeedBrokers(e.broker.Addr()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		die("%v", err)
	}
	defer co.Close()
	f, err := os.Create(path)
	if err != nil {
		die("%v", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 256<<10)
	var written int64
	for written < size {
		co.PollFetches(e.ctx).EachRecord(func(r *kgo.Record) {
			bw.Write(r.Value)
			bw.WriteByte('\n')
			written += int64(len(r.Value)) + 1
		})
	}
	if err := bw.Flush(); err != nil {
		die("%v", err)
	}
	d := <-w
	c, b := e.stop(m)
	return d, c, b
}

func die(format string, args ...any) { benchkit.Die(prog, format, args...) }
