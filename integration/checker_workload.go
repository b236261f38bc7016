package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WorkloadConfig configures StartWorkload. Seeds, Topic and Partitions are
// required; the topic must exist with that many partitions.
type WorkloadConfig struct {
	Seeds      []string
	Topic      string
	Partitions int32

	// Producers idempotent acks=all producers write values "pN-SEQ",
	// each to the partitions in turn.
	Producers int
	// TxnProducers transactional producers write values "tN-SEQ" in
	// transactions of 1 to TxnRecords records, aborting every AbortEvery-th
	// transaction and committing the others.
	TxnProducers int
	// AssignConsumers consumers read every partition from the start by
	// assignment; GroupConsumers members of Group (default Topic+"-group")
	// read by subscription and commit what they read after every poll.
	AssignConsumers int
	GroupConsumers  int
	Group           string

	Rate            int           // records a second per producer (default 100)
	InFlight        int           // unacknowledged records per producer and partition (default 8)
	DeliveryTimeout time.Duration // kgo.RecordDeliveryTimeout (default 30s)
	TxnRecords      int           // most records in a transaction (default 4)
	AbortEvery      int           // abort one transaction in AbortEvery (default 3)
	TxnTimeout      time.Duration // kgo.TransactionTimeout (default 10s)
	// StopGrace bounds how long Stop waits for producers to hear the
	// outcome of what they sent before it cancels their clients' context
	// (kgo.WithContext): BeginTransaction takes no context and retries
	// CONCURRENT_TRANSACTIONS until its client ends. Default:
	// DeliveryTimeout + TxnTimeout + 10s.
	StopGrace time.Duration
	// OffsetSampling, if set, makes the workload fetch the group's
	// committed offsets (OffsetFetch) that often while it runs, for the
	// checker: they must never go backwards nor fall below an
	// acknowledged commit.
	OffsetSampling time.Duration
	// Churn, if set, makes a group member leave and a new one join in its
	// place every Churn, so the group rebalances under load.
	Churn time.Duration
	// ClientOpts are added to every client's options.
	ClientOpts []kgo.Opt
	// Logf, if set, gets a line for every client error worth knowing.
	Logf func(format string, args ...any)
	// OnError, if set, hears every error a client of the workload sees:
	// a write that failed or whose outcome is unknown (client "pN"), a
	// fetch error (the consumer's name), a failed commit (the member's
	// name, with the error as Commit.Err says it). A client closed by the
	// workload's stop is not an error. It may be called concurrently.
	OnError func(client string, err error)
}

func (c *WorkloadConfig) validate() error {
	switch {
	case len(c.Seeds) == 0:
		return errors.New("workload: no seeds")
	case c.Topic == "":
		return errors.New("workload: no topic")
	case c.Partitions < 1:
		return fmt.Errorf("workload: %d partitions", c.Partitions)
	case c.Producers+c.TxnProducers < 1:
		return errors.New("workload: no producers")
	}
	if c.Group == "" {
		c.Group = c.Topic + "-group"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Rate, 100)
	def(&c.InFlight, 8)
	def(&c.TxnRecords, 4)
	def(&c.AbortEvery, 3)
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 30 * time.Second
	}
	if c.TxnTimeout <= 0 {
		c.TxnTimeout = 10 * time.Second
	}
	if c.StopGrace <= 0 {
		c.StopGrace = c.DeliveryTimeout + c.TxnTimeout + 10*time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.OnError == nil {
		c.OnError = func(string, error) {}
	}
	return nil
}

// Workload runs producers and consumers against a topic and records
// everything in a History. Start it, inject faults, Stop it, heal, run
// FinalRead, then Check the history.
type Workload struct {
	cfg WorkloadConfig
	h   *History

	prodCtx    context.Context
	prodCancel context.CancelFunc
	prodWG     sync.WaitGroup
	hardCtx    context.Context // the producer clients' context
	hardCancel context.CancelFunc
	consCtx    context.Context
	consCancel context.CancelFunc
	consWG     sync.WaitGroup
	stopOnce   sync.Once

	members atomic.Int64 // group member incarnations started
	prog    progress
}

// StartWorkload starts the producers and consumers of cfg.
func StartWorkload(cfg WorkloadConfig) (*Workload, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Workload{cfg: cfg, h: NewHistory()}
	cfg.Logf("workload: the history's clock starts at %s", time.Now().UTC().Format("15:04:05.000"))
	w.prodCtx, w.prodCancel = context.WithCancel(context.Background())
	w.hardCtx, w.hardCancel = context.WithCancel(context.Background())
	w.consCtx, w.consCancel = context.WithCancel(context.Background())
	for i := range cfg.Producers {
		w.prodWG.Go(func() { w.runProducer(i) })
	}
	for i := range cfg.TxnProducers {
		w.prodWG.Go(func() { w.runTxnProducer(i) })
	}
	for i := range cfg.AssignConsumers {
		w.consWG.Go(func() { w.runAssignConsumer(i) })
	}
	if cfg.GroupConsumers > 0 {
		w.consWG.Go(w.runGroup)
		if cfg.OffsetSampling > 0 {
			w.consWG.Go(w.runOffsetSampler)
		}
	}
	return w, nil
}

