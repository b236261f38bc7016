package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
	"github.com/gregorhq/gregor/internal/fsutil"
)

// ErrDataDirLocked is returned by New when another broker holds the data dir.
var ErrDataDirLocked = errors.New("data directory is in use by another broker")

// Broker is a single-node Kafka-compatible broker. Create one with New,
// start it with Serve (or Start), stop it with Close.
//
// Lock order: Broker.mu before a topic's or partition's locks, before the
// log's own lock; never the other way.
type Broker struct {
	cfg    Config
	logger *slog.Logger

	// localClusterID is the cluster.id of meta.properties; the metadata's
	// cluster ID (ClusterID) wins once the quorum has one.
	localClusterID string
	lockFile       *os.File
	logs           *blog.Manager
	dirHealth      *logDirHealth // whether the data dir accepts appends (log_dir_health.go)

	// The metadata quorum (metadata_quorum.go), the active-controller
	// logic (controller.go) and the controller API (controller_api.go).
	quorum      metadataLog // a quorum voter, or an observer on broker-only nodes
	quorumClose sync.Once
	ctrl        *controller
	ctrlServer  *controllerServer
	ctrlClient  *controllerClient
	// This broker's incarnation and life in the cluster (broker_lifecycle.go).
	incarnation uuid.UUID
	brokerEpoch atomic.Int64
	fenced      atomic.Bool
	// lastControllerContact is when the active controller last answered
	// a registration or heartbeat (UnixNano; leadershipInDoubt).
	lastControllerContact atomic.Int64
	ready                 chan struct{} // closed once first unfenced
	// Controlled shutdown (broker_lifecycle.go).
	shuttingDown  atomic.Bool
	shutdownAck   chan struct{} // closed when the controller says ShouldShutdown
	shutdownOnce  sync.Once
	lifecycleWake chan struct{}

	mu        sync.RWMutex // guards meta, topics, byID, replaying
	meta      *meta.State
	topics    map[string]*topic
	byID      map[uuid.UUID]*topic
	replaying bool // the quorum is replaying its log at startup
	// metaChanged is closed and replaced whenever metadata is applied.
	metaChanged chan struct{}

	fetchers      *replicaFetchers            // follower side of replication (replica_fetcher.go)
	replQuotas    replicationQuotas           // replication throttling (replication_throttle.go)
	strayChecked  bool                        // stray replicas deleted since start (guarded by mu; stray_replicas.go)
	hwCheckpoint  map[topicPartitionKey]int64 // read at startup (hw_checkpoint.go)
	pids          producerIDs
	fetchSessions fetchSessions
	dynBroker     atomic.Pointer[dynamicBrokerConfigs]

	groups atomic.Pointer[group.Coordinator] // consumer groups (groups.go); set once while the metadata observer already runs
	txns   txnCoordinator                    // transactions (txn_coordinator.go)
	// groupLeads is the group coordinator's loads per partition (coordinators.go).
	groupLeads groupLeads

	// security holds each client listener's protocol, TLS and SASL
	// settings (listener_security.go); scramSecret makes the decoy SCRAM
	// salts of unknown users (sasl_conn.go).
	security    map[string]*listenerSecurity
	scramSecret []byte
	authz       authzState // authorize.go
	// quotas are the client quotas in force and their rates (quotas.go).
	quotas *quotaManager
	// ctrlSec is the controller listeners' TLS (controller_security.go).
	ctrlSec controllerSecurity
	// metrics are the hot-path counters of the Prometheus metrics (metrics.go).
	metrics *brokerMetrics

	lnMu      sync.Mutex
	listeners []*boundListener
	conns     map[*conn]struct{}
	closed    bool
	closing   chan struct{}
	wg        sync.WaitGroup
}

type boundListener struct {
	name    string
	ln      net.Listener
	started bool // guarded by Broker.lnMu
}

// Option changes how New builds a Broker.
type Option func(*options)

type options struct {
	logger *slog.Logger
	logFS  blog.FS
}

// WithLogger sets the broker's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLogFS sets the filesystem the partition logs use (tests pass a
// strict in-memory one). The metadata journal always uses the OS.
func WithLogFS(fs blog.FS) Option { return func(o *options) { o.logFS = fs } }

