package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// Transactional offset commits (KIP-98, KIP-447): a TxnOffsetCommit writes
// its offsets to __consumer_offsets inside the producer's transaction; they
// stay pending, invisible to OffsetFetch, until the transaction's marker
// reaches the group's partition, which applies them (commit) or drops them
// (abort). While any are pending, OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT.

// StageTxnOffsets records persisted transactional commits of a producer.
func (g *Group) StageTxnOffsets(producerID int64, offsets []CommitOffset, vals []Offset) {
	m := g.txnOffsets[producerID]
	if m == nil {
		m = map[TopicPartition]Offset{}
		g.txnOffsets[producerID] = m
	}
	for i, c := range offsets {
		m[c.TopicPartition] = vals[i]
	}
}

// CompleteTxn applies (commit) or drops (abort) a producer's pending
// transactional commits, and reports whether it had any.
func (g *Group) CompleteTxn(producerID int64, commit bool) bool {
	m, ok := g.txnOffsets[producerID]
	if !ok {
		return false
	}
	delete(g.txnOffsets, producerID)
	if commit {
		for tp, o := range m {
			g.offsets[tp] = o
		}
	}
	return true
}

// HasPendingTxn reports whether a transactional commit touching any of tps
// (or, with nil tps, any partition) awaits its marker.
func (g *Group) HasPendingTxn(tps []TopicPartition) bool {
	for _, m := range g.txnOffsets {
		if tps == nil && len(m) > 0 {
			return true
		}
		for _, tp := range tps {
			if _, ok := m[tp]; ok {
				return true
			}
		}
	}
	return false
}

// CommitTxnOffsets handles TxnOffsetCommit after the transaction
// coordinator has checked the producer: it validates the member fields
// (v3+, when a generation is given), writes the offsets in a transactional
// batch and stages them until the marker.
func (c *Coordinator) CommitTxnOffsets(group string, producerID int64, epoch int16, req CommitRequest, offsets []CommitOffset) []*kerr.Error {
	errs := make([]*kerr.Error, len(offsets))
	fill := func(err *kerr.Error) []*kerr.Error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	req.Transactional = true
	e, err := c.lockGroup(group, true)
	if err != nil {
		return fill(err)
	}
	defer e.mu.Unlock()
	if req.Generation >= 0 || req.MemberID != "" {
		if err := e.g.ValidateCommit(req); err != nil {
			c.apply(e, Output{})
			return fill(err)
		}
	}
	var ok []CommitOffset
	for i, o := range offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataSize {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		ok = append(ok, o)
	}
	recs, vals, out := e.g.CommitRecords(c.now(), req, ok)
	if len(recs) > 0 {
		if err := c.st.AppendTxn(e.part, producerID, epoch, recs); err != nil {
			c.cfg.Logger.Error("writing transactional offset commit failed", "group", group, "partition", e.part, "err", err)
			c.apply(e, out)
			return fill(storageError(err))
		}
		e.g.StageTxnOffsets(producerID, ok, vals)
	}
	c.apply(e, out)
	return errs
}

// CompleteTxnOffsets applies or drops a producer's pending transactional
// commits on every group of one __consumer_offsets partition, once the
// transaction's marker is written there.
func (c *Coordinator) CompleteTxnOffsets(producerID int64, partition int32, commit bool) {
	c.mu.Lock()
	var es []*entry
	for _, e := range c.groups {
		if e.part == partition {
			es = append(es, e)
		}
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		if !e.gone {
			e.g.CompleteTxn(producerID, commit)
		}
		e.mu.Unlock()
	}
}

// HasPendingTxnOffsets reports whether a group has transactional commits
// awaiting their markers for any of tps (nil: any partition).
func (c *Coordinator) HasPendingTxnOffsets(group string, tps []TopicPartition) bool {
	e, err := c.lockGroup(group, false)
	if err != nil || e == nil {
		return false
	}
	defer e.mu.Unlock()
	return e.g.HasPendingTxn(tps)
}
