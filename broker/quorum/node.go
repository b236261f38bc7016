package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Node is one voter of the metadata quorum. Its exported methods are safe for
// concurrent use.
//
// Ownership: one goroutine (run) owns the RawNode, the MemoryStorage, the WAL,
// the StateMachine and all pending proposals and reads; other goroutines talk
// to it through channels. Node.mu guards only the published status, the
// inbound connection set and the fatal error; it is a leaf lock (nothing else
// is locked while it is held). The TCP transport's per-peer locks are leaves
// too and never held while calling into the Node.
type Node struct {
	cfg       Config
	id        uint64
	log       *slog.Logger
	sm        StateMachine
	transport Transport

	// Owned by the run goroutine.
	rn          *raft.RawNode
	ms          *raft.MemoryStorage
	wal         *wal
	confState   *raftpb.ConfState
	hs          *raftpb.HardState
	applied     uint64
	appliedTerm uint64 // term of the last applied entry
	snapIndex   uint64 // index of the last snapshot taken or installed
	raftState   raft.StateType
	lead        uint64
	ready       bool
	ticks       uint64
	seq         uint64               // last proposal sequence
	waiters     map[uint64]*proposal // by sequence
	byIndex     map[uint64]uint64    // log index -> sequence of our proposal there
	readSeq     uint64               // last read request id
	reads       map[uint64]*readReq  // by id
	lastContact map[uint64]time.Time // by peer
	voterIDs    []uint64             // sorted

	propc   chan *proposal
	readc   chan *readReq
	recvc   chan *raftpb.Message
	reportc chan report
	tickc   chan struct{}
	stopc   chan struct{} // closed by Close
	done    chan struct{} // closed when run returns

	leader      atomic.Uint64
	leaderReady atomic.Bool

	mu       sync.Mutex // leaf lock; guards the fields below
	status   Status
	fatal    error
	closed   bool
	conns    map[net.Conn]struct{}
	connWG   sync.WaitGroup
	closeErr error
	once     sync.Once
}

type proposal struct {
	data []byte
	seq  uint64
	done chan proposeResult // buffered: the run goroutine never blocks on it
}

type proposeResult struct {
	index uint64
	err   error
}

func (p *proposal) finish(index uint64, err error) { p.done <- proposeResult{index, err} }

type readReq struct {
	ctx      context.Context
	id       uint64
	index    uint64
	hasIndex bool
	issued   uint64 // tick at which ReadIndex was last asked
	done     chan error
}

type report struct {
	id     uint64
	snap   bool // a MsgSnap outcome; otherwise the peer is unreachable
	failed bool
}

// Open opens (or bootstraps) the node's storage in cfg.Dir, restores sm from
// the last snapshot and applies every committed entry after it, then starts
// the node. A node that is the only voter campaigns at once.
func Open(cfg Config, sm StateMachine) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, fmt.Errorf("%w: nil StateMachine", ErrConfig)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("quorum: create %s: %w", cfg.Dir, err)
	}
	n := &Node{
		cfg:         cfg,
		id:          cfg.NodeID,
		log:         cfg.Logger.With("quorum_node", cfg.NodeID),
		sm:          sm,
		seq:         rand.Uint64() >> 1,
		readSeq:     rand.Uint64() >> 1,
		waiters:     map[uint64]*proposal{},
		byIndex:     map[uint64]uint64{},
		reads:       map[uint64]*readReq{},
		lastContact: map[uint64]time.Time{},
		voterIDs:    slices.Sorted(maps.Keys(cfg.Voters)),
		propc:       make(chan *proposal),
		readc:       make(chan *readReq),
		recvc:       make(chan *raftpb.Message, 1024),
		reportc:     make(chan report, 64),
		tickc:       make(chan struct{}),
		stopc:       make(chan struct{}),
		done:        make(chan struct{}),
		conns:       map[net.Conn]struct{}{},
	}
	if err := n.load(); err != nil {
		if n.wal != nil {
			n.wal.close()
		}
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        n.id,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   n.ms,
		Applied:                   n.applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  4 << 20,
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           256,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		Logger:                    raftLogger{n.log},
	})
	if err != nil {
		n.wal.close()
		return nil, fmt.Errorf("quorum: start raft: %w", err)
	}
	n.rn = rn
	if len(n.voterIDs) == 1 {
		if err := rn.Campaign(); err != nil {
			n.wal.close()
			return nil, fmt.Errorf("quorum: campaign: %w", err)
		}
	}
	n.transport = cfg.Transport
	if n.transport == nil {
		n.transport = newTCPTransport(n.id, cfg.Voters, n, n.log, cfg.Dial)
	}
	n.publishStatus()
	go n.run()
	return n, nil
}

