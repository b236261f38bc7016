package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/gregorhq/gregor/integration"
)

var latency, tv1 bool

// rtts collects the client-side end-to-end time of every request by API.
type rtts struct {
	mu sync.Mutex
	by map[int16][]time.Duration
}

func (h *rtts) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	h.mu.Lock()
	h.by[key] = append(h.by[key], e.DurationE2E())
	h.mu.Unlock()
}

func (h *rtts) print(mode string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]int, 0, len(h.by))
	for k, v := range h.by {
		if len(v) >= 10 {
			keys = append(keys, int(k))
		}
	}
	sort.Ints(keys)
	for _, k := range keys {
		v := h.by[int16(k)]
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		var sum time.Duration
		for _, d := range v {
			sum += d
		}
		fmt.Fprintf(os.Stderr, "  %-13s %-19s n=%-6d mean=%-9v p50=%-9v p90=%-9v p99=%v\n", mode, kmsg.NameForKey(int16(k)), len(v),
			(sum / time.Duration(len(v))).Round(time.Microsecond), v[len(v)/2].Round(time.Microsecond), v[len(v)*9/10].Round(time.Microsecond), v[len(v)*99/100].Round(time.Microsecond))
	}
}

func main() {
	n := flag.Int("records", 500000, "records of 100 B per phase")
	txnSize := flag.Int("txn-size", 1000, "records per transaction")
	rounds := flag.Int("rounds", 3, "rounds of each phase (interleaved); the best is kept")
	addr := flag.String("brokers", "", "use this running broker instead of starting gregor")
	modes := flag.String("modes", "idempotent,transactional", "phases to run")
	flag.BoolVar(&latency, "latency", false, "print per-request round trips (client-side, by API) and, for transactions, the time per Produce calls / Flush / EndTransaction")
	flag.BoolVar(&tv1, "tv1", false, "cap EndTxn at v4 so the client keeps the classic transaction protocol (AddPartitionsToTxn before producing) even on a broker offering KIP-890 part 2")
	flag.Parse()
	if *addr != "" {
		ctx := context.Background()
		for _, mode := range strings.Split(*modes, ",") {
			rate, err := run(ctx, *addr, fmt.Sprintf("txnbench-%s-%d", mode, time.Now().UnixNano()), mode, *n, *txnSize)
			if err != nil {
				fmt.Fprintln(os.Stderr, "txnbench:", err)
				os.Exit(1)
			}
			fmt.Printf("%-13s %9.0f records/s\n", mode, rate)
		}
		return
	}
	bin := os.Getenv("GREGOR_BIN")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "txnbench: set GREGOR_BIN to a built gregor binary (make bench does)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "txnbench")
	if err != nil {
		fmt.Fprintln(os.Stderr, "txnbench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := integration.StartGregor(ctx, bin, filepath.Join(dir, "data"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "txnbench: start gregor:", err)
		os.Exit(1)
	}
	defer p.Stop(10 * time.Second)

	best := map[string]float64{}
	for r := 0; r < *rounds; r++ {
		for _, mode := range []string{"idempotent", "transactional"} {
			topic := fmt.Sprintf("txnbench-%s-%d", mode, r)
			rate, err := run(ctx, p.Addr(), topic, mode, *n, *txnSize)
			if err != nil {
				fmt.Fprintf(os.Stderr, "txnbench: %s: %v\n", mode, err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "round %d %-13s %9.0f records/s\n", r, mode, rate)
			best[mode] = max(best[mode], rate)
		}
	}
	fmt.Printf("\n%-28s %12s %10s\n", "gregor (default flush)", "records/s", "MB/s")
	for _, mode := range []string{"idempotent", "transactional"} {
		fmt.Printf("%-28s %12.0f %10.1f\n", mode+" produce", best[mode], best[mode]*100/1e6)
	}
	ratio := best["transactional"] / best["idempotent"]
	verdict := "ok"
	if ratio < 0.7 {
		verdict = "MISSED"
	}
	fmt.Printf("\ntransactional / idempotent (transactions of %d records): %.2f  (target >= 0.70)  %s\n", *txnSize, ratio, verdict)
}

// run produces n records to a fresh topic, idempotently or in transactions
// of txnSize records, and returns records/s.
func run(ctx context.Context, addr, topic, mode string, n, txnSize int) (float64, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		return 0, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(200000)}
	if mode == "transactional" {
		opts = append(opts, kgo.TransactionalID(topic))
	}
	if tv1 {
		v := kversion.Stable()
		v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
		opts = append(opts, kgo.MaxVersions(v))
	}
	hook := &rtts{by: map[int16][]time.Duration{}}
	if latency {
		opts = append(opts, kgo.WithHooks(hook))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	value := make([]byte, 100)
	// Warm up outside the measurement: connections, metadata, the producer
	// ID (and, for the first transactional client, the coordinator's
	// __transaction_state topic).
	if mode == "transactional" {
		if err := cl.BeginTransaction(); err != nil {
			return 0, err
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		return 0, fmt.Errorf("warm-up produce: %w", err)
	}
	if mode == "transactional" {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, fmt.Errorf("warm-up commit: %w", err)
		}
	}
	hook.mu.Lock()
	clear(hook.by) // measure the timed loop only
	hook.mu.Unlock()
	var firstErr error
	var mu sync.Mutex
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	t0 := time.Now()
	if mode == "idempotent" {
		for i := 0; i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		if err := cl.Flush(ctx); err != nil {
			return 0, err
		}
	} else {
		var inProduce, inFlush, inEnd time.Duration
		txns := 0
		for done := 0; done < n; done += txnSize {
			a := time.Now()
			if err := cl.BeginTransaction(); err != nil {
				return 0, fmt.Errorf("begin transaction %d: %w", done/txnSize, err)
			}
			for i := 0; i < txnSize && done+i < n; i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, promise)
			}
			b := time.Now()
			if err := cl.Flush(ctx); err != nil { // EndTransaction does not flush
				return 0, err
			}
			c := time.Now()
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return 0, fmt.Errorf("commit transaction %d (first produce error %v): %w", done/txnSize, firstErr, err)
			}
			inProduce, inFlush, inEnd = inProduce+b.Sub(a), inFlush+c.Sub(b), inEnd+time.Since(c)
			txns++
		}
		if latency && txns > 0 {
			per := func(d time.Duration) time.Duration { return (d / time.Duration(txns)).Round(time.Microsecond) }
			fmt.Fprintf(os.Stderr, "  %-13s per transaction: Produce calls %v, Flush %v, EndTransaction %v\n", mode, per(inProduce), per(inFlush), per(inEnd))
		}
	}
	secs := time.Since(t0).Seconds()
	if latency {
		hook.print(mode)
	}
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n) / secs, nil
}
