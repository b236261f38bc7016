package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is the state of a classic consumer group, named as Kafka names it.
type State int8

// The classic group states.
const (
	// Empty: no members; offsets may still be committed (generation -1).
	Empty State = iota
	// PreparingRebalance: waiting for members to (re)join.
	PreparingRebalance
	// CompletingRebalance: joined; waiting for the leader's assignment.
	CompletingRebalance
	// Stable: every member has its assignment.
	Stable
	// Dead: deleted or expired; the group object is about to go away.
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

// String returns Kafka's name of the state, as DescribeGroups and
// ListGroups report it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

// ParseState parses a state name case-insensitively, as ListGroups'
// state filter does.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, name) {
			return State(i), true
		}
	}
	return 0, false
}

// Token identifies a request waiting for an answer (a JoinGroup or a
// SyncGroup). The caller picks it; the state machine hands it back in a
// Reply. Zero means "no one is waiting".
type Token uint64

// Protocol is one assignment protocol a member supports, with the member's
// metadata for it (for "consumer" groups, its subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	// CommitTimestamp is when the commit was written (ms since the epoch).
	CommitTimestamp int64
	// ExpireTimestamp is an explicit expiry from OffsetCommit v1-v4
	// (-1 when none: the offset expires per offsets.retention.minutes).
	ExpireTimestamp int64
}

// Record is one record for the group's partition of __consumer_offsets.
// A nil Value is a tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// TimerKind says what a timer is for.
type TimerKind uint8

// Timer kinds.
const (
	// TimerJoin ends the PreparingRebalance phase (rebalance timeout or
	// group.initial.rebalance.delay.ms).
	TimerJoin TimerKind = iota + 1
	// TimerSession expires a member that stopped heartbeating.
	TimerSession
	// TimerPending expires a member that got MEMBER_ID_REQUIRED and never
	// came back (KIP-394).
	TimerPending
	// TimerSync removes members that joined but never sent SyncGroup
	// within the rebalance timeout.
	TimerSync
)

// TimerKey identifies a timer within a group; arming a key again replaces
// its previous deadline.
type TimerKey struct {
	Kind   TimerKind
	Member string // for TimerSession and TimerPending
}

// Timer asks the caller to call Group.OnTimer with Key at or after At
// (milliseconds since the epoch). Timers may fire late or spuriously: the
// state machine checks its own deadlines.
type Timer struct {
	Key TimerKey
	At  int64
}

// Reply is an answer to a waiting request.
type Reply struct {
	To   Token
	Join *JoinResult // set for a JoinGroup
	Sync *SyncResult // set for a SyncGroup
}

// Output is what one input decided: the records to persist (in order,
// before the replies are delivered), the replies, and the timers to arm.
// When StoreAck is set the caller must report the outcome of persisting
// Records with Group.Stored.
type Output struct {
	Records  []Record
	Replies  []Reply
	Timers   []Timer
	StoreAck bool
}

func (o *Output) timer(kind TimerKind, member string, at int64) {
	o.Timers = append(o.Timers, Timer{Key: TimerKey{Kind: kind, Member: member}, At: at})
}

func (o *Output) joinReply(to Token, r *JoinResult) {
	if to != 0 {
		o.Replies = append(o.Replies, Reply{To: to, Join: r})
	}
}

func (o *Output) syncReply(to Token, r *SyncResult) {
	if to != 0 {
		o.Replies = append(o.Replies, Reply{To: to, Sync: r})
	}
}

// merge appends b to o.
func (o *Output) merge(b Output) {
	o.Records = append(o.Records, b.Records...)
	o.Replies = append(o.Replies, b.Replies...)
	o.Timers = append(o.Timers, b.Timers...)
	o.StoreAck = o.StoreAck || b.StoreAck
}

// JoinRequest is a JoinGroup from one member.
type JoinRequest struct {
	MemberID     string // "" for a new member
	InstanceID   string // group.instance.id, "" for a dynamic member
	ClientID     string
	ClientHost   string
	ProtocolType string
	Protocols    []Protocol
	// SessionTimeoutMs and RebalanceTimeoutMs (v0 requests pass the
	// session timeout as both).
	SessionTimeoutMs   int32
	RebalanceTimeoutMs int32
	// RequireKnownMemberID is set from JoinGroup v4 on (KIP-394): a new
	// dynamic member first gets MEMBER_ID_REQUIRED with its ID.
	RequireKnownMemberID bool
	// SkipAssignmentOK is set from JoinGroup v9 on (KIP-814).
	SkipAssignmentOK bool
	Reason           string
}

// JoinedMember is one member as the leader sees it in a JoinGroup answer.
type JoinedMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResult answers a JoinGroup.
type JoinResult struct {
	Err            *kerr.Error
	MemberID       string
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	SkipAssignment bool
	Members        []JoinedMember // for the leader only
}

// SyncRequest is a SyncGroup from one member.
type SyncRequest struct {
	MemberID     string
	InstanceID   string
	Generation   int32
	ProtocolType *string // v5+
	Protocol     *string // v5+
	// Assignments is the leader's assignment, member ID to bytes.
	Assignments map[string][]byte
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err          *kerr.Error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// LeaveMember identifies one member leaving (LeaveGroup v3+ batches them).
type LeaveMember struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// CommitRequest is an OffsetCommit's group-level fields.
type CommitRequest struct {
	MemberID   string
	InstanceID string
	Generation int32 // -1: not a group member (kcat, kafka-go, admin)
	// Transactional is for TxnOffsetCommit (not served yet).
	Transactional bool
}

// CommitOffset is one partition's commit.
type CommitOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	// ExpireTimestamp is an explicit expiry (v1-v4 requests), or -1.
	ExpireTimestamp int64
}

// Description is a group as DescribeGroups reports it.
type Description struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// MemberDescription is one member in a Description.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte // in Stable only
	Assignment []byte // in Stable only
}

// Listing is a group as ListGroups reports it.
type Listing struct {
	Group        string
	ProtocolType string
	State        State
}