// New validates cfg, locks and opens the data directory, recovers the logs
// and metadata, and binds the listeners. Call Serve to accept connections.
func New(cfg Config, opts ...Option) (*Broker, error) {
	o := options{logger: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:           cfg,
		logger:        o.logger,
		topics:        map[string]*topic{},
		byID:          map[uuid.UUID]*topic{},
		conns:         map[*conn]struct{}{},
		closing:       make(chan struct{}),
		ready:         make(chan struct{}),
		metaChanged:   make(chan struct{}),
		shutdownAck:   make(chan struct{}),
		lifecycleWake: make(chan struct{}, 1),
		incarnation:   uuid.New(),
		ctrlClient:    newControllerClient(cfg.Cluster.Voters),
		scramSecret:   newSecret(),
		quotas:        newQuotaManager(cfg),
		metrics:       newBrokerMetrics(),
	}
	if err := b.openSecurity(); err != nil {
		return nil, err
	}
	b.fenced.Store(true)
	b.ctrl = newController(b)
	b.fetchers = &replicaFetchers{b: b, byLeader: map[int32]*replicaFetcher{}}
	if err := b.openDataDir(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			b.closeTransactions()
			b.closeStorage()
		}
	}()
	logs, err := blog.OpenManager(cfg.DataDir, b.cleanerOptions(blog.Options{ // log_cleaner.go
		FS:                     o.logFS,
		OnFlush:                b.metrics.observeFlush,
		Logger:                 o.logger,
		RetentionCheckInterval: cfg.RetentionCheckEvery,
		CheckpointInterval:     time.Duration(b.brokerIntSetting("log.flush.offset.checkpoint.interval.ms", 60000)) * time.Millisecond,
	}))
	if err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	b.logs = logs
	b.dirHealth = newLogDirHealth(b.absDataDir(), o.logger, logs.Space)
	b.hwCheckpoint = readHWCheckpoint(cfg.DataDir)
	if err := b.openQuorum(); err != nil { // metadata_quorum.go
		return nil, err
	}
	if err := b.openTransactions(); err != nil { // txn_coordinator.go
		return nil, err
	}
	if err := b.openGroups(); err != nil { // groups.go
		return nil, err
	}
	if err := b.listen(); err != nil {
		return nil, err
	}
	b.logs.Start()
	b.ctrlServer = newControllerServer(b)
	b.ctrl.start()
	if b.cfg.Cluster.IsBroker() {
		b.wg.Add(3)
		go b.lifecycleLoop()    // broker_lifecycle.go
		go b.isrLoop()          // replication.go
		go b.hwCheckpointLoop() // hw_checkpoint.go
	} else {
		close(b.ready)
	}
	ok = true
	if len(b.cfg.Cluster.Voters) <= 1 {
		// A single node is its own controller: it registers and is
		// unfenced at once, and serves as soon as New returns.
		b.startControllerListeners()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.WaitReady(ctx); err != nil {
			b.Close()
			return nil, err
		}
	} else {
		b.startControllerListeners()
	}
	return b, nil
}

// openSecurity sets up the listeners' TLS and SASL, the authorizer and the
// controller listeners' TLS.
func (b *Broker) openSecurity() error {
	if err := b.openListenerSecurity(); err != nil { // listener_security.go
		return err
	}
	if err := b.openAuthorizer(); err != nil { // authorize.go
		return err
	}
	return b.openControllerSecurity() // controller_security.go
}

// listen binds every configured listener (accepting starts later).
func (b *Broker) listen() error {
	for _, l := range b.cfg.Listeners {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("listen on %s: %w", l, err)
		}
		b.listeners = append(b.listeners, &boundListener{name: l.Name, ln: ln})
	}
	return nil
}

// startControllerListeners accepts on the controller listeners at once
// (the quorum needs them before the broker serves clients).
func (b *Broker) startControllerListeners() {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	for _, l := range b.listeners {
		if b.cfg.isControllerListener(l.name) && !l.started {
			l.started = true
			b.wg.Add(1)
			go b.acceptLoop(l)
		}
	}
}

// openDataDir creates and locks the data dir and reads or writes meta.properties.
func (b *Broker) openDataDir() error {
	dir := b.cfg.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	f, err := fsutil.LockFile(filepath.Join(dir, ".lock"))
	if errors.Is(err, fsutil.ErrLocked) {
		return fmt.Errorf("%w: %s", ErrDataDirLocked, dir)
	}
	if err != nil {
		return fmt.Errorf("lock data dir: %w", err)
	}
	b.lockFile = f
	props, err := readMetaProperties(dir)
	if errors.Is(err, errMetaMissing) {
		props = metaProperties{ClusterID: newKafkaUUID(), NodeID: b.cfg.NodeID, DirectoryID: newKafkaUUID()}
		err = writeMetaProperties(dir, props)
	}
	if err != nil {
		b.closeStorage()
		return err
	}
	b.localClusterID = props.ClusterID
	if props.NodeID != b.cfg.NodeID {
		b.closeStorage()
		return fmt.Errorf("%w: data dir %s belongs to node.id %d, config says %d", ErrBadConfig, dir, props.NodeID, b.cfg.NodeID)
	}
	return nil
}

// absDataDir is the data directory as an absolute path (as configured if
// that cannot be resolved).
func (b *Broker) absDataDir() string {
	abs, err := filepath.Abs(b.cfg.DataDir)
	if err != nil {
		return b.cfg.DataDir
	}
	return abs
}

// Addr returns the bound address of the first client listener (useful with
// port 0), or of the first listener on a controller-only node.
func (b *Broker) Addr() string {
	for _, l := range b.listeners {
		if !b.cfg.isControllerListener(l.name) {
			return l.ln.Addr().String()
		}
	}
	return b.listeners[0].ln.Addr().String()
}

// ListenerAddr returns the bound address of the named listener.
func (b *Broker) ListenerAddr(name string) (string, bool) {
	for _, l := range b.listeners {
		if l.name == name {
			return l.ln.Addr().String(), true
		}
	}
	return "", false
}

