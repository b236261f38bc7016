package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
)

// App runs a topology against Kafka (Kafka Streams' KafkaStreams): it joins the
// consumer group application.id, creates the internal topics, and processes its tasks
// on Config.NumStreamThreads goroutines with at-least-once or exactly-once guarantees
// (Config.ProcessingGuarantee).
//
// Lock order: commitMu, then mu. Worker goroutines take neither.
type App struct {
	cfg  Config
	topo *Topology
	cl   *kgo.Client
	adm  *kadm.Client
	rd   *kafkachangelog.Reader
	// restoreCl reads changelogs on connections of its own, so that restoring never
	// waits behind the consumer's long-polling fetches (Kafka Streams' restore consumer).
	restoreCl *kgo.Client
	// globals keeps the global stores; nil without global tables.
	globals *globalRunner
	// server serves interactive queries at the application server; nil when unset.
	server *queryServer
	// standby keeps the standby tasks warm; nil without standby replicas.
	standby *standbys
	// hosts maps application servers to the source partitions they run, as of the
	// last assignment.
	hosts atomic.Pointer[map[string][]state.TopicPartition]

	ctx    context.Context
	cancel context.CancelFunc
	pctx   context.Context // produce context: ctx's values, never canceled

	workers []*worker
	wwg     sync.WaitGroup // workers
	lwg     sync.WaitGroup // poll loop and committer

	commitMu  sync.Mutex // serializes commits, revocations and shutdown
	mu        sync.Mutex // guards tasks, byTP, stopping
	tasks     map[TaskID]*task
	byTP      map[state.TopicPartition]*task
	stopping  bool
	lastPurge time.Time

	subTasks          map[int]int32
	topicSub          map[string]int // resolved source topic -> sub-topology
	repartitionTopics map[string]bool

	// Exactly-once: the transactional id, the records produced in the open transaction,
	// whether it holds offsets, and the offsets committed so far (guarded by commitMu).
	eos          bool
	processID    string
	releaseID    func()
	txnID        string
	produced     atomic.Int64
	offsetsInTxn bool
	txnCommitted map[state.TopicPartition]int64
	owned        map[state.TopicPartition]bool // assigned partitions, guarded by mu
	reinit       bool                          // tasks to re-create after an abort, guarded by mu
	// aborting is set, under mu, from the moment an abort holds the threads
	// until its tasks are dropped: onAssigned then creates no task (the
	// re-creation after the abort does). abortGen counts aborts: a task
	// made before the last one is stale, and its thread never opens it.
	aborting    bool
	abortGen    atomic.Int64
	wake        atomic.Pointer[context.CancelFunc]
	failCommits atomic.Int32 // tests: how many commits to fail with errInjected

	sinks      sinkRecords
	produceErr atomic.Pointer[error]
	errMu      sync.Mutex
	err        error
	crash      atomic.Bool
	closeOnce  sync.Once
	done       chan struct{}
}

// New prepares an App for topo; Start runs it.
func New(topo *Topology, cfg Config) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, topo: topo, tasks: map[TaskID]*task{}, byTP: map[state.TopicPartition]*task{},
		topicSub: map[string]int{}, repartitionTopics: map[string]bool{}, done: make(chan struct{}),
		eos: cfg.ProcessingGuarantee == ExactlyOnceV2, txnCommitted: map[state.TopicPartition]int64{},
		owned: map[state.TopicPartition]bool{}}
	for _, sub := range topo.subs {
		for _, tr := range sub.topics {
			a.topicSub[resolve(cfg.ApplicationID, tr)] = sub.id
		}
	}
	a.sinks.init()
	return a, nil
}

