package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// ValidateCommit checks an OffsetCommit against the group as Kafka does.
// Generation -1 with no member ID commits to an empty group (kcat,
// kafka-go, admin clients); otherwise the member and generation must be
// current, and a group waiting for its assignment (CompletingRebalance)
// answers REBALANCE_IN_PROGRESS.
func (g *Group) ValidateCommit(req CommitRequest) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != "" {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if !req.Transactional && g.state != Empty {
		return kerr.UnknownMemberID
	}
	if !req.Transactional && g.state == CompletingRebalance {
		// The member has its new generation but not yet its assignment.
		// (In PreparingRebalance commits of the current generation are
		// accepted: cooperative members commit before they revoke.)
		return kerr.RebalanceInProgress
	}
	return nil
}

// CommitRecords returns the records for a validated commit and the offsets
// to apply with ApplyCommit once they are persisted. A member's commit
// also counts as a sign of life.
func (g *Group) CommitRecords(now int64, req CommitRequest, offsets []CommitOffset) ([]Record, []Offset, Output) {
	var out Output
	if m := g.members[req.MemberID]; m != nil && req.Generation == g.generation {
		g.touch(now, m, &out)
	}
	recs := make([]Record, 0, len(offsets))
	vals := make([]Offset, 0, len(offsets))
	for _, c := range offsets {
		o := Offset{Offset: c.Offset, LeaderEpoch: c.LeaderEpoch, Metadata: c.Metadata, CommitTimestamp: now, ExpireTimestamp: c.ExpireTimestamp}
		recs = append(recs, offsetRecord(g.id, c.TopicPartition, o))
		vals = append(vals, o)
	}
	return recs, vals, out
}

// ApplyCommit makes persisted commits visible.
func (g *Group) ApplyCommit(offsets []CommitOffset, vals []Offset) {
	for i, c := range offsets {
		g.offsets[c.TopicPartition] = vals[i]
	}
}

// CommittedOffset returns a partition's committed offset.
func (g *Group) CommittedOffset(tp TopicPartition) (Offset, bool) {
	o, ok := g.offsets[tp]
	return o, ok
}

// CommittedOffsets returns every committed offset, sorted by topic and
// partition.
func (g *Group) CommittedOffsets() ([]TopicPartition, []Offset) {
	tps := make([]TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	sortPartitions(tps)
	os := make([]Offset, len(tps))
	for i, tp := range tps {
		os[i] = g.offsets[tp]
	}
	return tps, os
}

// HasOffsets reports whether the group has any committed offset.
func (g *Group) HasOffsets() bool { return len(g.offsets) > 0 }

// ExpireOffsets removes offsets older than the retention (KIP-211): for an
// Empty group, counted from when it became Empty; for a group without a
// protocol type (offsets only), from each commit; for a Stable "consumer"
// group, only offsets of topics no member subscribes to. An explicit
// expiry from OffsetCommit v1-v4 wins. A partition with a transactional
// commit awaiting its marker does not expire (its tombstone would drop the
// pending commit too), as in Kafka. An Empty group left with no offsets,
// pending or committed, becomes Dead and its metadata is tombstoned.
func (g *Group) ExpireOffsets(now, retentionMs int64) Output {
	var out Output
	var expired func(tp TopicPartition, o Offset) bool
	switch {
	case g.state == Empty && g.protocolType != "":
		expired = func(_ TopicPartition, o Offset) bool { return now-g.stateTimestamp >= retentionMs }
	case g.protocolType == "" && len(g.members) == 0:
		expired = func(_ TopicPartition, o Offset) bool { return now-o.CommitTimestamp >= retentionMs }
	case g.protocolType == "consumer" && g.state == Stable && g.subscribed != nil:
		expired = func(tp TopicPartition, o Offset) bool {
			return !g.subscribed[tp.Topic] && now-o.CommitTimestamp >= retentionMs
		}
	default:
		expired = func(TopicPartition, Offset) bool { return false }
	}
	pending := g.pendingPartitions()
	tps, os := g.CommittedOffsets()
	for i, tp := range tps {
		o := os[i]
		if pending[tp] {
			continue
		}
		if (o.ExpireTimestamp >= 0 && now >= o.ExpireTimestamp) || (o.ExpireTimestamp < 0 && expired(tp, o)) {
			delete(g.offsets, tp)
			out.Records = append(out.Records, Record{Key: offsetKey(g.id, tp)})
		}
	}
	if g.state == Empty && len(g.offsets) == 0 && len(pending) == 0 {
		g.transition(Dead, now)
		out.Records = append(out.Records, Record{Key: groupKey(g.id)})
	}
	return out
}

// Delete deletes the group (DeleteGroups): only an Empty group may go. Its
// offsets (committed, and pending transactional ones) and metadata are
// tombstoned and it becomes Dead.
func (g *Group) Delete(now int64) (*kerr.Error, Output) {
	var out Output
	switch g.state {
	case Dead:
		return kerr.GroupIDNotFound, out
	case Empty:
	default:
		return kerr.NonEmptyGroup, out
	}
	set := g.pendingPartitions()
	for tp := range g.offsets {
		set[tp] = true
	}
	tps := make([]TopicPartition, 0, len(set))
	for tp := range set {
		tps = append(tps, tp)
	}
	sortPartitions(tps)
	for _, tp := range tps {
		out.Records = append(out.Records, Record{Key: offsetKey(g.id, tp)})
	}
	clear(g.offsets)
	clear(g.txnOffsets)
	out.Records = append(out.Records, Record{Key: groupKey(g.id)})
	g.transition(Dead, now)
	return nil, out
}

// DeleteOffsets handles an OffsetDelete: it returns the group-level error,
// each partition's error (in order), and the tombstones to persist.
// Partitions of topics the group's members subscribe to are refused with
// GROUP_SUBSCRIBED_TO_TOPIC; a non-empty group of another protocol type
// than "consumer" refuses with NON_EMPTY_GROUP.
func (g *Group) DeleteOffsets(tps []TopicPartition) (*kerr.Error, []*kerr.Error, Output) {
	var out Output
	errs := make([]*kerr.Error, len(tps))
	if g.state == Dead {
		return kerr.GroupIDNotFound, errs, out
	}
	if g.state != Empty && g.protocolType != "consumer" {
		return kerr.NonEmptyGroup, errs, out
	}
	for i, tp := range tps {
		if g.state != Empty && g.subscribed[tp.Topic] {
			errs[i] = kerr.GroupSubscribedToTopic
			continue
		}
		if g.dropOffset(tp) { // committed or pending transactional
			out.Records = append(out.Records, Record{Key: offsetKey(g.id, tp)})
		}
	}
	return nil, errs, out
}
