package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

func joinErr(memberID string, err *kerr.Error) *JoinResult {
	return &JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

// Join handles a JoinGroup. The answer comes back in the Output's Replies,
// addressed to `to`, now or from a later call (when the rebalance
// completes).
func (g *Group) Join(now int64, req JoinRequest, to Token) Output {
	var out Output
	st := int64(req.SessionTimeoutMs)
	if st < g.cfg.MinSessionTimeout.Milliseconds() || st > g.cfg.MaxSessionTimeout.Milliseconds() {
		out.joinReply(to, joinErr(req.MemberID, kerr.InvalidSessionTimeout))
		return out
	}
	if g.state == Dead {
		out.joinReply(to, joinErr(req.MemberID, kerr.CoordinatorNotAvailable))
		return out
	}
	if req.MemberID == "" {
		g.joinNew(now, req, to, &out)
	} else {
		g.joinKnown(now, req, to, &out)
	}
	return out
}

// joinNew handles a join without a member ID.
func (g *Group) joinNew(now int64, req JoinRequest, to Token, out *Output) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, "") {
		out.joinReply(to, joinErr("", kerr.InconsistentGroupProtocol))
		return
	}
	if req.InstanceID != "" {
		if old, ok := g.static[req.InstanceID]; ok {
			g.replaceStatic(now, g.members[old], req, to, out)
			return
		}
	}
	if len(g.members)+len(g.pending) >= g.cfg.MaxSize {
		out.joinReply(to, joinErr("", kerr.GroupMaxSizeReached))
		return
	}
	if req.InstanceID != "" {
		g.addMember(now, g.cfg.NewMemberID(req.InstanceID), req, to, out)
		return
	}
	id := g.cfg.NewMemberID(req.ClientID)
	if req.RequireKnownMemberID {
		deadline := now + int64(req.SessionTimeoutMs)
		g.pending[id] = deadline
		out.timer(TimerPending, id, deadline)
		out.joinReply(to, joinErr(id, kerr.MemberIDRequired))
		return
	}
	g.addMember(now, id, req, to, out)
}

// joinKnown handles a join from a member that has its ID.
func (g *Group) joinKnown(now int64, req JoinRequest, to Token, out *Output) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, req.MemberID) {
		out.joinReply(to, joinErr(req.MemberID, kerr.InconsistentGroupProtocol))
		return
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		g.addMember(now, req.MemberID, req, to, out)
		return
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		out.joinReply(to, joinErr(req.MemberID, err))
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		g.updateMember(now, m, req, to, out)
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			g.touch(now, m, out)
			out.joinReply(to, g.currentJoinResult(m, g.leader == m.id, false))
			return
		}
		g.updateMember(now, m, req, to, out)
	case Stable:
		if g.leader != m.id && m.matches(req.Protocols) {
			g.touch(now, m, out)
			out.joinReply(to, g.currentJoinResult(m, false, false))
			return
		}
		g.updateMember(now, m, req, to, out)
	default: // Empty has no members
		out.joinReply(to, joinErr(req.MemberID, kerr.UnknownMemberID))
	}
}