// Start creates the client and the internal topics, then starts processing in the
// background. It returns once the application is running; use Close to stop it and Done
// or Err to learn about a failure.
func (a *App) Start(ctx context.Context) error {
	if a.cfg.NumStandbyReplicas > 0 {
		a.standby = newStandbys(a)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumerGroup(a.cfg.ApplicationID),
		kgo.ConsumeTopics(a.topo.sourceTopics(a.cfg.ApplicationID)...),
		kgo.Balancers(&taskBalancer{topicSub: a.topicSub, endpoint: a.cfg.ApplicationServer,
			standbys: a.cfg.NumStandbyReplicas, held: a.standby.held,
			onAssignment: func(h map[string][]state.TopicPartition, standbys []TaskID) {
				a.hosts.Store(&h)
				a.standby.update(standbys)
			}}),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(a.cfg.SessionTimeout),
		kgo.RecordPartitioner(recordPartitioner()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // Kafka Streams' compression.type=none
		kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.FetchMaxBytes(32 << 20),
		kgo.OnPartitionsAssigned(a.onAssigned),
		kgo.OnPartitionsRevoked(a.onRevoked),
		kgo.OnPartitionsLost(a.onLost),
	}
	pid, release, err := acquireProcessID(a.cfg.StateDir, a.cfg.ApplicationID, a.cfg.Logger)
	if err != nil {
		return err
	}
	a.processID, a.releaseID = pid, release
	if a.eos {
		a.txnID = a.cfg.ApplicationID + "-" + pid
		opts = append(opts, a.eosOpts()...)
	}
	// Internal topics exist before the group client joins and tasks start restoring.
	setup, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOptions...)...)
	if err != nil {
		a.releaseID()
		return fmt.Errorf("streams: client: %w", err)
	}
	a.adm = kadm.NewClient(setup)
	err = a.setupTopics(ctx)
	setup.Close()
	if err == nil {
		a.restoreCl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOptions...)...)
	}
	if err != nil {
		a.releaseID()
		return err
	}
	if a.eos {
		a.rd = kafkachangelog.NewReader(a.restoreCl, kafkachangelog.ReadCommitted())
	} else {
		a.rd = kafkachangelog.NewReader(a.restoreCl)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.pctx = context.WithoutCancel(a.ctx)
	abort := func(err error) error {
		a.cancel()
		a.restoreCl.Close()
		a.releaseID()
		a.server.close()
		_ = a.globals.close(true)
		return err
	}
	// Global stores are complete before any task processes a record.
	if a.globals, err = startGlobals(ctx, a.topo, a.cfg, a.fail); err != nil {
		return abort(err)
	}
	if a.cfg.ApplicationServer != "" {
		if a.server, err = startQueryServer(a, a.cfg.ApplicationServer); err != nil {
			return abort(err)
		}
	}
	for i := range a.cfg.NumStreamThreads {
		w := &worker{a: a, id: i, ch: make(chan wmsg, 16), quit: make(chan struct{}), tasks: map[*task]bool{}}
		a.workers = append(a.workers, w)
		a.wwg.Add(1)
		go func() { defer a.wwg.Done(); w.run() }()
	}
	cl, err := kgo.NewClient(append(opts, a.cfg.ClientOptions...)...)
	if err != nil {
		a.cancel()
		for _, w := range a.workers {
			close(w.quit)
		}
		a.wwg.Wait()
		return abort(fmt.Errorf("streams: client: %w", err))
	}
	a.mu.Lock()
	a.setClient(cl)
	a.mu.Unlock()
	if a.standby != nil {
		go a.standby.run()
	}
	a.lwg.Add(2)
	go func() { defer a.lwg.Done(); a.pollLoop() }()
	go func() { defer a.lwg.Done(); a.commitLoop() }()
	go a.supervise()
	return nil
}

// Run starts the application and runs it until ctx ends, then closes it cleanly.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-a.done:
	}
	return a.Close(context.Background())
}

// Done is closed when the application has stopped, after Close or a failure.
func (a *App) Done() <-chan struct{} { return a.done }

// Err returns the error that stopped the application, if any.
func (a *App) Err() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

// fail stops the application with err.
func (a *App) fail(err error) {
	if errors.Is(err, context.Canceled) && a.ctx != nil && a.ctx.Err() != nil {
		// Work cut short by the application's own shutdown (Close) is not a failure:
		// the task is closed next, and its input past the last commit is processed
		// again by whoever owns it.
		return
	}
	a.errMu.Lock()
	if a.err == nil {
		a.err = err
		a.cfg.Logger.Error("streams: application failed", "err", err)
	}
	a.errMu.Unlock()
	a.cancel()
}

// Close stops the application cleanly: processing stops, every task commits and
// closes (writing its checkpoint), offsets are committed and the member leaves the
// group. It returns the error that stopped the application, if any.
func (a *App) Close(ctx context.Context) error {
	if a.cancel == nil {
		return nil
	}
	a.cancel()
	select {
	case <-a.done:
	case <-ctx.Done():
		return fmt.Errorf("streams: close: %w", ctx.Err())
	}
	return a.Err()
}

// Kill stops the application as a crash would: nothing is committed or checkpointed and
// cached updates are lost; the member leaves the group so that others take over
// without waiting for the session timeout. It is meant for failure tests.
func (a *App) Kill() {
	a.crash.Store(true)
	_ = a.Close(context.Background())
}

