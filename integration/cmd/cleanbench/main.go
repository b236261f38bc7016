// Command cleanbench measures Gregor's log cleaner end to end (issue 6's
// performance proof): the cleaner's throughput in MB/s on a large dirty log,
// and produce throughput while the cleaner runs compared with produce
// throughput while it is idle (target: at least 80%). `make bench` runs it.
//
// One gregor (GREGOR_BIN) runs with log.cleaner.backoff.ms=100. The program
//
//  1. fills topic "dirty" (one partition, cleanup.policy=delete, 64 MiB
//     segments) with -dirty-mb MB of records over -keys keys;
//  2. produces 100 B records to topic "load" (acks=all) for -idle: the
//     idle figure;
//  3. switches "dirty" to cleanup.policy=compact and, at once, produces to
//     "load" again until the broker logs that it cleaned dirty-0: the
//     figure while the cleaner runs;
//  4. produces for -idle once more (idle again; the idle figure is the mean
//     of 2 and 4).
//
// The cleaner's MB/s is the bytes it read over the time it took, from the
// broker's "cleaned log" lines. Figures only; nothing is asserted.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/cleanbench
//	go run ./integration/cmd/cleanbench -dirty-mb 1024
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/integration"
)

var (
	dirtyMB   = flag.Int("dirty-mb", 200, "size of the dirty log in MB (the issue names 1 GB)")
	keys      = flag.Int("keys", 10000, "distinct keys in the dirty log")
	valueSize = flag.Int("value-size", 512, "value size of the dirty log's records")
	idle      = flag.Duration("idle", 3*time.Second, "length of each idle produce phase")
	maxClean  = flag.Duration("max-clean", 2*time.Minute, "longest wait for the cleaner")
)

// errNoClean reports a cleaner that did not finish in time.
var errNoClean = errors.New("the cleaner did not report cleaning dirty-0")

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cleanbench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, cleanup, err := gregorBinary()
	if err != nil {
		return err
	}
	defer cleanup()
	dir, err := os.MkdirTemp("", "cleanbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := integration.StartGregor(sctx, bin, dir, "--set", "log.cleaner.backoff.ms=100")
	if err != nil {
		return err
	}
	defer p.Kill()
	fmt.Fprintf(os.Stderr, "cleanbench: gregor ready on %s (pid %d); dirty log %d MB over %d keys, %d B values\n",
		p.Addr(), p.Pid(), *dirtyMB, *keys, *valueSize)
	loadBefore := loadAvg()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // sizes on disk as given
		kgo.MaxBufferedRecords(100000), kgo.DefaultProduceTopic("load"))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := createBenchTopics(ctx, adm); err != nil {
		return err
	}

	start := time.Now()
	if err := fill(ctx, cl); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cleanbench: filled dirty in %v\n", time.Since(start).Round(time.Millisecond))

	idle1, err := produce(ctx, cl, func(el time.Duration) bool { return el >= *idle })
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cleanbench: idle: %.0f records/s\n", idle1)

	before := len(cleanedLines(p.Output()))
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "dirty"); err != nil {
		return fmt.Errorf("switch dirty to compact: %w", err)
	}
	var timedOut bool
	during, err := produce(ctx, cl, func(el time.Duration) bool {
		if el >= *maxClean {
			timedOut = true
			return true
		}
		return len(cleanedLines(p.Output())) > before
	})
	if err != nil {
		return err
	}
	if timedOut {
		return fmt.Errorf("%w within %v", errNoClean, *maxClean)
	}
	fmt.Fprintf(os.Stderr, "cleanbench: while cleaning: %.0f records/s\n", during)
	idle2, err := produce(ctx, cl, func(el time.Duration) bool { return el >= *idle })
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cleanbench: idle again: %.0f records/s\n", idle2)

	if err := p.Stop(30 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "cleanbench: unclean stop: %v\n", err)
	}
	return report(cleanedLines(p.Output())[before:], loadBefore, (idle1+idle2)/2, during)
}

