package group

import (
	"bytes"
	"slices"
)

// member is one member of a group.
type member struct {
	id         string
	instanceID string
	clientID   string
	clientHost string

	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocolType       string
	protocols          []Protocol
	assignment         []byte

	joinWaiter Token // a JoinGroup waiting for the rebalance to complete
	syncWaiter Token // a SyncGroup waiting for the leader's assignment
	isNew      bool  // joined in the current rebalance, not yet answered
	joinedAt   int64 // when it joined as a new member

	deadline int64 // session expiry (ms)
	armedAt  int64 // when the session timer is armed for, 0 if none
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether m already has exactly these protocols.
func (m *member) matches(ps []Protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].Name != m.protocols[i].Name || !bytes.Equal(ps[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// Group is one classic consumer group: a pure state machine. Every method
// takes the current time in milliseconds and returns what to persist,
// answer and time; none does I/O or reads a clock. A Group is not safe for
// concurrent use: its owner serializes calls (the Coordinator holds one
// lock per group).
type Group struct {
	cfg *Config
	id  string

	state          State
	stateTimestamp int64
	protocolType   string
	protocol       string
	generation     int32
	leader         string

	members map[string]*member
	order   []string          // member IDs in join order
	static  map[string]string // group.instance.id -> member ID
	pending map[string]int64  // KIP-394 pending member ID -> deadline

	// PreparingRebalance bookkeeping.
	joinDeadline   int64
	joinInitial    bool  // in group.initial.rebalance.delay.ms
	joinRemaining  int64 // how much more the initial delay may grow
	newMemberAdded bool

	// CompletingRebalance bookkeeping.
	pendingSync  map[string]bool // joined this generation, not yet synced
	syncDeadline int64
	syncGen      int32
	storing      map[string][]byte // leader's assignment being persisted
	storingGen   int32

	// subscribed is the union of the members' subscribed topics for a
	// "consumer" group (nil when unknown).
	subscribed map[string]bool

	offsets map[TopicPartition]Offset
	// txnOffsets are transactional commits (TxnOffsetCommit) waiting for
	// their transaction's marker, by producer ID (txn.go).
	txnOffsets map[int64]map[TopicPartition]Offset
}

// NewGroup returns an Empty group. cfg must have been validated; the group
// keeps a pointer to it.
func NewGroup(cfg *Config, id string, now int64) *Group {
	return &Group{
		cfg:            cfg,
		id:             id,
		state:          Empty,
		stateTimestamp: now,
		members:        map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]int64{},
		pendingSync:    map[string]bool{},
		offsets:        map[TopicPartition]Offset{},
		txnOffsets:     map[int64]map[TopicPartition]Offset{},
	}
}

// ID is the group ID.
func (g *Group) ID() string { return g.id }

// State is the group's current state.
func (g *Group) State() State { return g.state }

// Generation is the group's current generation.
func (g *Group) Generation() int32 { return g.generation }

// Leader is the current leader's member ID ("" when none).
func (g *Group) Leader() string { return g.leader }

// NumMembers is how many members the group has.
func (g *Group) NumMembers() int { return len(g.members) }

func (g *Group) transition(s State, now int64) {
	g.state = s
	g.stateTimestamp = now
}

// Describe reports the group as DescribeGroups does: member metadata and
// assignments only when Stable.
func (g *Group) Describe() Description {
	d := Description{Group: g.id, State: g.state, ProtocolType: g.protocolType}
	if g.state == Stable {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable {
			md.Metadata = m.metadataFor(g.protocol)
			md.Assignment = m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// Listing reports the group as ListGroups does.
func (g *Group) Listing() Listing {
	return Listing{Group: g.id, ProtocolType: g.protocolType, State: g.state}
}

func (g *Group) rebalanceTimeout() int64 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeoutMs)
	}
	return int64(t)
}

// allJoined reports whether every member is waiting in JoinGroup and no
// KIP-394 member is still expected.
func (g *Group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinWaiter == 0 {
			return false
		}
	}
	return true
}

// supportsProtocols reports whether a member with these protocols may be
// in the group: for an empty group, any non-empty set; otherwise the same
// protocol type and a protocol every other member supports too.
func (g *Group) supportsProtocols(protocolType string, ps []Protocol, self string) bool {
	if len(g.members) == 0 || (len(g.members) == 1 && g.members[self] != nil) {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		ok := true
		for id, m := range g.members {
			if id == self {
				continue
			}
			if !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer (each votes for its first choice among the candidates); ties go to
// the earlier choice of the longest-standing member.
func (g *Group) selectProtocol() string {
	if len(g.order) == 0 {
		return ""
	}
	first := g.members[g.order[0]]
	var candidates []string
	for _, p := range first.protocols {
		all := true
		for _, m := range g.members {
			if !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *Group) addToOrder(id string) { g.order = append(g.order, id) }

func (g *Group) removeFromOrder(id string) {
	if i := slices.Index(g.order, id); i >= 0 {
		g.order = slices.Delete(g.order, i, i+1)
	}
}
