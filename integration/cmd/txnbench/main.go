package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	producerList := flag.String("producers", "1,4", "comma-separated counts of concurrent producers (each its own client and transactional.id, sharing the records); every count is measured")
	rounds := flag.Int("rounds", 3, "rounds of each phase (interleaved); the best is kept")
	addr := flag.String("brokers", "", "use this running broker instead of starting gregor")
	modes := flag.String("modes", "idempotent,transactional", "phases to run")
	flag.BoolVar(&latency, "latency", false, "print per-request round trips (client-side, by API) and, for transactions, the time per Produce calls / Flush / EndTransaction")
	flag.BoolVar(&tv1, "tv1", false, "cap EndTxn at v4 so the client keeps the classic transaction protocol (AddPartitionsToTxn before producing) even on a broker offering KIP-890 part 2")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*producerList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fmt.Fprintf(os.Stderr, "txnbench: -producers: %q is not a positive count\n", f)
			os.Exit(2)
		}
		counts = append(counts, c)
	}
	if *addr != "" {
		ctx := context.Background()
		for _, c := range counts {
			for _, mode := range strings.Split(*modes, ",") {
				rate, err := run(ctx, *addr, fmt.Sprintf("txnbench-%s-%d", mode, time.Now().UnixNano()), mode, *n, *txnSize, c)
				if err != nil {
					fmt.Fprintln(os.Stderr, "txnbench:", err)
					os.Exit(1)
				}
				fmt.Printf("%d producer(s) %-13s %9.0f records/s\n", c, mode, rate)
			}
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

	type key struct {
		producers int
		mode      string
	}
	best := map[key]float64{}
	for r := 0; r < *rounds; r++ {
		for _, c := range counts {
			for _, mode := range []string{"idempotent", "transactional"} {
				topic := fmt.Sprintf("txnbench-%s-%d-%d", mode, c, r)
				rate, err := run(ctx, p.Addr(), topic, mode, *n, *txnSize, c)
				if err != nil {
					fmt.Fprintf(os.Stderr, "txnbench: %s: %v\n", mode, err)
					os.Exit(1)
				}
				fmt.Fprintf(os.Stderr, "round %d, %d producer(s): %-13s %9.0f records/s\n", r, c, mode, rate)
				k := key{c, mode}
				best[k] = max(best[k], rate)
			}
		}
	}
	fmt.Printf("\ngregor (default flush), %d records of 100 B, transactions of %d records\n", *n, *txnSize)
	fmt.Printf("%-10s %15s %15s %8s  %s\n", "producers", "idempotent/s", "transactional/s", "ratio", "target >= 0.70")
	for _, c := range counts {
		idem, tx := best[key{c, "idempotent"}], best[key{c, "transactional"}]
		verdict := "ok"
		if tx < 0.7*idem {
			verdict = "MISSED"
		}
		fmt.Printf("%-10d %15.0f %15.0f %8.2f  %s\n", c, idem, tx, tx/idem, verdict)
	}
	fmt.Println("(one producer runs each transaction's AddPartitionsToTxn, Produce and EndTxn round trips back to back; several overlap them, as applications with many producers do)")
}

// run produces n records to a fresh topic from producers concurrent
// clients, idempotently or in transactions of txnSize records, and returns
// records/s. Each client produces n/producers records; the clock runs from
// when every client is warmed up until the last one is done.
func run(ctx context.Context, addr, topic, mode string, n, txnSize, producers int) (float64, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		return 0, err
	}
	hook := &rtts{by: map[int16][]time.Duration{}}
	clients := make([]*kgo.Client, producers)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		cl, err := newProducer(ctx, addr, topic, fmt.Sprintf("%s-%d", topic, i), mode, hook)
		if err != nil {
			return 0, fmt.Errorf("producer %d: %w", i, err)
		}
		clients[i] = cl
	}
	hook.mu.Lock()
	clear(hook.by) // measure the timed loop only
	hook.mu.Unlock()
	errs := make([]error, producers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = produceLoop(ctx, cl, mode, n/producers, txnSize)
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if latency {
		hook.print(mode)
	}
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n/producers*producers) / secs, nil
}

// newProducer returns a warmed-up client: connections, metadata, the
// producer ID (and, for the first transactional client, the coordinator's
// __transaction_state topic) are set up outside the measurement.
func newProducer(ctx context.Context, addr, topic, txnID, mode string, hook *rtts) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(200000)}
	if mode == "transactional" {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	if tv1 {
		v := kversion.Stable()
		v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
		opts = append(opts, kgo.MaxVersions(v))
	}
	if latency {
		opts = append(opts, kgo.WithHooks(hook))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if mode == "transactional" {
		if err := cl.BeginTransaction(); err != nil {
			cl.Close()
			return nil, err
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 100)}).FirstErr(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("warm-up produce: %w", err)
	}
	if mode == "transactional" {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			cl.Close()
			return nil, fmt.Errorf("warm-up commit: %w", err)
		}
	}
	return cl, nil
}

// produceLoop produces n records of 100 B with cl, idempotently or in
// transactions of txnSize records.
func produceLoop(ctx context.Context, cl *kgo.Client, mode string, n, txnSize int) error {
	value := make([]byte, 100)
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
	if mode == "idempotent" {
		for i := 0; i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	var inProduce, inFlush, inEnd time.Duration
	txns := 0
	for done := 0; done < n; done += txnSize {
		a := time.Now()
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin transaction %d: %w", done/txnSize, err)
		}
		for i := 0; i < txnSize && done+i < n; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
		}
		b := time.Now()
		if err := cl.Flush(ctx); err != nil { // EndTransaction does not flush
			return err
		}
		c := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("commit transaction %d (first produce error %v): %w", done/txnSize, firstErr, err)
		}
		inProduce, inFlush, inEnd = inProduce+b.Sub(a), inFlush+c.Sub(b), inEnd+time.Since(c)
		txns++
	}
	if latency && txns > 0 {
		per := func(d time.Duration) time.Duration { return (d / time.Duration(txns)).Round(time.Microsecond) }
		fmt.Fprintf(os.Stderr, "  %-13s per transaction: Produce calls %v, Flush %v, EndTransaction %v\n", mode, per(inProduce), per(inFlush), per(inEnd))
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}