// validateMember checks a member ID and, for static members, that the
// instance ID maps to it (FENCED_INSTANCE_ID when another member holds it).
func (g *Group) validateMember(memberID, instanceID string) *kerr.Error {
	if instanceID != "" {
		cur, ok := g.static[instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if cur != memberID {
			return kerr.FencedInstanceID
		}
		return nil
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// currentJoinResult answers a join with the current generation, without a
// rebalance.
func (g *Group) currentJoinResult(m *member, withMembers, skip bool) *JoinResult {
	r := &JoinResult{MemberID: m.id, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, SkipAssignment: skip}
	if withMembers {
		r.Members = g.joinedMembers()
	}
	return r
}

func (g *Group) joinedMembers() []JoinedMember {
	out := make([]JoinedMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		out = append(out, JoinedMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
	}
	return out
}

func (g *Group) addMember(now int64, id string, req JoinRequest, to Token, out *Output) {
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeoutMs: req.SessionTimeoutMs, rebalanceTimeoutMs: req.RebalanceTimeoutMs,
		protocolType: req.ProtocolType, protocols: req.Protocols,
		joinWaiter: to, isNew: true, joinedAt: now,
	}
	g.members[id] = m
	g.addToOrder(id)
	if m.instanceID != "" {
		g.static[m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	g.setDeadline(now, m, now+g.cfg.NewMemberJoinTimeout.Milliseconds(), out)
	if g.state == PreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.maybePrepareRebalance(now, out)
	g.tryCompleteJoin(now, out)
}

func (g *Group) updateMember(now int64, m *member, req JoinRequest, to Token, out *Output) {
	m.protocols = req.Protocols
	m.protocolType = req.ProtocolType
	m.sessionTimeoutMs = req.SessionTimeoutMs
	m.rebalanceTimeoutMs = req.RebalanceTimeoutMs
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if m.joinWaiter != 0 && m.joinWaiter != to {
		out.joinReply(m.joinWaiter, joinErr(m.id, kerr.RebalanceInProgress))
	}
	m.joinWaiter = to
	g.maybePrepareRebalance(now, out)
	g.tryCompleteJoin(now, out)
}

// replaceStatic gives a rejoining static member a new member ID, fencing
// the old one (KIP-345).
func (g *Group) replaceStatic(now int64, m *member, req JoinRequest, to Token, out *Output) {
	oldID := m.id
	if m.joinWaiter != 0 {
		out.joinReply(m.joinWaiter, joinErr(oldID, kerr.FencedInstanceID))
		m.joinWaiter = 0
	}
	if m.syncWaiter != 0 {
		out.syncReply(m.syncWaiter, &SyncResult{Err: kerr.FencedInstanceID})
		m.syncWaiter = 0
	}
	newID := g.cfg.NewMemberID(req.InstanceID)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[req.InstanceID] = newID
	if i := indexOf(g.order, oldID); i >= 0 {
		g.order[i] = newID
	}
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	m.armedAt = 0 // the old ID's timer no longer finds it
	if g.state == Stable && m.matches(req.Protocols) {
		m.sessionTimeoutMs = req.SessionTimeoutMs
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMs
		m.clientID, m.clientHost = req.ClientID, req.ClientHost
		g.touch(now, m, out)
		out.Records = append(out.Records, g.metadataRecord(now))
		leader := g.leader == newID && req.SkipAssignmentOK
		out.joinReply(to, g.currentJoinResult(m, leader, leader))
		return
	}
	g.touch(now, m, out)
	g.updateMember(now, m, req, to, out)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func (g *Group) maybePrepareRebalance(now int64, out *Output) {
	switch g.state {
	case Empty, CompletingRebalance, Stable:
		g.prepareRebalance(now, out)
	}
}

// prepareRebalance moves the group to PreparingRebalance: members waiting
// for an assignment are told REBALANCE_IN_PROGRESS, and the join phase is
// timed (group.initial.rebalance.delay.ms for an empty group, the longest
// rebalance timeout otherwise).
func (g *Group) prepareRebalance(now int64, out *Output) {
	if g.state == CompletingRebalance {
		g.propagateSyncError(kerr.RebalanceInProgress, out)
	}
	clear(g.pendingSync)
	g.storing = nil
	rt := g.rebalanceTimeout()
	delay := g.cfg.InitialRebalanceDelay.Milliseconds()
	if g.state == Empty && delay > 0 {
		d := min(delay, rt)
		g.joinInitial = true
		g.joinRemaining = max(rt-delay, 0)
		g.joinDeadline = now + d
	} else {
		g.joinInitial = false
		g.joinDeadline = now + rt
	}
	g.transition(PreparingRebalance, now)
	out.timer(TimerJoin, "", g.joinDeadline)
}

// propagateSyncError answers every waiting SyncGroup with err and drops
// the assignments.
func (g *Group) propagateSyncError(err *kerr.Error, out *Output) {
	for _, id := range g.order {
		m := g.members[id]
		m.assignment = nil
		if m.syncWaiter != 0 {
			out.syncReply(m.syncWaiter, &SyncResult{Err: err})
			m.syncWaiter = 0
		}
	}
}

func (g *Group) tryCompleteJoin(now int64, out *Output) {
	if g.state == PreparingRebalance && !g.joinInitial && g.allJoined() {
		g.completeJoin(now, out)
	}
}

// completeJoin ends PreparingRebalance: dynamic members that did not rejoin
// are removed, the next generation starts, and every waiting JoinGroup is
// answered (the leader gets the members and their metadata).
func (g *Group) completeJoin(now int64, out *Output) {
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m.joinWaiter == 0 && m.instanceID == "" {
			g.dropMember(m, out)
		}
	}
	if l := g.members[g.leader]; l == nil || l.joinWaiter == 0 {
		g.leader = ""
		for _, id := range g.order {
			if g.members[id].joinWaiter != 0 {
				g.leader = id
				break
			}
		}
		if g.leader == "" && len(g.members) > 0 {
			// Only static members that have not rejoined are left: wait
			// another rebalance timeout for them (or their sessions) to end.
			g.joinDeadline = now + g.rebalanceTimeout()
			out.timer(TimerJoin, "", g.joinDeadline)
			return
		}
	}
	g.generation++
	g.joinInitial = false
	g.newMemberAdded = false
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed = nil
		g.transition(Empty, now)
		out.Records = append(out.Records, g.metadataRecord(now))
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.subscriptions()
	g.transition(CompletingRebalance, now)
	clear(g.pendingSync)
	for _, id := range g.order {
		m := g.members[id]
		g.pendingSync[id] = true
		if m.joinWaiter == 0 {
			continue
		}
		r := g.currentJoinResult(m, id == g.leader, false)
		out.joinReply(m.joinWaiter, r)
		m.joinWaiter = 0
		m.isNew = false
		g.setDeadline(now, m, now+int64(m.sessionTimeoutMs), out)
	}
	g.syncGen = g.generation
	g.syncDeadline = now + g.rebalanceTimeout()
	out.timer(TimerSync, "", g.syncDeadline)
}

// touch extends a member's session from now.
func (g *Group) touch(now int64, m *member, out *Output) {
	g.setDeadline(now, m, now+int64(m.sessionTimeoutMs), out)
}

// setDeadline sets a member's session deadline, arming a timer only when
// none is armed at or before it (a timer that fires early re-arms).
func (g *Group) setDeadline(now int64, m *member, deadline int64, out *Output) {
	m.deadline = deadline
	if m.armedAt == 0 || m.armedAt > deadline {
		m.armedAt = deadline
		out.timer(TimerSession, m.id, deadline)
	}
}

// dropMember removes a member without rebalancing; its waiting requests
// get UNKNOWN_MEMBER_ID.
func (g *Group) dropMember(m *member, out *Output) {
	if m.joinWaiter != 0 {
		out.joinReply(m.joinWaiter, joinErr(m.id, kerr.UnknownMemberID))
		m.joinWaiter = 0
	}
	if m.syncWaiter != 0 {
		out.syncReply(m.syncWaiter, &SyncResult{Err: kerr.UnknownMemberID})
		m.syncWaiter = 0
	}
	delete(g.members, m.id)
	g.removeFromOrder(m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// removeMember removes a member (left or expired) and moves the group on.
func (g *Group) removeMember(now int64, m *member, out *Output) {
	g.dropMember(m, out)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, out)
		g.tryCompleteJoin(now, out)
	case PreparingRebalance:
		g.tryCompleteJoin(now, out)
	}
}

// OnTimer handles a timer the caller armed. It is harmless to call early,
// late, or for a timer that a later decision made moot.
func (g *Group) OnTimer(now int64, key TimerKey) Output {
	var out Output
	switch key.Kind {
	case TimerJoin:
		if g.state != PreparingRebalance || now < g.joinDeadline {
			break
		}
		if g.joinInitial && g.newMemberAdded && g.joinRemaining > 0 {
			g.newMemberAdded = false
			d := min(g.cfg.InitialRebalanceDelay.Milliseconds(), g.joinRemaining)
			g.joinRemaining -= d
			g.joinDeadline = now + d
			out.timer(TimerJoin, "", g.joinDeadline)
			break
		}
		g.completeJoin(now, &out)
	case TimerSession:
		m := g.members[key.Member]
		if m == nil || m.armedAt == 0 {
			break
		}
		m.armedAt = 0
		if now < m.deadline {
			g.setDeadline(now, m, m.deadline, &out)
			break
		}
		if g.keepAlive(now, m) {
			g.touch(now, m, &out)
			break
		}
		g.cfg.Logger.Info("group member session expired", "group", g.id, "member", m.id, "generation", g.generation)
		g.removeMember(now, m, &out)
	case TimerPending:
		if d, ok := g.pending[key.Member]; ok && now >= d {
			delete(g.pending, key.Member)
			g.tryCompleteJoin(now, &out)
		}
	case TimerSync:
		if now < g.syncDeadline || g.syncGen != g.generation || len(g.pendingSync) == 0 {
			break
		}
		if g.state != CompletingRebalance && g.state != Stable {
			break
		}
		for _, id := range append([]string(nil), g.order...) {
			if g.pendingSync[id] {
				g.cfg.Logger.Info("group member did not sync in time", "group", g.id, "member", id, "generation", g.generation)
				g.dropMember(g.members[id], &out)
			}
		}
		g.prepareRebalance(now, &out)
		g.tryCompleteJoin(now, &out)
	}
	return out
}

// keepAlive reports whether a member past its session deadline is alive
// anyway: it is blocked in JoinGroup or SyncGroup (a new member only for
// NewMemberJoinTimeout).
func (g *Group) keepAlive(now int64, m *member) bool {
	if m.joinWaiter != 0 {
		return !m.isNew || now < m.joinedAt+g.cfg.NewMemberJoinTimeout.Milliseconds()
	}
	return m.syncWaiter != 0
}
