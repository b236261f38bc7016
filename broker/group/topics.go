package group

import (
	"errors"
	"fmt"
	"sort"
)

// Deleted topics (Kafka's GroupCoordinator.onPartitionsDeleted): when a
// topic is deleted, every group loses its committed offsets for the
// topic's partitions, and the transactional commits of them still waiting
// for their markers, so that a topic created again under the same name
// starts from auto.offset.reset. The offsets are tombstoned in
// __consumer_offsets, so a restart does not bring them back.

// dropOffset removes a partition's committed offset and every pending
// transactional commit of it, as replaying the partition's tombstone does
// (a tombstone also clears the pending commits before it, so a later
// commit marker cannot bring them back). It reports whether there was
// anything to remove.
func (g *Group) dropOffset(tp TopicPartition) bool {
	_, found := g.offsets[tp]
	delete(g.offsets, tp)
	for pid, m := range g.txnOffsets {
		if _, ok := m[tp]; ok {
			found = true
			delete(m, tp)
			if len(m) == 0 {
				delete(g.txnOffsets, pid)
			}
		}
	}
	return found
}

// pendingPartitions returns the partitions with a pending transactional
// commit.
func (g *Group) pendingPartitions() map[TopicPartition]bool {
	out := map[TopicPartition]bool{}
	for _, m := range g.txnOffsets {
		for tp := range m {
			out[tp] = true
		}
	}
	return out
}

// RemoveTopicOffsets removes the group's committed and pending
// transactional offsets of every partition of the given (deleted) topics
// and returns their tombstones, sorted by topic and partition. The group's
// state and membership are untouched: an Empty group left without offsets
// goes at the next retention check, as Kafka's does.
func (g *Group) RemoveTopicOffsets(topics map[string]bool) Output {
	var out Output
	if len(topics) == 0 {
		return out
	}
	set := g.pendingPartitions()
	for tp := range g.offsets {
		set[tp] = true
	}
	var tps []TopicPartition
	for tp := range set {
		if topics[tp.Topic] {
			tps = append(tps, tp)
		}
	}
	sortPartitions(tps)
	for _, tp := range tps {
		g.dropOffset(tp)
		out.Records = append(out.Records, Record{Key: offsetKey(g.id, tp)})
	}
	return out
}

// sortPartitions sorts by topic, then partition.
func sortPartitions(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// OnTopicsDeleted removes every group's offsets (committed and pending
// transactional) of the partitions of deleted topics and writes their
// tombstones to __consumer_offsets, one batch per group. Groups of a
// partition still loading are cleaned when its load ends; those of the
// partitions other brokers lead are theirs to clean. The in-memory
// offsets are gone even when a write fails; the error (one per failed
// group, joined) says which tombstones may not survive a restart.
func (c *Coordinator) OnTopicsDeleted(topics []string) error {
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	c.mu.Lock()
	if c.closed || !c.active { // no __consumer_offsets, or shutting down
		c.mu.Unlock()
		return nil
	}
	for p, loaded := range c.loaded {
		// Only a partition being read back here needs telling: one another
		// broker leads is cleaned by that broker, and remembering it here
		// would strip the offsets of a topic created again later under the
		// same name when this broker comes to lead it.
		if loaded || !c.loading[p] {
			continue
		}
		if c.deletedWhileLoading == nil {
			c.deletedWhileLoading = map[int32]map[string]bool{}
		}
		m := c.deletedWhileLoading[int32(p)]
		if m == nil {
			m = map[string]bool{}
			c.deletedWhileLoading[int32(p)] = m
		}
		for t := range set {
			m[t] = true
		}
	}
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	var errs []error
	for _, e := range es {
		e.mu.Lock()
		if !e.gone {
			out := e.g.RemoveTopicOffsets(set)
			if len(out.Records) > 0 {
				if err := c.st.Append(e.part, out.Records); err != nil {
					c.cfg.Logger.Error("writing offset tombstones of deleted topics failed", "group", e.g.id, "partition", e.part, "err", err)
					errs = append(errs, fmt.Errorf("group %q: write offset tombstones: %w", e.g.id, err))
				}
			}
			out.Records = nil
			c.apply(e, out)
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}
