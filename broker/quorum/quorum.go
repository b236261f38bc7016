package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Preamble opens every connection a node dials to a peer's controller
// listener. A Kafka request starts with a big-endian int32 size, so its first
// byte is 0x00 for any request under 16 MiB; 'G' is not, which lets one
// listener tell raft connections from Kafka ones by their first four bytes.
const Preamble = "GRFT"

// MaxFrameSize bounds one framed raft message on a connection (a snapshot
// travels in one message, so it also bounds the state machine's snapshot).
const MaxFrameSize = 64 << 20

// MaxEntrySize bounds the data of one proposal, so an entry always fits in a
// frame with room to spare.
const MaxEntrySize = 16 << 20

// Sentinel errors. Match them with errors.Is.
var (
	// ErrNotLeader is returned by Propose on a node that is not the ready
	// leader (it does not lead, or has not yet applied an entry of its term).
	ErrNotLeader = errors.New("quorum: not the leader")
	// ErrClosed is returned once the node is closed, or has stopped after a
	// storage failure (the failure is wrapped alongside it).
	ErrClosed = errors.New("quorum: node closed")
	// ErrProposalDropped means the proposal was not committed and never will
	// be: raft refused it, or another leader overwrote its log position. It is
	// safe to retry.
	ErrProposalDropped = errors.New("quorum: proposal dropped")
	// ErrOutcomeUnknown means the node installed a snapshot from the leader
	// that covers the proposal's log position, so this node cannot tell
	// whether the proposal was committed. Read the state to find out.
	ErrOutcomeUnknown = errors.New("quorum: proposal outcome unknown")
	// ErrTooLarge is returned by Propose for data over MaxEntrySize.
	ErrTooLarge = errors.New("quorum: proposal too large")
	// ErrCorrupt is returned by Open when the WAL or snapshots are damaged in
	// a way that truncating a torn tail cannot repair.
	ErrCorrupt = errors.New("quorum: corrupt storage")
	// ErrConfig is returned by Open for an invalid Config.
	ErrConfig = errors.New("quorum: invalid config")
)

// StateMachine receives committed entries in log order, always from the
// node's one goroutine, so it needs no locking against itself (only against
// readers it serves elsewhere).
type StateMachine interface {
	// Apply applies the payload of the committed entry at index. An error is
	// handed back to the local proposer, if any; it does not stop the node,
	// so Apply must fail deterministically (the same way on every voter).
	Apply(index uint64, data []byte) error
	// Snapshot returns the whole state as of the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot's data: on Open, from
	// the last snapshot on disk, and when the leader sends one. The first
	// snapshot holds Config.Bootstrap's data, which may be nil (empty state).
	Restore(data []byte) error
}

// Transport carries raft messages to the other voters. Send must not block
// (queue or drop: raft retries). Inbound messages reach the node through
// Node.Step (or Node.ServeConn for the TCP transport's connections); a
// transport reports failed deliveries with Node.ReportUnreachable and the
// fate of every MsgSnap with Node.ReportSnapshot.
type Transport interface {
	// Send queues msgs for delivery. The node does not modify or reuse them.
	Send(msgs []*raftpb.Message)
	// Close stops the transport and waits for its goroutines.
	Close() error
}

// Config configures a Node. Zero values take the defaults documented below.
type Config struct {
	// NodeID is this node's raft id (Kafka's node.id); it must be non-zero and
	// a key of Voters.
	NodeID uint64
	// Voters maps every voter's node id to its controller address host:port
	// (this node included). Voters are static: every voter must be started
	// with the same set.
	Voters map[uint64]string
	// Dir holds the WAL and snapshots; it is created if missing.
	Dir string
	// TickInterval is the length of one raft tick (default 100ms). A negative
	// value means the node never ticks by itself: the caller calls Tick (for
	// tests that drive time).
	TickInterval time.Duration
	// ElectionTicks is the election timeout in ticks (default 10, about one
	// second: Kafka's controller.quorum.election.timeout.ms=1000).
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks (default 1).
	HeartbeatTicks int
	// SnapshotEntries is how many entries are applied between snapshots of
	// the state machine; each snapshot compacts the log (default 10000).
	SnapshotEntries uint64
	// RetainEntries is how many entries before a snapshot stay in the log,
	// so a follower a little behind catches up from the log rather than by
	// snapshot (default min(5000, SnapshotEntries)).
	RetainEntries uint64
	// Bootstrap is called only when Dir holds no WAL and no snapshot: it
	// returns the state machine's initial snapshot data (nil for an empty
	// state). Every voter must start from the same bootstrap data.
	Bootstrap func() ([]byte, error)
	// OnLeadership is called from the node's goroutine whenever this node
	// becomes the ready leader (it leads and has applied an entry of its own
	// term) or stops being it. It must not block, nor call Propose or Barrier
	// and wait for them.
	OnLeadership func(active bool, term uint64)
	// Transport carries messages to the other voters; nil means a TCP
	// transport that dials the addresses in Voters. Node.Close closes it.
	Transport Transport
	// Dial connects the TCP transport to a voter's address (nil: plain
	// TCP). The broker passes one that speaks TLS when the controller
	// listener's protocol is SSL; the connection it returns carries the
	// raft stream unchanged.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives the node's and raft's logs (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.NodeID == 0 {
		return cfg, fmt.Errorf("%w: NodeID must be non-zero", ErrConfig)
	}
	if _, ok := cfg.Voters[cfg.NodeID]; !ok {
		return cfg, fmt.Errorf("%w: NodeID %d is not among the voters", ErrConfig, cfg.NodeID)
	}
	if _, ok := cfg.Voters[0]; ok {
		return cfg, fmt.Errorf("%w: voter id 0 is not allowed", ErrConfig)
	}
	if cfg.Dir == "" {
		return cfg, fmt.Errorf("%w: Dir is required", ErrConfig)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.ElectionTicks <= cfg.HeartbeatTicks {
		return cfg, fmt.Errorf("%w: ElectionTicks (%d) must exceed HeartbeatTicks (%d)", ErrConfig, cfg.ElectionTicks, cfg.HeartbeatTicks)
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 10000
	}
	if cfg.RetainEntries == 0 {
		cfg.RetainEntries = min(5000, cfg.SnapshotEntries)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// Status is a point-in-time view of a node.
type Status struct {
	ID          uint64 // this node
	Leader      uint64 // the leader this node knows of; 0 when unknown
	Term        uint64 // the current raft term
	Commit      uint64 // the highest index known committed
	Applied     uint64 // the highest index applied to the state machine
	LeaderReady bool   // this node is the ready leader
	Voters      []VoterStatus
}

// VoterStatus describes one voter. Match and Lag are only known on the
// leader; elsewhere they are zero.
type VoterStatus struct {
	ID   uint64
	Addr string
	// Match is the highest index the leader knows the voter has in its log.
	Match uint64
	// Lag is the leader's last index minus Match.
	Lag uint64
	// LastContact is when this node last received a message from the voter
	// (zero for itself, or if never).
	LastContact time.Time
}
