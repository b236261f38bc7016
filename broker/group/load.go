package group

import (
	"bytes"
	"errors"
	"log/slog"
)

// loader rebuilds the groups of one __consumer_offsets partition from its
// records, in log order.
type loader struct {
	cfg    *Config
	now    int64
	groups map[string]*Group
	meta   map[string]bool // group has live metadata
	logger *slog.Logger
}

func newLoader(cfg *Config, now int64) *loader {
	return &loader{cfg: cfg, now: now, groups: map[string]*Group{}, meta: map[string]bool{}, logger: cfg.Logger}
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

// applyBatch replays the records of one batch (see DecodeBatch).
func (l *loader) applyBatch(b []byte) (int, error) {
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
func (l *loader) result() map[string]*Group {
	for id, g := range l.groups {
		if !l.meta[id] && len(g.offsets) == 0 {
			delete(l.groups, id)
		}
	}
	return l.groups
}