// Propose replicates data through the quorum. It works only on the ready
// leader (ErrNotLeader elsewhere) and returns once the entry is committed and
// applied on this node, with its log index and the StateMachine's Apply
// error. If ctx ends first the entry may still be committed later.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	if len(data) > MaxEntrySize {
		return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxEntrySize)
	}
	p := &proposal{data: data, done: make(chan proposeResult, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, n.closedErr()
	}
	select {
	case r := <-p.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, n.closedErr()
	}
}

// Barrier is a linearizable read barrier (raft's ReadIndex): it returns once
// this node's state machine has applied everything the leader had committed
// when Barrier was called. It works on the leader and on followers; with no
// leader it keeps asking until ctx ends.
func (n *Node) Barrier(ctx context.Context) error {
	r := &readReq{ctx: ctx, done: make(chan error, 1)}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.closedErr()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.closedErr()
	}
}

// Step hands the node a message received from a peer. Transports other than
// the built-in TCP one deliver inbound messages this way. Messages not
// addressed to this node or not from a voter are dropped.
func (n *Node) Step(ctx context.Context, m *raftpb.Message) error {
	if m.GetTo() != n.id {
		return fmt.Errorf("quorum: message for node %d delivered to node %d", m.GetTo(), n.id)
	}
	if _, ok := n.cfg.Voters[m.GetFrom()]; !ok {
		return fmt.Errorf("quorum: message from %d, not a voter", m.GetFrom())
	}
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.closedErr()
	}
}

// ReportUnreachable tells raft that the last message to peer id could not be
// delivered (a transport calls it on dial or write failures).
func (n *Node) ReportUnreachable(id uint64) { n.sendReport(report{id: id}) }

// ReportSnapshot tells raft whether a MsgSnap to peer id was delivered. A
// transport must call it for every MsgSnap it was given.
func (n *Node) ReportSnapshot(id uint64, delivered bool) {
	n.sendReport(report{id: id, snap: true, failed: !delivered})
}

func (n *Node) sendReport(r report) {
	select {
	case n.reportc <- r:
	case <-n.done:
	}
}

// Tick advances the node's logical clock by one tick. Nodes tick themselves
// unless Config.TickInterval is negative; tests that drive time call this.
func (n *Node) Tick() {
	select {
	case n.tickc <- struct{}{}:
	case <-n.done:
	}
}

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.status
	st.Voters = slices.Clone(st.Voters)
	return st
}

// LeaderReady reports whether this node is the ready leader: it leads and has
// applied an entry of its own term, so its state is complete.
func (n *Node) LeaderReady() bool { return n.leaderReady.Load() }

// Leader returns the id of the leader this node knows of, or 0.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// ID returns this node's id.
func (n *Node) ID() uint64 { return n.id }

// Close stops the node: its goroutine, the transport and every connection
// handed to ServeConn, and waits for them. Pending Propose and Barrier calls
// return ErrClosed. It returns the storage error that stopped the node
// early, if any.
func (n *Node) Close() error {
	n.once.Do(func() {
		close(n.stopc)
		<-n.done
		terr := n.transport.Close()
		n.mu.Lock()
		n.closed = true
		for c := range n.conns {
			c.Close()
		}
		fatal := n.fatal
		n.mu.Unlock()
		n.connWG.Wait()
		werr := n.wal.close()
		n.closeErr = errors.Join(fatal, terr, werr)
	})
	return n.closeErr
}

func (n *Node) closedErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fatal != nil {
		return fmt.Errorf("%w: %w", ErrClosed, n.fatal)
	}
	return ErrClosed
}

// raftLogger sends raft's logs to slog.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug("raft: " + fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Info("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Info("raft: " + fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn("raft: " + fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.l.Error("raft: " + fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error("raft: " + fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any) {
	s := fmt.Sprint(v...)
	r.l.Error("raft: " + s)
	panic(s)
}
func (r raftLogger) Panicf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	r.l.Error("raft: " + s)
	panic(s)
}
