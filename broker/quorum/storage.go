package quorum

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// load reads the snapshot and the WAL (bootstrapping both when Dir is
// empty), fills the MemoryStorage, restores the state machine and applies the
// committed entries after the snapshot.
func (n *Node) load() error {
	snap, err := loadSnapshot(n.cfg.Dir, func(path string, err error) {
		n.log.Warn("quorum: skipping unreadable snapshot", "path", path, "err", err)
	})
	if err != nil {
		return err
	}
	w, ws, walExists, err := openWAL(n.cfg.Dir, n.log)
	if err != nil {
		return err
	}
	n.wal = w
	if snap == nil {
		if walExists {
			return fmt.Errorf("%w: %s holds a WAL but no snapshot", ErrCorrupt, n.cfg.Dir)
		}
		if snap, err = n.bootstrap(); err != nil {
			return err
		}
		ws = &walState{}
	}
	if !slices.Equal(snap.GetMetadata().GetConfState().GetVoters(), n.voterIDs) {
		return fmt.Errorf("%w: Voters %v differ from the quorum's stored voters %v (voters are static)",
			ErrConfig, n.voterIDs, snap.GetMetadata().GetConfState().GetVoters())
	}
	n.confState = snap.GetMetadata().GetConfState()
	si, st := snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()

	ents, keep, err := reconcile(si, st, ws)
	if err != nil {
		return err
	}
	hs := &raftpb.HardState{}
	if ws.hs != nil {
		hs = proto.Clone(ws.hs).(*raftpb.HardState)
	}
	hs.Term = new(max(hs.GetTerm(), st))
	hs.Commit = new(min(max(hs.GetCommit(), si), si+uint64(len(ents))))
	if !keep {
		// The WAL does not continue the snapshot (no WAL yet, or a crash
		// between installing a snapshot and resetting the WAL): start it over.
		if ws.hasBase {
			n.log.Warn("quorum: WAL does not continue the snapshot; starting the log at the snapshot",
				"snapshot_index", si, "wal_base", ws.base.index, "wal_last", ws.last())
		}
		if err := n.wal.reset(entryID{si, st}, nil, hs); err != nil {
			return err
		}
	}

	n.ms = raft.NewMemoryStorage()
	if err := n.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("quorum: load snapshot: %w", err)
	}
	if err := n.ms.Append(ents); err != nil {
		return fmt.Errorf("quorum: load WAL: %w", err)
	}
	if err := n.ms.SetHardState(hs); err != nil {
		return fmt.Errorf("quorum: load hard state: %w", err)
	}
	n.hs = hs
	if err := n.sm.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("quorum: restore state machine from snapshot %d: %w", si, err)
	}
	n.applied, n.appliedTerm, n.snapIndex = si, st, si
	for _, e := range ents {
		if e.GetIndex() > hs.GetCommit() {
			break
		}
		n.applyEntry(e)
	}
	n.log.Info("quorum: opened", "snapshot_index", si, "last_index", si+uint64(len(ents)),
		"commit", hs.GetCommit(), "term", hs.GetTerm(), "voters", n.voterIDs)
	return nil
}

// bootstrap writes the initial snapshot (index 1, term 1, the voters, the
// Bootstrap data) and a WAL that starts after it.
func (n *Node) bootstrap() (*raftpb.Snapshot, error) {
	var data []byte
	if n.cfg.Bootstrap != nil {
		var err error
		if data, err = n.cfg.Bootstrap(); err != nil {
			return nil, fmt.Errorf("quorum: bootstrap: %w", err)
		}
	}
	snap := &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(uint64(1)),
			Term:      new(uint64(1)),
			ConfState: raftpb.EnsureConfState(&raftpb.ConfState{Voters: slices.Clone(n.voterIDs)}),
		},
	}
	if err := writeSnapshot(n.cfg.Dir, snap); err != nil {
		return nil, err
	}
	n.log.Info("quorum: bootstrapped", "voters", n.voterIDs, "bytes", len(data))
	return snap, nil
}

