package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// Sync handles a SyncGroup. The answer comes back in the Output's Replies,
// addressed to `to`. When the leader sends the assignment, the Output holds
// the group metadata record with StoreAck set: the caller persists it and
// reports the outcome with Stored, which answers the waiting members.
func (g *Group) Sync(now int64, req SyncRequest, to Token) Output {
	var out Output
	if err := g.validateSync(req); err != nil {
		out.syncReply(to, &SyncResult{Err: err})
		return out
	}
	m := g.members[req.MemberID]
	switch g.state {
	case Empty:
		out.syncReply(to, &SyncResult{Err: kerr.UnknownMemberID})
	case PreparingRebalance:
		out.syncReply(to, &SyncResult{Err: kerr.RebalanceInProgress})
	case CompletingRebalance:
		if m.syncWaiter != 0 && m.syncWaiter != to {
			out.syncReply(m.syncWaiter, &SyncResult{Err: kerr.RebalanceInProgress})
		}
		m.syncWaiter = to
		delete(g.pendingSync, m.id)
		g.touch(now, m, &out)
		if m.id == g.leader && g.storing == nil {
			g.storing = map[string][]byte{}
			for _, id := range g.order {
				g.storing[id] = req.Assignments[id]
			}
			g.storingGen = g.generation
			out.Records = append(out.Records, g.metadataRecordWith(now, g.storing))
			out.StoreAck = true
		}
	case Stable:
		delete(g.pendingSync, m.id)
		g.touch(now, m, &out)
		out.syncReply(to, &SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
	}
	return out
}

func (g *Group) validateSync(req SyncRequest) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType {
		return kerr.InconsistentGroupProtocol
	}
	if req.Protocol != nil && *req.Protocol != g.protocol {
		return kerr.InconsistentGroupProtocol
	}
	return nil
}

// Stored reports whether the records of the last Output with StoreAck
// were persisted. On success the leader's assignment takes effect, the
// group becomes Stable and the waiting SyncGroups are answered; on failure
// they get err (Kafka maps storage failures to COORDINATOR_NOT_AVAILABLE or
// NOT_COORDINATOR) and the group rebalances.
func (g *Group) Stored(now int64, err *kerr.Error) Output {
	var out Output
	assign, gen := g.storing, g.storingGen
	g.storing = nil
	if assign == nil || gen != g.generation || g.state != CompletingRebalance {
		return out
	}
	if err != nil {
		g.propagateSyncError(err, &out)
		g.prepareRebalance(now, &out)
		g.tryCompleteJoin(now, &out)
		return out
	}
	for _, id := range g.order {
		m := g.members[id]
		m.assignment = assign[id]
		if m.syncWaiter != 0 {
			out.syncReply(m.syncWaiter, &SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
			m.syncWaiter = 0
		}
	}
	g.transition(Stable, now)
	return out
}

// Heartbeat handles a Heartbeat and returns its error code (nil for none).
func (g *Group) Heartbeat(now int64, memberID, instanceID string, generation int32) (*kerr.Error, Output) {
	var out Output
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable, out
	}
	if err := g.validateMember(memberID, instanceID); err != nil {
		return err, out
	}
	if generation != g.generation {
		return kerr.IllegalGeneration, out
	}
	m := g.members[memberID]
	switch g.state {
	case Empty:
		return kerr.UnknownMemberID, out
	case PreparingRebalance:
		g.touch(now, m, &out)
		return kerr.RebalanceInProgress, out
	default:
		g.touch(now, m, &out)
		return nil, out
	}
}

// Leave handles a LeaveGroup for one or more members and returns each
// member's error code, in order.
func (g *Group) Leave(now int64, leaving []LeaveMember) ([]*kerr.Error, Output) {
	var out Output
	errs := make([]*kerr.Error, len(leaving))
	if g.state == Dead {
		for i := range errs {
			errs[i] = kerr.CoordinatorNotAvailable
		}
		return errs, out
	}
	for i, l := range leaving {
		id := l.MemberID
		if id == "" && l.InstanceID != "" {
			cur, ok := g.static[l.InstanceID]
			if !ok {
				errs[i] = kerr.UnknownMemberID
				continue
			}
			id = cur
		}
		if _, ok := g.pending[id]; ok && l.InstanceID == "" {
			delete(g.pending, id)
			g.tryCompleteJoin(now, &out)
			continue
		}
		if err := g.validateMember(id, l.InstanceID); err != nil {
			errs[i] = err
			continue
		}
		g.cfg.Logger.Debug("group member left", "group", g.id, "member", id, "reason", l.Reason)
		g.removeMember(now, g.members[id], &out)
	}
	return errs, out
}
