package group

import (
	"bytes"
	"errors"
	"log/slog"

	blog "github.com/gregorhq/gregor/broker/log"
)

// loader rebuilds the groups of one __consumer_offsets partition from its
// records, in log order.
type loader struct {
	cfg    *Config
	now    int64
	groups map[string]*Group
	meta   map[string]bool // group has live metadata
	logger *slog.Logger
	// txn holds transactional offset commits seen before their marker,
	// by producer ID, then group.
	txn map[int64]map[string]map[TopicPartition]Offset
}

func newLoader(cfg *Config, now int64) *loader {
	return &loader{cfg: cfg, now: now, groups: map[string]*Group{}, meta: map[string]bool{}, logger: cfg.Logger,
		txn: map[int64]map[string]map[TopicPartition]Offset{}}
}

func (l *loader) group(id string) *Group {
	g := l.groups[id]
	if g == nil {
		g = NewGroup(l.cfg, id, l.now)
		l.groups[id] = g
	}
	return g
}

// apply replays one record. Records it cannot decode are logged and
// skipped: one bad record must not hide every other group's offsets.
func (l *loader) apply(r Record) {
	d, ok, err := decodeKey(r.Key)
	if err != nil {
		l.logger.Warn("skipping undecodable __consumer_offsets record", "err", err)
		return
	}
	if !ok {
		return
	}
	g := l.group(d.group)
	if d.offset != nil {
		if r.Value == nil {
			delete(g.offsets, *d.offset)
			l.dropStaged(d.group, *d.offset)
			return
		}
		o, err := decodeOffset(r.Value)
		if err != nil {
			l.logger.Warn("skipping undecodable offset commit", "group", d.group, "err", err)
			return
		}
		g.offsets[*d.offset] = o
		return
	}
	if r.Value == nil {
		fresh := NewGroup(l.cfg, d.group, l.now)
		fresh.offsets = g.offsets
		l.groups[d.group] = fresh
		l.meta[d.group] = false
		return
	}
	if err := g.restore(bytes.Clone(r.Value)); err != nil {
		l.logger.Warn("skipping undecodable group metadata", "group", d.group, "err", err)
		return
	}
	l.meta[d.group] = true
}

// applyBatch replays the records of one batch (see DecodeBatch). A
// transactional batch's offset commits wait for their producer's marker.
func (l *loader) applyBatch(b []byte) (int, error) {
	if h, err := blog.ParseBatchHeader(b); err == nil && h.IsTransactional() && h.Size() <= len(b) {
		if h.IsControl() {
			if marker, err := blog.ControlType(b[:h.Size()]); err == nil {
				l.completeTxn(h.ProducerID, marker == blog.ControlCommit)
			}
			return h.Size(), nil
		}
		recs, size, err := DecodeBatch(b)
		if err != nil {
			return size, err
		}
		for _, r := range recs {
			l.stageTxn(h.ProducerID, r)
		}
		return size, nil
	}
	recs, size, err := DecodeBatch(b)
	if errors.Is(err, ErrCompressedBatch) {
		l.logger.Warn("skipping compressed batch in __consumer_offsets")
		return size, nil
	}
	if err != nil {
		return size, err
	}
	for _, r := range recs {
		l.apply(r)
	}
	return size, nil
}

// result returns the loaded groups: those with metadata or offsets.
// Transactional commits still without a marker stay pending in their groups.
func (l *loader) result() map[string]*Group {
	for pid, byGroup := range l.txn {
		for id, offs := range byGroup {
			g := l.group(id)
			m := map[TopicPartition]Offset{}
			for tp, o := range offs {
				m[tp] = o
			}
			g.txnOffsets[pid] = m
		}
	}
	for id, g := range l.groups {
		if !l.meta[id] && len(g.offsets) == 0 && len(g.txnOffsets) == 0 {
			delete(l.groups, id)
		}
	}
	return l.groups
}

// stageTxn keeps a transactional offset commit until its marker.
func (l *loader) stageTxn(pid int64, r Record) {
	d, ok, err := decodeKey(r.Key)
	if err != nil || !ok || d.offset == nil || r.Value == nil {
		return
	}
	o, err := decodeOffset(r.Value)
	if err != nil {
		l.logger.Warn("skipping undecodable transactional offset commit", "group", d.group, "err", err)
		return
	}
	byGroup := l.txn[pid]
	if byGroup == nil {
		byGroup = map[string]map[TopicPartition]Offset{}
		l.txn[pid] = byGroup
	}
	if byGroup[d.group] == nil {
		byGroup[d.group] = map[TopicPartition]Offset{}
	}
	byGroup[d.group][*d.offset] = o
}

// dropStaged drops every producer's staged commit of one group's
// partition: a (non-transactional) tombstone after a transactional commit
// removes it, so that the commit marker cannot bring it back (offsets of a
// deleted topic, OffsetDelete, DeleteGroups), as Kafka replays it.
func (l *loader) dropStaged(group string, tp TopicPartition) {
	for pid, byGroup := range l.txn {
		offs := byGroup[group]
		if offs == nil {
			continue
		}
		delete(offs, tp)
		if len(offs) == 0 {
			delete(byGroup, group)
		}
		if len(byGroup) == 0 {
			delete(l.txn, pid)
		}
	}
}

// completeTxn applies or drops a producer's staged commits at its marker.
func (l *loader) completeTxn(pid int64, commit bool) {
	byGroup := l.txn[pid]
	delete(l.txn, pid)
	if !commit {
		return
	}
	for id, offs := range byGroup {
		g := l.group(id)
		for tp, o := range offs {
			g.offsets[tp] = o
		}
	}
}
