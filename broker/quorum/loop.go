package quorum

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Every proposed entry starts with a header that lets the proposer find its
// entry when it is applied; the StateMachine sees only what follows it.
//
//	version  byte (1)
//	node     uint64 big-endian: the proposer's node id
//	seq      uint64 big-endian: the proposer's sequence (random start per Open)
const (
	entryVersion    = 1
	entryHeaderSize = 17
	// maxBatch bounds the events handled before the next Ready, so one fsync
	// covers many proposals under load.
	maxBatch = 64
)

func encodeEntry(node, seq uint64, payload []byte) []byte {
	b := make([]byte, entryHeaderSize, entryHeaderSize+len(payload))
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:], node)
	binary.BigEndian.PutUint64(b[9:], seq)
	return append(b, payload...)
}

func decodeEntry(b []byte) (node, seq uint64, payload []byte, ok bool) {
	if len(b) < entryHeaderSize || b[0] != entryVersion {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:]), b[entryHeaderSize:], true
}

// run is the node's goroutine: the only one that touches the RawNode, the
// storage and the state machine.
func (n *Node) run() {
	defer close(n.done)
	defer n.failPending()
	var tickc <-chan time.Time
	if n.cfg.TickInterval > 0 {
		t := time.NewTicker(n.cfg.TickInterval)
		defer t.Stop()
		tickc = t.C
	}
	for {
		if err := n.handleReadies(); err != nil {
			n.log.Error("quorum: node stopped by a storage failure", "err", err)
			n.mu.Lock()
			n.fatal = err
			n.mu.Unlock()
			return
		}
		select {
		case <-n.stopc:
			return
		case <-tickc:
			n.tick()
		case <-n.tickc:
			n.tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose(p)
		case r := <-n.readc:
			n.read(r)
		case r := <-n.reportc:
			n.report(r)
		}
		// Take whatever else is waiting, so one Ready (one fsync) covers it.
	batch:
		for range maxBatch {
			select {
			case m := <-n.recvc:
				n.step(m)
			case p := <-n.propc:
				n.propose(p)
			case r := <-n.readc:
				n.read(r)
			case r := <-n.reportc:
				n.report(r)
			default:
				break batch
			}
		}
	}
}

func (n *Node) tick() {
	n.ticks++
	n.rn.Tick()
	if n.ticks%uint64(n.cfg.HeartbeatTicks) == 0 {
		n.publishStatus() // LastContact moves without Readies
	}
	// A ReadIndex request is dropped when there is no leader: ask again
	// after an election timeout; forget requests whose caller gave up.
	for id, r := range n.reads {
		if r.ctx.Err() != nil {
			delete(n.reads, id)
			continue
		}
		if !r.hasIndex && n.ticks-r.issued >= uint64(n.cfg.ElectionTicks) {
			r.issued = n.ticks
			n.rn.ReadIndex(readCtx(id))
		}
	}
}