// History is the workload's history.
func (w *Workload) History() *History { return w.h }

// Progress counts what a workload has done.
type Progress struct {
	Acked      int64 // writes acknowledged
	Reads      int64 // records read (the final read aside)
	GroupReads int64 // records read by group members
	Commits    int64 // group commits acknowledged
	Txns       int64 // transactions committed
}

// String spells the counts out.
func (p Progress) String() string {
	return fmt.Sprintf("%d writes acknowledged, %d records read (%d by the group), %d commits, %d transactions committed",
		p.Acked, p.Reads, p.GroupReads, p.Commits, p.Txns)
}

// progress is Progress kept with atomic counters.
type progress struct{ acked, reads, groupReads, commits, txns atomic.Int64 }

// Progress is what the workload has done so far.
func (w *Workload) Progress() Progress {
	return Progress{w.prog.acked.Load(), w.prog.reads.Load(), w.prog.groupReads.Load(), w.prog.commits.Load(), w.prog.txns.Load()}
}

// WaitProgress waits until each count of the workload's Progress has grown
// by at least as much as more says, or ctx ends. Zero counts need nothing.
func (w *Workload) WaitProgress(ctx context.Context, more Progress) error {
	p0 := w.Progress()
	for {
		p := w.Progress()
		d := Progress{p.Acked - p0.Acked, p.Reads - p0.Reads, p.GroupReads - p0.GroupReads, p.Commits - p0.Commits, p.Txns - p0.Txns}
		if d.Acked >= more.Acked && d.Reads >= more.Reads && d.GroupReads >= more.GroupReads && d.Commits >= more.Commits && d.Txns >= more.Txns {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workload: wanted %v more, got %v more: %w", more, d, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the producers (waiting for the outcome of what they sent, up
// to StopGrace) and then the consumers, and returns when every client is
// closed.
func (w *Workload) Stop() {
	w.stopOnce.Do(func() {
		w.prodCancel()
		hard := time.AfterFunc(w.cfg.StopGrace, func() {
			w.cfg.Logf("workload: producers still running %v after the stop: canceling their clients", w.cfg.StopGrace)
			w.hardCancel()
		})
		w.prodWG.Wait()
		hard.Stop()
		w.hardCancel()
		w.consCancel()
		w.consWG.Wait()
	})
}

// clientOpts are the options every client of the workload starts with.
func (w *Workload) clientOpts(opts ...kgo.Opt) []kgo.Opt {
	base := []kgo.Opt{kgo.SeedBrokers(w.cfg.Seeds...), kgo.DefaultProduceTopic(w.cfg.Topic)}
	return append(append(base, w.cfg.ClientOpts...), opts...)
}

// inflight bounds each partition's unacknowledged records of one producer,
// so a partition that stops answering does not hold up the others.
type inflight struct {
	mu   sync.Mutex
	n    []int
	max  int
	free chan struct{} // a token whenever a slot frees
}

func newInflight(partitions int32, max int) *inflight {
	return &inflight{n: make([]int, partitions), max: max, free: make(chan struct{}, 1)}
}

// acquire takes a slot of the first partition from start on that has
// one, waiting for one if none has; false if ctx ended first.
func (f *inflight) acquire(ctx context.Context, start int) (int32, bool) {
	for {
		f.mu.Lock()
		for i := range f.n {
			p := (start + i) % len(f.n)
			if f.n[p] < f.max {
				f.n[p]++
				f.mu.Unlock()
				return int32(p), true
			}
		}
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, false
		case <-f.free:
		}
	}
}

func (f *inflight) release(p int32) {
	f.mu.Lock()
	f.n[p]--
	f.mu.Unlock()
	select {
	case f.free <- struct{}{}:
	default:
	}
}

// runProducer is idempotent producer i: values "pI-SEQ" at the configured
// rate until the workload stops.
func (w *Workload) runProducer(i int) {
	name := fmt.Sprintf("p%d", i)
	cl, err := kgo.NewClient(w.clientOpts(
		kgo.WithContext(w.hardCtx),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordDeliveryTimeout(w.cfg.DeliveryTimeout),
	)...)
	if err != nil {
		w.cfg.Logf("workload: producer %s: %v", name, err)
		return
	}
	defer cl.Close() // fails whatever is still buffered
	lim := newInflight(w.cfg.Partitions, w.cfg.InFlight)
	tick := time.NewTicker(time.Second / time.Duration(w.cfg.Rate))
	defer tick.Stop()
	var errs atomic.Int64
	for seq := 0; ; seq++ {
		select {
		case <-w.prodCtx.Done():
		case <-tick.C:
		}
		p, ok := lim.acquire(w.prodCtx, seq)
		if !ok || w.prodCtx.Err() != nil {
			if ok {
				lim.release(p)
			}
			break
		}
		v := fmt.Sprintf("%s-%d", name, seq)
		idx := w.h.AddWrite(Write{Producer: name, Value: v, Partition: p})
		// Background: stopping the workload must not fail records
		// already sent; Close fails what is left at the end.
		cl.Produce(context.Background(), &kgo.Record{Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
			w.h.FinishWrite(idx, r.Offset, err)
			if err == nil {
				w.prog.acked.Add(1)
			}
			if err != nil {
				w.cfg.OnError(name, err)
			}
			if err != nil && errs.Add(1) <= 3 {
				w.cfg.Logf("workload: producer %s: %s to partition %d: %v", name, v, p, err)
			}
			lim.release(p)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DeliveryTimeout+5*time.Second)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		w.cfg.Logf("workload: producer %s: flush: %v", name, err)
	}
	if n := errs.Load(); n > 0 {
		w.cfg.Logf("workload: producer %s: %d writes failed or uncertain", name, n)
	}
}

// runTxnProducer is transactional producer i: transactions of values
// "tI-SEQ" until the workload stops. A client whose transaction ended in
// an error is replaced by a new one with the same transactional ID, which
// fences the old one.
func (w *Workload) runTxnProducer(i int) {
	name := fmt.Sprintf("t%d", i)
	txnID := fmt.Sprintf("%s-%s", w.cfg.Topic, name)
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	seq := 0
	for n := 0; w.prodCtx.Err() == nil; n++ {
		if cl == nil {
			var err error
			cl, err = kgo.NewClient(w.clientOpts(
				kgo.WithContext(w.hardCtx),
				kgo.TransactionalID(txnID),
				kgo.TransactionTimeout(w.cfg.TxnTimeout),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.RecordDeliveryTimeout(w.cfg.DeliveryTimeout),
			)...)
			if err != nil {
				w.cfg.Logf("workload: producer %s: %v", name, err)
				return
			}
		}
		txn := Txn{ID: fmt.Sprintf("%s.%d", name, n), Producer: name}
		if err := cl.BeginTransaction(); err != nil {
			w.cfg.Logf("workload: producer %s: begin %s: %v", name, txn.ID, err)
			cl.Close()
			cl = nil
			sleepCtx(w.prodCtx, 100*time.Millisecond)
			continue
		}
		seq = w.txnRecords(cl, &txn, seq)
		if len(txn.Values) == 0 { // stopped before the first record
			break
		}
		if err := w.endTxn(cl, &txn, n); err != nil {
			w.cfg.Logf("workload: producer %s: end %s: %v", name, txn.ID, err)
			cl.Close()
			cl = nil
			sleepCtx(w.prodCtx, 100*time.Millisecond)
		}
		w.h.AddTxn(txn)
	}
}

// txnRecords writes one transaction's records and waits for their
// outcome; it returns the next sequence number. A failed write sets
// txn.Err.
func (w *Workload) txnRecords(cl *kgo.Client, txn *Txn, seq int) int {
	k := 1 + seq%w.cfg.TxnRecords
	var failed atomic.Value
	for range k {
		if !sleepCtx(w.prodCtx, time.Second/time.Duration(w.cfg.Rate)) {
			break
		}
		p := int32(seq % int(w.cfg.Partitions))
		v := fmt.Sprintf("%s-%d", txn.Producer, seq)
		seq++
		idx := w.h.AddWrite(Write{Producer: txn.Producer, Value: v, Txn: txn.ID, Partition: p})
		txn.Values = append(txn.Values, v)
		cl.Produce(context.Background(), &kgo.Record{Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
			w.h.FinishWrite(idx, r.Offset, err)
			if err == nil {
				w.prog.acked.Add(1)
			}
			if err != nil {
				failed.CompareAndSwap(nil, err.Error())
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.DeliveryTimeout+5*time.Second)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		failed.CompareAndSwap(nil, "flush: "+err.Error())
	}
	if f := failed.Load(); f != nil {
		txn.Err = f.(string)
	}
	return seq
}

// endTxn commits the transaction (aborts it if a write failed or it is
// the AbortEvery-th) and sets its status.
func (w *Workload) endTxn(cl *kgo.Client, txn *Txn, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.TxnTimeout+10*time.Second)
	defer cancel()
	if txn.Err != "" || n%w.cfg.AbortEvery == w.cfg.AbortEvery-1 {
		txn.Status = TxnAborted
		if err := cl.AbortBufferedRecords(ctx); err != nil {
			return fmt.Errorf("abort buffered records: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("abort: %w", err)
		}
		return nil
	}
	txn.CommitAsked = w.h.Now()
	err := cl.EndTransaction(ctx, kgo.TryCommit)
	switch {
	case err == nil:
		txn.Status = TxnCommitted
		w.prog.txns.Add(1)
		return nil
	case errors.Is(err, kerr.OperationNotAttempted):
		txn.Status = TxnAborted
	default:
		txn.Status = TxnCommitUnknown
	}
	txn.Err = err.Error()
	// As kgo asks: retry with an abort, which fences whatever is left.
	if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
		return fmt.Errorf("commit: %w; then abort: %w", err, aerr)
	}
	return fmt.Errorf("commit: %w", err)
}

// sleepCtx sleeps for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