// supervise shuts the application down once its context ends.
func (a *App) supervise() {
	<-a.ctx.Done()
	a.server.close()
	a.standby.close()
	a.lwg.Wait()
	a.commitMu.Lock()
	a.mu.Lock()
	a.stopping = true
	var all []*task
	for _, tk := range a.tasks {
		all = append(all, tk)
	}
	clear(a.tasks)
	clear(a.byTP)
	a.mu.Unlock()
	clean := a.Err() == nil && !a.crash.Load()
	switch {
	case a.eos && clean:
		if err := a.commitEOS(context.Background(), all); err != nil {
			a.fail(err)
		}
	case a.eos:
		if err := a.abortAll(context.Background()); err != nil {
			a.cfg.Logger.Warn("streams: abort on close", "err", err)
		}
	default:
		offsets, err := a.closeTasks(all, clean)
		if err != nil && clean {
			a.fail(err)
			clean = false
		}
		if clean && len(offsets) > 0 {
			if err := a.commitOffsets(context.Background(), offsets); err != nil {
				a.fail(err)
			}
		}
	}
	a.commitMu.Unlock()
	for _, w := range a.workers {
		close(w.quit)
	}
	a.wwg.Wait()
	if err := a.globals.close(a.Err() == nil && !a.crash.Load()); err != nil {
		a.fail(err)
	}
	a.cl.Close()
	a.restoreCl.Close()
	a.releaseID()
	close(a.done)
}