func (n *Node) step(m *raftpb.Message) {
	n.lastContact[m.GetFrom()] = time.Now()
	if err := n.rn.Step(m); err != nil {
		n.log.Debug("quorum: dropped message", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

func (n *Node) propose(p *proposal) {
	if !n.ready {
		p.finish(0, ErrNotLeader)
		return
	}
	n.seq++
	p.seq = n.seq
	if err := n.rn.Propose(encodeEntry(n.id, p.seq, p.data)); err != nil {
		p.finish(0, fmt.Errorf("%w: %w", ErrProposalDropped, err))
		return
	}
	n.waiters[p.seq] = p
}

func readCtx(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func (n *Node) read(r *readReq) {
	n.readSeq++
	r.id, r.issued = n.readSeq, n.ticks
	n.reads[r.id] = r
	n.rn.ReadIndex(readCtx(r.id))
}

func (n *Node) report(r report) {
	if r.snap {
		status := raft.SnapshotFinish
		if r.failed {
			status = raft.SnapshotFailure
		}
		n.rn.ReportSnapshot(r.id, status)
		return
	}
	n.rn.ReportUnreachable(r.id)
}

// handleReadies runs RawNode's Ready contract until nothing is pending:
// persist the snapshot, entries and hard state (fsync when raft asks), then
// send messages, then apply, then Advance. An error is a storage failure that
// stops the node.
func (n *Node) handleReadies() error {
	if !n.rn.HasReady() {
		return nil
	}
	defer n.publishStatus()
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		snap := rd.Snapshot
		hasSnap := !raft.IsEmptySnap(snap)
		if hasSnap {
			if err := n.installSnapshot(snap, rd.Entries, rd.HardState); err != nil {
				return err
			}
		} else if err := n.wal.save(rd.Entries, rd.HardState, rd.MustSync); err != nil {
			return err
		}
		if err := n.ms.Append(rd.Entries); err != nil {
			return fmt.Errorf("quorum: append to log: %w", err)
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := n.ms.SetHardState(rd.HardState); err != nil {
				return fmt.Errorf("quorum: set hard state: %w", err)
			}
			n.hs = rd.HardState
		}
		for _, e := range rd.Entries {
			if node, seq, _, ok := decodeEntry(e.GetData()); ok && node == n.id && n.waiters[seq] != nil {
				n.byIndex[e.GetIndex()] = seq
			}
		}
		if len(rd.Messages) > 0 {
			n.transport.Send(rd.Messages)
		}
		if hasSnap {
			if err := n.restore(snap); err != nil {
				return err
			}
		}
		for _, e := range rd.CommittedEntries {
			n.applyEntry(e)
		}
		for _, rs := range rd.ReadStates {
			if len(rs.RequestCtx) != 8 {
				continue
			}
			if r := n.reads[binary.BigEndian.Uint64(rs.RequestCtx)]; r != nil && !r.hasIndex {
				r.index, r.hasIndex = rs.Index, true
			}
		}
		if rd.SoftState != nil {
			n.raftState, n.lead = rd.SoftState.RaftState, rd.SoftState.Lead
		}
		n.rn.Advance(rd)
		if err := n.maybeSnapshot(); err != nil {
			return err
		}
		n.finishReads()
		n.updateLeadership()
	}
	return nil
}

// restore replaces the state machine with a snapshot from the leader.
func (n *Node) restore(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	if err := n.sm.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("quorum: restore state machine from the leader's snapshot %d: %w", md.GetIndex(), err)
	}
	n.applied, n.appliedTerm, n.snapIndex = md.GetIndex(), md.GetTerm(), md.GetIndex()
	n.confState = md.GetConfState()
	// Proposals whose position the snapshot covers: committed or not, this
	// node cannot tell.
	for idx, seq := range n.byIndex {
		if idx <= n.applied {
			if p := n.waiters[seq]; p != nil {
				p.finish(0, ErrOutcomeUnknown)
				delete(n.waiters, seq)
			}
			delete(n.byIndex, idx)
		}
	}
	n.log.Info("quorum: installed snapshot from the leader", "index", md.GetIndex(), "term", md.GetTerm())
	return nil
}

// applyEntry hands a committed entry's payload to the state machine and the
// result to its proposer. Empty entries (a new leader's) and conf changes
// (voters are static) are not applied.
func (n *Node) applyEntry(e *raftpb.Entry) {
	idx := e.GetIndex()
	n.applied, n.appliedTerm = idx, e.GetTerm()
	var (
		node, seq uint64
		ok        bool
		err       error
	)
	switch {
	case e.GetType() != raftpb.EntryNormal:
		n.log.Warn("quorum: ignoring a conf change entry (voters are static)", "index", idx)
	case len(e.GetData()) == 0:
	default:
		var payload []byte
		node, seq, payload, ok = decodeEntry(e.GetData())
		if !ok {
			n.log.Error("quorum: skipping an entry with an unknown header", "index", idx)
			break
		}
		err = n.sm.Apply(idx, payload)
	}
	if ok && node == n.id {
		if p := n.waiters[seq]; p != nil {
			p.finish(idx, err)
			delete(n.waiters, seq)
		}
	}
	if want, found := n.byIndex[idx]; found {
		delete(n.byIndex, idx)
		if p := n.waiters[want]; p != nil {
			// Another leader's entry took our proposal's place.
			p.finish(0, ErrProposalDropped)
			delete(n.waiters, want)
		}
	}
}

func (n *Node) finishReads() {
	for id, r := range n.reads {
		if r.hasIndex && r.index <= n.applied {
			r.done <- nil
			delete(n.reads, id)
		}
	}
}

// updateLeadership recomputes whether this node is the ready leader and
// tells OnLeadership when that changes.
func (n *Node) updateLeadership() {
	term := n.hs.GetTerm()
	ready := n.raftState == raft.StateLeader && n.appliedTerm == term
	n.leader.Store(n.lead)
	if ready == n.ready {
		return
	}
	n.ready = ready
	n.leaderReady.Store(ready)
	n.log.Info("quorum: leadership changed", "ready_leader", ready, "term", term)
	if n.cfg.OnLeadership != nil {
		n.cfg.OnLeadership(ready, term)
	}
}

// failPending ends every waiting Propose and Barrier when the goroutine
// stops.
func (n *Node) failPending() {
	err := n.closedErr()
	for seq, p := range n.waiters {
		p.finish(0, err)
		delete(n.waiters, seq)
	}
	for id, r := range n.reads {
		r.done <- err
		delete(n.reads, id)
	}
	if n.ready {
		n.ready = false
		n.leaderReady.Store(false)
		if n.cfg.OnLeadership != nil {
			n.cfg.OnLeadership(false, n.hs.GetTerm())
		}
	}
	n.leader.Store(0)
}

// publishStatus copies the node's state for Status.
func (n *Node) publishStatus() {
	st := Status{
		ID:          n.id,
		Leader:      n.lead,
		Term:        n.hs.GetTerm(),
		Commit:      n.hs.GetCommit(),
		Applied:     n.applied,
		LeaderReady: n.ready,
	}
	var match map[uint64]uint64
	if n.raftState == raft.StateLeader {
		match = map[uint64]uint64{}
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) { match[id] = pr.Match })
	}
	last, _ := n.ms.LastIndex()
	for _, id := range n.voterIDs {
		vs := VoterStatus{ID: id, Addr: n.cfg.Voters[id], LastContact: n.lastContact[id]}
		if m, ok := match[id]; ok {
			vs.Match = m
			if last > m {
				vs.Lag = last - m
			}
		}
		st.Voters = append(st.Voters, vs)
	}
	n.mu.Lock()
	n.status = st
	n.mu.Unlock()
}
