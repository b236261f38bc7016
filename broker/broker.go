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
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
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

	clusterID string
	lockFile  *os.File
	logs      *blog.Manager
	journal   *meta.Journal

	mu     sync.RWMutex // guards meta, topics, topicsByID
	meta   *meta.State
	topics map[string]*topic
	byID   map[uuid.UUID]*topic

	pids          producerIDs
	fetchSessions fetchSessions
	dynBroker     atomic.Pointer[dynamicBrokerConfigs]

	groups *group.Coordinator // consumer groups (groups.go)
	txns   txnCoordinator     // transactions (txn_coordinator.go)

	lnMu      sync.Mutex
	listeners []*boundListener
	conns     map[*conn]struct{}
	closed    bool
	closing   chan struct{}
	wg        sync.WaitGroup
}

type boundListener struct {
	name string
	ln   net.Listener
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
		cfg:     cfg,
		logger:  o.logger,
		topics:  map[string]*topic{},
		byID:    map[uuid.UUID]*topic{},
		conns:   map[*conn]struct{}{},
		closing: make(chan struct{}),
	}
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
		Logger:                 o.logger,
		RetentionCheckInterval: cfg.RetentionCheckEvery,
		CheckpointInterval:     time.Duration(b.brokerIntSetting("log.flush.offset.checkpoint.interval.ms", 60000)) * time.Millisecond,
	}))
	if err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	b.logs = logs
	if err := b.loadMetadata(); err != nil {
		return nil, err
	}
	if err := b.openTransactions(); err != nil { // txn_coordinator.go
		return nil, err
	}
	if err := b.openGroups(); err != nil { // groups.go
		return nil, err
	}
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			b.closeListeners()
			return nil, fmt.Errorf("listen on %s: %w", l, err)
		}
		b.listeners = append(b.listeners, &boundListener{name: l.Name, ln: ln})
	}
	b.logs.Start()
	ok = true
	return b, nil
}

// openDataDir creates and locks the data dir and reads or writes meta.properties.
func (b *Broker) openDataDir() error {
	dir := b.cfg.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%w: %s", ErrDataDirLocked, dir)
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
	b.clusterID = props.ClusterID
	if props.NodeID != b.cfg.NodeID {
		b.closeStorage()
		return fmt.Errorf("%w: data dir %s belongs to node.id %d, config says %d", ErrBadConfig, dir, props.NodeID, b.cfg.NodeID)
	}
	return nil
}

// Addr returns the bound address of the first listener (useful with port 0).
func (b *Broker) Addr() string { return b.listeners[0].ln.Addr().String() }

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

// ClusterID is the stable cluster ID from meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

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
		b.wg.Add(1)
		go b.acceptLoop(l)
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
	b.wg.Wait()
	return b.closeStorage()
}

func (b *Broker) closeListeners() {
	for _, l := range b.listeners {
		l.ln.Close()
	}
}

func (b *Broker) closeStorage() error {
	b.closeTransactions() // txn_coordinator.go: stop the timeout loop
	b.closeGroups()       // groups.go: stop group timers before the logs close
	var errs []error
	if b.logs != nil {
		errs = append(errs, b.logs.Close())
		b.logs = nil
	}
	if b.journal != nil {
		errs = append(errs, b.journal.Close())
		b.journal = nil
	}
	if b.lockFile != nil {
		syscall.Flock(int(b.lockFile.Fd()), syscall.LOCK_UN)
		errs = append(errs, b.lockFile.Close())
		b.lockFile = nil
	}
	return errors.Join(errs...)
}