// reconcile returns the WAL entries that follow a snapshot at (si, st), and
// whether the WAL as it is continues the snapshot.
func reconcile(si, st uint64, ws *walState) ([]*raftpb.Entry, bool, error) {
	if !ws.hasBase {
		return nil, false, nil
	}
	if si < ws.base.index {
		return nil, false, fmt.Errorf("%w: the snapshot (index %d) is older than the start of the WAL (%d)",
			ErrCorrupt, si, ws.base.index)
	}
	if si > ws.last() {
		return nil, false, nil
	}
	term := ws.base.term
	if si > ws.base.index {
		term = ws.ents[si-ws.base.index-1].GetTerm()
	}
	if term != st {
		return nil, false, nil
	}
	return ws.ents[si-ws.base.index:], true, nil
}

// maybeSnapshot snapshots the state machine and compacts the log once
// SnapshotEntries entries have been applied since the last snapshot. It runs
// on the node's goroutine after Advance, when everything in the MemoryStorage
// is also in the WAL.
func (n *Node) maybeSnapshot() error {
	if n.applied-n.snapIndex < n.cfg.SnapshotEntries {
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		// Not fatal: the log just keeps growing until a snapshot succeeds.
		n.log.Error("quorum: state machine snapshot failed", "err", err)
		n.snapIndex = n.applied // retry after another SnapshotEntries
		return nil
	}
	if len(data) > MaxFrameSize-(1<<20) {
		n.log.Error("quorum: the state machine's snapshot is too large to send to a lagging follower",
			"bytes", len(data), "max", MaxFrameSize-(1<<20))
	}
	snap, err := n.ms.CreateSnapshot(n.applied, n.confState, data)
	if err != nil {
		return fmt.Errorf("quorum: create snapshot: %w", err)
	}
	if err := writeSnapshot(n.cfg.Dir, snap); err != nil {
		return err
	}
	n.snapIndex = n.applied
	return n.compact()
}

// compact drops log entries up to RetainEntries before the last snapshot,
// from memory and (by rewriting it) from the WAL.
func (n *Node) compact() error {
	first, _ := n.ms.FirstIndex()
	last, _ := n.ms.LastIndex()
	if n.snapIndex <= n.cfg.RetainEntries {
		return pruneSnapshots(n.cfg.Dir)
	}
	to := n.snapIndex - n.cfg.RetainEntries
	if to < first {
		return pruneSnapshots(n.cfg.Dir)
	}
	if err := n.ms.Compact(to); err != nil {
		return fmt.Errorf("quorum: compact log: %w", err)
	}
	term, err := n.ms.Term(to)
	if err != nil {
		return fmt.Errorf("quorum: compact log: %w", err)
	}
	var ents []*raftpb.Entry
	if to < last {
		if ents, err = n.ms.Entries(to+1, last+1, 1<<62); err != nil {
			return fmt.Errorf("quorum: compact log: %w", err)
		}
	}
	if err := n.wal.reset(entryID{to, term}, ents, n.hs); err != nil {
		return err
	}
	n.log.Debug("quorum: compacted log", "snapshot_index", n.snapIndex, "first_index", to+1, "last_index", last)
	return pruneSnapshots(n.cfg.Dir)
}

// installSnapshot persists a snapshot received from the leader, together with
// the entries and hard state of the same Ready: the snapshot file first, then
// a WAL that starts after it.
func (n *Node) installSnapshot(snap *raftpb.Snapshot, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	if err := writeSnapshot(n.cfg.Dir, snap); err != nil {
		return err
	}
	if hs == nil {
		hs = n.hs
	}
	md := snap.GetMetadata()
	if err := n.wal.reset(entryID{md.GetIndex(), md.GetTerm()}, ents, hs); err != nil {
		return err
	}
	if err := n.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("quorum: install snapshot: %w", err)
	}
	return pruneSnapshots(n.cfg.Dir)
}
