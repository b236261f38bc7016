package log

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// cleanerState is a Manager's log cleaner: log.cleaner.threads goroutines
// that pick the dirtiest compacted log that is due, clean it and write the
// cleaner-offset-checkpoint file of the data directory.
//
// Lock order: Manager.mu, then cleanerState.mu or cleanerState.ckMu (never
// both). A cleaner thread holds no Manager lock while it cleans, so
// DeleteLog may wait for it under Manager.mu.
type cleanerState struct {
	mu        sync.Mutex
	cond      *sync.Cond
	busy      map[*Log]bool
	skipUntil map[*Log]time.Time // logs whose last cleaning failed

	ckMu sync.Mutex
	ck   map[topicPartition]int64 // the cleaner-offset-checkpoint entries
}

func newCleanerState(ck map[topicPartition]int64) *cleanerState {
	c := &cleanerState{busy: map[*Log]bool{}, skipUntil: map[*Log]time.Time{}, ck: ck}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// checkpoint returns the cleaner checkpoint of a partition (-1: none).
func (c *cleanerState) checkpoint(key topicPartition) int64 {
	c.ckMu.Lock()
	defer c.ckMu.Unlock()
	if v, ok := c.ck[key]; ok {
		return v
	}
	return -1
}

// persist records a log's cleaner checkpoint and rewrites the file.
func (c *cleanerState) persist(m *Manager, key topicPartition, v int64) error {
	c.ckMu.Lock()
	defer c.ckMu.Unlock()
	if v < 0 {
		delete(c.ck, key)
	} else {
		c.ck[key] = v
	}
	return writeCheckpoint(m.fs, filepath.Join(m.dir, cleanerCheckpoint), c.ck)
}

// forget drops a deleted partition's checkpoint entry.
func (c *cleanerState) forget(m *Manager, key topicPartition) {
	c.ckMu.Lock()
	defer c.ckMu.Unlock()
	if _, ok := c.ck[key]; !ok {
		return
	}
	delete(c.ck, key)
	if err := writeCheckpoint(m.fs, filepath.Join(m.dir, cleanerCheckpoint), c.ck); err != nil {
		m.opts.Logger.Warn("write cleaner checkpoint", "err", err)
	}
}

// waitIdle waits until no cleaner thread works on l (the log is closed, so
// a running cleaning aborts soon).
func (c *cleanerState) waitIdle(l *Log) {
	c.mu.Lock()
	for c.busy[l] {
		c.cond.Wait()
	}
	delete(c.skipUntil, l)
	c.mu.Unlock()
}

// grab picks the dirtiest log that is due for cleaning and marks it busy.
func (m *Manager) grabDirtiest(now time.Time) *Log {
	var best *Log
	bestRatio := -1.0
	for _, l := range m.Logs() {
		m.cleaner.mu.Lock()
		skip := m.cleaner.busy[l] || now.Before(m.cleaner.skipUntil[l])
		m.cleaner.mu.Unlock()
		if skip {
			continue
		}
		if due, r := l.cleaningDue(now); due && r > bestRatio {
			best, bestRatio = l, r
		}
	}
	if best == nil {
		return nil
	}
	m.cleaner.mu.Lock()
	defer m.cleaner.mu.Unlock()
	if m.cleaner.busy[best] || best.isClosed.Load() {
		return nil
	}
	m.cleaner.busy[best] = true
	return best
}

// doneCleaning releases l; the cleaner leaves it alone for skip.
func (m *Manager) doneCleaning(l *Log, skip time.Duration) {
	m.cleaner.mu.Lock()
	delete(m.cleaner.busy, l)
	if skip > 0 {
		m.cleaner.skipUntil[l] = m.opts.Now().Add(skip)
	}
	m.cleaner.cond.Broadcast()
	m.cleaner.mu.Unlock()
}

// cleanerLoop is one cleaner thread; Close stops it.
func (m *Manager) cleanerLoop(budget int64) {
	defer m.loops.Done()
	c := newCleaner(budget, m.opts.CleanerIOBufferSize, m.stop)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		for m.cleanOne(c) {
			if c.stopped() {
				return
			}
		}
		t.Reset(m.opts.CleanerBackoff)
	}
}

// cleanOne cleans the dirtiest due log, if any, and reports whether it did.
func (m *Manager) cleanOne(c *cleaner) bool {
	l := m.grabDirtiest(m.opts.Now())
	if l == nil {
		return false
	}
	st, err := l.clean(c, m.opts.Now())
	failed := err != nil && !errors.Is(err, errCleanAborted) && !errors.Is(err, errCleanStale) && !errors.Is(err, ErrClosed)
	var skip time.Duration
	switch {
	case failed:
		l.logger.Warn("log cleaning failed", "err", err)
		skip = 10 * m.opts.CleanerBackoff
	case err == nil && st.Segments > 0:
		l.logger.Info("cleaned log", "segments", st.Segments, "swapped", st.Swapped,
			"read", st.BytesRead, "written", st.BytesWritten, "removed", st.RecordsRemoved, "took", st.Duration)
	case err == nil:
		// Due but nothing cleanable yet (an open transaction, say).
		skip = m.opts.CleanerBackoff
	}
	m.doneCleaning(l, skip)
	return true
}

// persistCleanerCheckpoint makes the log's cleaner checkpoint durable.
func (l *Log) persistCleanerCheckpoint() error {
	key := topicPartition{l.topic, l.part}
	if l.mgr != nil {
		return l.mgr.cleaner.persist(l.mgr, key, l.cleanedTo.Load())
	}
	return writeCheckpoint(l.fs, filepath.Join(l.dir, cleanerCheckpoint), map[topicPartition]int64{key: l.cleanedTo.Load()})
}

// readCleanerCheckpoint loads a data directory's cleaner-offset-checkpoint.
func readCleanerCheckpoint(m *Manager) map[topicPartition]int64 {
	ck, err := readCheckpoint(m.fs, filepath.Join(m.dir, cleanerCheckpoint))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.opts.Logger.Warn("ignoring cleaner checkpoint", "err", err)
		}
		return map[topicPartition]int64{}
	}
	return ck
}
