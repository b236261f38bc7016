package statetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/gregorhq/gregor/state"
)

// Changelog is an in-memory changelog implementing state.ChangelogWriter and
// state.ChangelogReader, for tests that need no broker. Appended records become visible at
// Flush. Markers and compaction leave offset gaps, as on a real broker.
type Changelog struct {
	// MaxBatch caps the records one Fetch returns; 0 means 100.
	MaxBatch int

	mu      sync.Mutex
	logs    map[state.TopicPartition]*partLog
	pending map[state.TopicPartition][]state.ChangelogRecord
	fetches int
}

type partLog struct {
	start, end int64
	recs       []state.ChangelogRecord // ascending offsets, with gaps
}

// NewChangelog returns an empty changelog.
func NewChangelog() *Changelog {
	return &Changelog{logs: map[state.TopicPartition]*partLog{}, pending: map[state.TopicPartition][]state.ChangelogRecord{}}
}

func (c *Changelog) log(tp state.TopicPartition) *partLog {
	l := c.logs[tp]
	if l == nil {
		l = &partLog{}
		c.logs[tp] = l
	}
	return l
}

// Append buffers rec until Flush.
func (c *Changelog) Append(_ context.Context, tp state.TopicPartition, rec state.ChangelogRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec.Key, rec.Value = bytes.Clone(rec.Key), bytes.Clone(rec.Value)
	c.pending[tp] = append(c.pending[tp], rec)
	return nil
}

// Flush appends the buffered records and returns each partition's last offset.
func (c *Changelog) Flush(context.Context) (map[state.TopicPartition]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[state.TopicPartition]int64{}
	for tp, recs := range c.pending {
		l := c.log(tp)
		for _, r := range recs {
			r.Offset = l.end
			l.recs = append(l.recs, r)
			l.end++
		}
		out[tp] = l.end - 1
	}
	clear(c.pending)
	return out, nil
}

// Discard drops the buffered records, as a crash before Flush would.
func (c *Changelog) Discard() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.pending)
}

// Marker appends n offsets that hold no record (transaction markers) to tp.
func (c *Changelog) Marker(tp state.TopicPartition, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log(tp).end += int64(n)
}

// Compact keeps only the last record of every key of tp, tombstones included, keeping
// offsets: the removed offsets become gaps.
func (c *Changelog) Compact(tp state.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.log(tp)
	last := map[string]int64{}
	for _, r := range l.recs {
		last[string(r.Key)] = r.Offset
	}
	kept := l.recs[:0]
	for _, r := range l.recs {
		if last[string(r.Key)] == r.Offset {
			kept = append(kept, r)
		}
	}
	l.recs = kept
}

// DeleteBefore moves tp's log start to offset, dropping earlier records.
func (c *Changelog) DeleteBefore(tp state.TopicPartition, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.log(tp)
	l.start = offset
	for len(l.recs) > 0 && l.recs[0].Offset < offset {
		l.recs = l.recs[1:]
	}
}

// Records returns tp's records in offset order.
func (c *Changelog) Records(tp state.TopicPartition) []state.ChangelogRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]state.ChangelogRecord(nil), c.log(tp).recs...)
}

// Fetches returns how many Fetch calls were made.
func (c *Changelog) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// Offsets returns tp's log start and end offsets.
func (c *Changelog) Offsets(_ context.Context, tp state.TopicPartition) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.log(tp)
	return l.start, l.end, nil
}

// Fetch returns up to MaxBatch records from offset on and the position after them.
func (c *Changelog) Fetch(_ context.Context, tp state.TopicPartition, offset int64) ([]state.ChangelogRecord, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetches++
	l := c.log(tp)
	if offset < l.start || offset > l.end {
		return nil, 0, fmt.Errorf("%w: %s offset %d, log [%d, %d]", state.ErrOffsetOutOfRange, tp, offset, l.start, l.end)
	}
	limit := c.MaxBatch
	if limit <= 0 {
		limit = 100
	}
	var out []state.ChangelogRecord
	for _, r := range l.recs {
		if r.Offset < offset {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].Offset + 1, nil
		}
		out = append(out, r)
	}
	return out, l.end, nil
}
