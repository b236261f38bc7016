package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/observe"
	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
)

// App runs a topology against Kafka (Kafka Streams' KafkaStreams): it joins the
// consumer group application.id, creates the internal topics, and processes its tasks
// on Config.NumStreamThreads goroutines with at-least-once or exactly-once guarantees
// (Config.ProcessingGuarantee).
//
// App itself is the instance's lifecycle: Start, Close and failures, the clients, the
// poll and commit loops. Its roles are types of their own, each with one lock: the
// task manager (tasks, assignment callbacks, aborts and the stream threads) and the
// committer (the producer, commits and transactions). Lock order: the committer's mu,
// then the task manager's mu, then errMu; the stream threads take neither of the
// first two. App's other fields are set by New and Start before the goroutines that
// read them begin, except cl and adm, which setClient sets once.
type App struct {
	cfg  Config
	topo *Topology
	eos  bool

	clientOnce sync.Once
	cl         *kgo.Client
	adm        *kadm.Client
	rd         *kafkachangelog.Reader
	// restoreCl reads changelogs on connections of its own, so that restoring never
	// waits behind the consumer's long-polling fetches (Kafka Streams' restore consumer).
	restoreCl *kgo.Client
	// globals keeps the global stores; nil without global tables.
	globals *globalRunner
	// server serves interactive queries at the application server; nil when unset.
	server *queryServer
	// http serves metrics and health at Config.HTTPAddr; nil when unset.
	http *observe.Server
	// standby keeps the standby tasks warm; nil without standby replicas.
	standby *standbys
	// hosts maps application servers to the source partitions they run, as of the
	// last assignment.
	hosts atomic.Pointer[map[string][]state.TopicPartition]

	tm      *taskManager
	commits *committer

	ctx    context.Context
	cancel context.CancelFunc
	pctx   context.Context // produce context: ctx's values, never canceled
	lwg    sync.WaitGroup  // poll loop and commit loop

	subTasks          map[int]int32
	topicSub          map[string]int // resolved source topic -> sub-topology
	repartitionTopics map[string]bool

	processID string
	releaseID func()

	errMu sync.Mutex // guards err
	err   error
	crash atomic.Bool
	// started is set once Start has succeeded; ctx and processID, which the metrics
	// read, are set by then.
	started atomic.Bool
	done    chan struct{}
}

// New prepares an App for topo; Start runs it.
func New(topo *Topology, cfg Config) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, topo: topo, eos: cfg.ProcessingGuarantee == ExactlyOnceV2,
		topicSub: map[string]int{}, repartitionTopics: map[string]bool{}, done: make(chan struct{})}
	a.commits = newCommitter(a, a.eos)
	a.tm = newTaskManager(a, a.commits)
	a.commits.tm = a.tm
	for _, sub := range topo.subs {
		for _, tr := range sub.topics {
			a.topicSub[resolve(cfg.ApplicationID, tr)] = sub.id
		}
	}
	return a, nil
}

// Start creates the client and the internal topics, then starts processing in the
// background. It returns once the application is running; use Close to stop it and Done
// or Err to learn about a failure.
func (a *App) Start(ctx context.Context) error {
	if a.cfg.NumStandbyReplicas > 0 {
		a.standby = newStandbys(a)
	}
	opts := a.groupClientOpts()
	pid, release, err := acquireProcessID(a.cfg.StateDir, a.cfg.ApplicationID, a.cfg.Logger)
	if err != nil {
		return err
	}
	a.processID, a.releaseID = pid, release
	if err := a.startHTTP(); err != nil {
		a.releaseID()
		return err
	}
	releaseID := a.releaseID
	a.releaseID = func() { releaseID(); a.closeHTTP() } // every way out of Start and supervise's end
	if a.eos {
		a.commits.txnID = a.cfg.ApplicationID + "-" + pid
		opts = append(opts, a.commits.eosOpts()...)
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
	a.tm.startWorkers(a.cfg.NumStreamThreads)
	cl, err := kgo.NewClient(append(opts, a.cfg.ClientOptions...)...)
	if err == nil && a.eos {
		if err = checkEOSVersions(cl); err != nil {
			cl.Close()
		}
	}
	if err != nil {
		a.cancel()
		a.tm.stopWorkers()
		return abort(fmt.Errorf("streams: client: %w", err))
	}
	a.setClient(cl)
	a.started.Store(true)
	if a.standby != nil {
		go a.standby.run()
	}
	a.lwg.Add(2)
	go func() { defer a.lwg.Done(); a.pollLoop() }()
	go func() { defer a.lwg.Done(); a.commitLoop() }()
	go a.supervise()
	return nil
}

// groupClientOpts are the options of the group client: it consumes the
// source topics in the group application.id with the task balancer, commits
// only when told, blocks rebalances while a poll's records are processed,
// and produces what the sinks send.
func (a *App) groupClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.RetryBackoffFn(kafkaBackoff),
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
		kgo.OnPartitionsAssigned(a.tm.onAssigned),
		kgo.OnPartitionsRevoked(a.tm.onRevoked),
		kgo.OnPartitionsLost(a.tm.onLost),
	}
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

// Tasks returns the tasks this instance runs now.
func (a *App) Tasks() []TaskID { return a.tm.ids() }

// setClient records the client and, under exactly-once, begins the first transaction;
// the first assignment may come before NewClient returns, and the first call wins.
func (a *App) setClient(cl *kgo.Client) {
	a.clientOnce.Do(func() {
		a.cl, a.adm = cl, kadm.NewClient(cl)
		if !a.eos {
			return
		}
		if err := cl.BeginTransaction(); err != nil {
			go a.fail(fmt.Errorf("streams: begin transaction: %w", err))
		}
	})
}

// supervise shuts the application down once its context ends.
func (a *App) supervise() {
	<-a.ctx.Done()
	a.server.close()
	a.standby.close()
	a.lwg.Wait()
	a.commits.shutdown()
	a.tm.stopWorkers()
	if err := a.globals.close(a.Err() == nil && !a.crash.Load()); err != nil {
		a.fail(err)
	}
	a.cl.Close()
	a.commits.closeProducer()
	a.restoreCl.Close()
	a.releaseID()
	close(a.done)
}

func (a *App) pollLoop() {
	for {
		pctx, cancel := context.WithCancel(a.ctx)
		a.tm.wake.Store(&cancel)
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
		a.tm.dispatch(fetches)
		if err := a.tm.reinitTasks(a.ctx); err != nil {
			a.fail(err)
		}
		a.cl.AllowRebalance()
	}
}

func (a *App) commitLoop() {
	t := time.NewTicker(a.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			if err := a.commits.commit(); err != nil && a.ctx.Err() == nil {
				a.fail(err)
				return
			}
		}
	}
}