// advertised returns the address clients of listener name are told to use:
// its advertised.listeners entry, or else the address it is bound to (a
// wildcard host becomes this machine's host name).
func (b *Broker) advertised(name string) Listener {
	for _, a := range b.cfg.AdvertisedListeners {
		if a.Name == name {
			return a
		}
	}
	l, _ := b.cfg.listener(name)
	if addr, ok := b.ListenerAddr(name); ok {
		if tcp, err := net.ResolveTCPAddr("tcp", addr); err == nil {
			l.Port = int32(tcp.Port)
		}
	}
	if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
		if h, err := os.Hostname(); err == nil {
			l.Host = h
		} else {
			l.Host = "127.0.0.1"
		}
	}
	return l
}

// ClusterID is the cluster's ID: the metadata's once the quorum has
// named the cluster, else this node's meta.properties cluster.id.
func (b *Broker) ClusterID() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if id := b.meta.ClusterID(); id != "" {
		return id
	}
	return b.localClusterID
}

// Serve accepts connections on every listener until ctx is done or Close is
// called, then closes the broker. It returns nil after a clean shutdown.
func (b *Broker) Serve(ctx context.Context) error {
	b.Start()
	select {
	case <-ctx.Done():
	case <-b.closing:
	}
	return b.Close()
}

// Start begins accepting connections in the background.
func (b *Broker) Start() {
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	for _, l := range b.listeners {
		if !l.started {
			l.started = true
			b.wg.Add(1)
			go b.acceptLoop(l)
		}
	}
}

func (b *Broker) acceptLoop(l *boundListener) {
	defer b.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			b.logger.Warn("accept failed", "listener", l.name, "err", err)
			continue
		}
		if b.cfg.isControllerListener(l.name) {
			b.serveController(b.controllerConn(l.name, nc))
			continue
		}
		c := newConn(b, nc, l.name)
		b.lnMu.Lock()
		if b.closed {
			b.lnMu.Unlock()
			nc.Close()
			return
		}
		if ok, limit := b.admit(c.ip); !ok {
			b.lnMu.Unlock()
			b.logger.Warn("refusing connection over limit", "remote", c.remote, "limit", limit)
			nc.Close()
			continue
		}
		if d := b.connectionThrottle(c.ip); d > 0 { // quotas.go: connection_creation_rate
			b.wg.Add(1)
			b.lnMu.Unlock()
			b.logger.Debug("closing connection over connection_creation_rate", "remote", c.remote, "after", d)
			go b.closeThrottled(nc, d)
			continue
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.lnMu.Unlock()
		go func() {
			defer b.wg.Done()
			c.serve()
			b.lnMu.Lock()
			delete(b.conns, c)
			b.lnMu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection, waits for them, then
// closes the logs (writing checkpoints and the clean-shutdown marker) and
// releases the data dir. It is safe to call more than once.
func (b *Broker) Close() error {
	b.lnMu.Lock()
	closed := b.closed
	b.lnMu.Unlock()
	if !closed {
		b.controlledShutdown(15 * time.Second)
	}
	b.lnMu.Lock()
	if b.closed {
		b.lnMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.closing)
	for _, l := range b.listeners {
		l.ln.Close()
	}
	for c := range b.conns {
		c.close()
	}
	b.lnMu.Unlock()
	if b.ctrlServer != nil {
		b.ctrlServer.close()
	}
	b.ctrl.close()
	b.closeQuorum() // also ends the raft streams the controller listeners handed it
	b.fetchers.close()
	b.wg.Wait()
	if err := b.writeHWCheckpoint(); err != nil {
		b.logger.Warn("high watermark checkpoint failed", "err", err)
	}
	return b.closeStorage()
}

// closeQuorum stops the metadata quorum member once.
func (b *Broker) closeQuorum() error {
	var err error
	b.quorumClose.Do(func() {
		if b.quorum != nil {
			err = b.quorum.Close()
		}
	})
	return err
}

// serveController serves one controller-listener connection in the
// background (controller_api.go sniffs which kind it is).
func (b *Broker) serveController(nc net.Conn) {
	b.lnMu.Lock()
	if b.closed {
		b.lnMu.Unlock()
		nc.Close()
		return
	}
	b.wg.Add(1)
	b.lnMu.Unlock()
	go func() {
		defer b.wg.Done()
		b.ctrlServer.serveConn(nc)
	}()
}

func (b *Broker) closeListeners() {
	for _, l := range b.listeners {
		l.ln.Close()
	}
}

func (b *Broker) closeStorage() error {
	b.closeTransactions() // txn_coordinator.go: stop the timeout loop
	b.closeGroups()       // groups.go: stop group timers before the logs close
	errs := []error{b.closeQuorum()}
	if b.fetchers != nil {
		b.fetchers.close()
	}
	if b.logs != nil {
		errs = append(errs, b.logs.Close())
		b.logs = nil
	}

	if b.lockFile != nil {
		errs = append(errs, fsutil.UnlockFile(b.lockFile))
		b.lockFile = nil
	}
	return errors.Join(errs...)
}