// createBenchTopics creates the dirty topic (deleting at first, so it fills
// without cleaning) and the load topic the produce rate is measured on.
func createBenchTopics(ctx context.Context, adm *kadm.Client) error {
	for _, t := range []struct {
		name  string
		parts int32
		cfg   map[string]*string
	}{
		{"dirty", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete"), "segment.bytes": kadm.StringPtr(strconv.Itoa(64 << 20))}},
		{"load", 3, nil},
	} {
		resp, err := adm.CreateTopic(ctx, t.parts, 1, t.cfg, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// report prints the cleaner's rate from its "cleaned log" lines and the
// produce rates idle and while cleaning.
func report(cleaned [][]string, loadBefore string, idleMean, during float64) error {
	var read, written int64
	var took time.Duration
	for _, m := range cleaned {
		r, _ := strconv.ParseInt(m[1], 10, 64)
		w, _ := strconv.ParseInt(m[2], 10, 64)
		d, err := time.ParseDuration(m[3])
		if err != nil {
			return fmt.Errorf("cleaned log line: took=%s: %w", m[3], err)
		}
		read, written, took = read+r, written+w, took+d
	}
	fmt.Printf("load average before: %s, after: %s (2 cores: above ~1.5 the figures are skewed by other work)\n\n", loadBefore, loadAvg())
	fmt.Printf("log cleaner: %d MB dirty log, %d keys, %d B values\n", *dirtyMB, *keys, *valueSize)
	fmt.Printf("  cleaner read %.1f MB, wrote %.2f MB in %v: %.1f MB/s\n",
		float64(read)/1e6, float64(written)/1e6, took.Round(time.Millisecond), float64(read)/1e6/took.Seconds())
	fmt.Printf("  produce 100 B records, acks=all, idle (mean of before and after): %.0f records/s\n", idleMean)
	fmt.Printf("  produce while the cleaner runs:                               %.0f records/s\n", during)
	verdict := "ok"
	if during < 0.8*idleMean {
		verdict = "MISSED"
	}
	fmt.Printf("  while cleaning / idle: %.2f  (target >= 0.80)  %s\n", during/idleMean, verdict)
	return nil
}

// cleanedRE matches the broker's line for a finished cleaning of dirty-0.
var cleanedRE = regexp.MustCompile(`msg="cleaned log" log=dirty-0 .*read=(\d+) written=(\d+) .*took=(\S+)`)

func cleanedLines(out string) [][]string { return cleanedRE.FindAllStringSubmatch(out, -1) }

// fill produces -dirty-mb MB of keyed records to "dirty".
func fill(ctx context.Context, cl *kgo.Client) error {
	val := make([]byte, *valueSize)
	rand.Read(val) // incompressible, though nothing is compressed
	n := (*dirtyMB << 20) / (*valueSize + 20)
	var failed atomic.Pointer[error]
	for i := range n {
		if e := failed.Load(); e != nil {
			return *e
		}
		r := &kgo.Record{Topic: "dirty", Key: []byte(fmt.Sprintf("key-%07d", i%*keys)), Value: val}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				err = fmt.Errorf("fill dirty: %w", err)
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("fill dirty: %w", err)
	}
	if e := failed.Load(); e != nil {
		return *e
	}
	return nil
}

// produce sends 100 B records to "load" until done says so (checked every
// 1,000 records with the time elapsed), waits for every acknowledgement and
// returns the acknowledged records per second.
func produce(ctx context.Context, cl *kgo.Client, done func(time.Duration) bool) (float64, error) {
	val := make([]byte, 100)
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	start := time.Now()
	for i := 0; ; i++ {
		if i%1000 == 0 && done(time.Since(start)) {
			break
		}
		if e := failed.Load(); e != nil {
			return 0, *e
		}
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				err = fmt.Errorf("produce load: %w", err)
				failed.CompareAndSwap(nil, &err)
				return
			}
			acked.Add(1)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("produce load: %w", err)
	}
	if e := failed.Load(); e != nil {
		return 0, *e
	}
	return float64(acked.Load()) / time.Since(start).Seconds(), nil
}

// gregorBinary returns GREGOR_BIN or builds ./cmd/gregor into a temporary
// directory, with the function that removes it.
func gregorBinary() (string, func(), error) {
	if bin := os.Getenv("GREGOR_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "cleanbench-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "gregor")
	if err := integration.BuildProgram(integration.MainModule+"/cmd/gregor", bin); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build gregor: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// loadAvg is the 1-minute load average from /proc/loadavg.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