// closeTasks asks the workers to close tasks and returns their offsets.
func (a *App) closeTasks(tasks []*task, clean bool) (map[state.TopicPartition]int64, error) {
	per := map[*worker][]*task{}
	for _, tk := range tasks {
		w := a.workers[tk.worker]
		per[w] = append(per[w], tk)
	}
	offsets := map[state.TopicPartition]int64{}
	var errs []error
	for w, list := range per {
		r := w.request(wmsg{kind: msgClose, tasks: list, clean: clean})
		if r.err != nil {
			errs = append(errs, r.err)
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	a.mu.Lock()
	for _, tk := range tasks {
		a.workers[tk.worker].count--
	}
	a.mu.Unlock()
	return offsets, errors.Join(errs...)
}

// commitOffsets flushes the producer and commits offsets.
func (a *App) commitOffsets(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	// The records produced for these offsets belong to the current generation (and
	// earlier ones, waited for by earlier commits).
	if err := a.sinks.seal().wait(ctx); err != nil {
		a.produceErr.CompareAndSwap(nil, &err)
		return err
	}
	if p := a.produceErr.Load(); p != nil {
		return *p
	}
	if len(offsets) == 0 {
		return nil
	}
	req := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range offsets {
		if req[tp.Topic] == nil {
			req[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		req[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	var cerr error
	a.cl.CommitOffsetsSync(ctx, req, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		// A rebalance may refuse the commit; the records are processed again later.
		a.cfg.Logger.Warn("streams: offset commit failed", "err", cerr)
		return nil
	}
	if time.Since(a.lastPurge) >= a.cfg.RepartitionPurgeInterval {
		a.lastPurge = time.Now()
		a.purgeRepartition(ctx, offsets)
	}
	return nil
}

// commit commits every task: caches, stores and changelogs are flushed, sinks'
// records acknowledged, then the offsets committed.
func (a *App) commit() error {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	if a.eos {
		// A transaction, once ending, ends: a commit that runs into Close completes.
		return a.commitEOS(a.pctx, nil)
	}
	offsets := map[state.TopicPartition]int64{}
	for _, w := range a.workers {
		r := w.request(wmsg{kind: msgCommit})
		if r.err != nil {
			return r.err
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	return a.commitOffsets(a.ctx, offsets)
}

func (a *App) commitLoop() {
	t := time.NewTicker(a.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			if err := a.commit(); err != nil && a.ctx.Err() == nil {
				a.fail(err)
				return
			}
		}
	}
}

func (a *App) pollLoop() {
	for {
		pctx, cancel := context.WithCancel(a.ctx)
		a.wake.Store(&cancel)
		fetches := a.cl.PollRecords(pctx, 10_000)
		cancel()
		if a.ctx.Err() != nil {
			a.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				a.cfg.Logger.Warn("streams: fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		// One message per task, with all its partitions' batches, so that the task can
		// order them by timestamp (partition_group.go).
		var tasks []*task
		batches := map[*task][]fetchBatch{}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			a.mu.Lock()
			tk := a.byTP[state.TopicPartition{Topic: p.Topic, Partition: p.Partition}]
			a.mu.Unlock()
			if tk != nil {
				if batches[tk] == nil {
					tasks = append(tasks, tk)
				}
				batches[tk] = append(batches[tk], fetchBatch{recs: p.Records, hw: p.HighWatermark})
			}
		})
		for _, tk := range tasks {
			a.workers[tk.worker].send(wmsg{kind: msgRecords, tk: tk, batches: batches[tk]})
		}
		if err := a.reinitTasks(a.ctx); err != nil {
			a.fail(err)
		}
		a.cl.AllowRebalance()
	}
}

// send implements collector for the tasks: records are produced asynchronously; the
// first failure stops the application at the next commit.
func (a *App) send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error {
	if p := a.produceErr.Load(); p != nil {
		return *p
	}
	g := a.sinks.cur.Load()
	if err := g.add(); err != nil {
		return err
	}
	a.produced.Add(1)
	r := &kgo.Record{Topic: topic, Partition: partition, Key: key, Value: value, Timestamp: time.UnixMilli(ts)}
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	a.cl.Produce(a.pctx, r, g.promise)
	return nil
}

func (a *App) newTask(id TaskID, w int) *task {
	tk := newTask(taskConfig{
		id: id, app: a.cfg.ApplicationID, topo: a.topo, stateDir: a.cfg.StateDir,
		writer: newChangelogWriter(a.pctx, a.cl, &a.produced), reader: a.rd, eos: a.eos, out: a, handler: a.cfg.DeserializationHandler,
		tsx: a.cfg.TimestampExtractor, cacheBytes: a.cfg.CacheMaxBytes, logger: a.cfg.Logger,
		now: func() int64 { return time.Now().UnixMilli() }, restore: a.cfg.RestoreListener,
		maxIdle: a.cfg.MaxTaskIdle.Milliseconds(),
		globals: a.globals.storesByName(),
	})
	tk.worker, tk.gen = w, a.abortGen.Load()
	return tk
}

// setClient records the client; the first assignment may come before NewClient returns.
func (a *App) setClient(cl *kgo.Client) {
	if a.cl != nil {
		return
	}
	a.cl, a.adm = cl, kadm.NewClient(cl)
	if !a.eos {
		return
	}
	if err := cl.BeginTransaction(); err != nil {
		go a.fail(fmt.Errorf("streams: begin transaction: %w", err))
	}
}

func (a *App) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	a.mu.Lock()
	a.setClient(cl)
	if a.stopping {
		a.mu.Unlock()
		return
	}
	var created []*task
	for topic, parts := range assigned {
		sub, ok := a.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range parts {
			if a.aborting {
				// The abort's re-creation makes the task, from the
				// offsets the abort leaves committed.
				a.owned[state.TopicPartition{Topic: topic, Partition: p}] = true
				continue
			}
			id := TaskID{Subtopology: sub, Partition: p}
			tk, ok := a.tasks[id]
			if !ok {
				best := 0
				for i, w := range a.workers {
					if w.count < a.workers[best].count {
						best = i
					}
				}
				a.workers[best].count++
				tk = a.newTask(id, best)
				a.tasks[id] = tk
				created = append(created, tk)
			}
			a.byTP[state.TopicPartition{Topic: topic, Partition: p}] = tk
			a.owned[state.TopicPartition{Topic: topic, Partition: p}] = true
		}
	}
	a.mu.Unlock()
	for _, tk := range created {
		a.cfg.Logger.Debug("streams: task assigned", "task", tk.id.String())
		a.workers[tk.worker].send(wmsg{kind: msgInit, tk: tk})
	}
}

// takeTasks removes from the assignment the tasks that own any of parts.
func (a *App) takeTasks(parts map[string][]int32) []*task {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*task
	for topic, ps := range parts {
		for _, p := range ps {
			delete(a.owned, state.TopicPartition{Topic: topic, Partition: p})
			tk := a.byTP[state.TopicPartition{Topic: topic, Partition: p}]
			if tk == nil || a.tasks[tk.id] != tk {
				continue
			}
			delete(a.tasks, tk.id)
			for tp, t := range a.byTP {
				if t == tk {
					delete(a.byTP, tp)
				}
			}
			out = append(out, tk)
		}
	}
	return out
}

func (a *App) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	tasks := a.takeTasks(revoked)
	if len(tasks) == 0 {
		return
	}
	clean := !a.crash.Load()
	if a.eos {
		var err error
		if clean {
			err = a.commitEOS(ctx, tasks)
		} else {
			err = a.abortAll(ctx)
		}
		if err != nil {
			a.fail(err)
		}
		return
	}
	offsets, err := a.closeTasks(tasks, clean)
	if err != nil {
		a.fail(err)
		return
	}
	if clean {
		if err := a.commitOffsets(ctx, offsets); err != nil {
			a.fail(err)
		}
	}
}

func (a *App) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	if a.eos {
		// The open transaction holds the lost tasks' work: abort it, and with it the
		// work of every other task.
		if len(a.takeTasks(lost)) > 0 {
			if err := a.abortAll(context.Background()); err != nil {
				a.fail(err)
			}
		}
		return
	}
	if _, err := a.closeTasks(a.takeTasks(lost), false); err != nil {
		a.cfg.Logger.Warn("streams: closing lost tasks", "err", err)
	}
}

// Tasks returns the tasks this instance runs now.
func (a *App) Tasks() []TaskID {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]TaskID, 0, len(a.tasks))
	for id := range a.tasks {
		out = append(out, id)
	}
	return out
}
