package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
)

// RestoreListener is told about restoration progress, as Kafka Streams'
// StateRestoreListener. Its methods are called from the goroutine running Restore.
type RestoreListener interface {
	// OnRestoreStart is called before store is restored from tp, from offset start up to
	// (not including) offset end.
	OnRestoreStart(store string, tp TopicPartition, start, end int64)
	// OnBatchRestored is called after each batch of n records; next is the changelog
	// position after the batch.
	OnBatchRestored(store string, tp TopicPartition, next int64, n int)
	// OnRestoreEnd is called when store is restored, with the number of records applied.
	OnRestoreEnd(store string, tp TopicPartition, total int64)
}

// Restore brings every logged store up to the end of its changelog: from the checkpointed
// offset, or from the log start when there is none (in-memory stores always start there).
// It stops when the reader's position reaches the end offset, which may lie past the last
// record because of transaction markers or compacted gaps. A checkpoint outside the log
// wipes the store and restores it in full. The changelog is fetched ahead, from a goroutine
// of Restore's own, while the previous batch is applied. Restored stores are flushed at the
// end and, under at-least-once, their offsets checkpointed. Call it once, after
// registering the stores and before using them.
func (t *Task) Restore(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("%w: task %s", ErrClosed, t.cfg.TaskID)
	}
	if t.cfg.Writer == nil {
		return nil
	}
	for _, st := range t.stores {
		if err := t.restoreStore(ctx, st); err != nil {
			return err
		}
	}
	if err := t.checkpointRestoredLocked(); err != nil {
		return err
	}
	t.restored = true
	return nil
}

// checkpointRestoredLocked makes what Restore wrote durable and, under at-least-once,
// records it in the checkpoint file (atomically), so that a restart after a crash
// restores only what came after. Restored batches are written unsynced: one Flush per
// store here replaces a sync per batch. Under exactly-once the checkpoint is written only
// on clean close.
func (t *Task) checkpointRestoredLocked() error {
	moved := false
	for _, st := range t.stores {
		if !st.inner.Persistent() || st.offset < 0 || st.offset == st.checkpointed {
			continue
		}
		if err := st.inner.Flush(); err != nil {
			return fmt.Errorf("state: flush restored store %q: %w", st.name, err)
		}
		moved = true
	}
	if !moved || t.cfg.ExactlyOnce {
		return nil
	}
	return t.checkpointLocked()
}

func (t *Task) restoreStore(ctx context.Context, st *storeState) error {
	r, ok := st.inner.(Restorer)
	if !ok {
		return fmt.Errorf("state: store %q (%T) cannot be restored: it does not implement Restorer", st.name, st.inner)
	}
	rd := t.cfg.Reader
	start, end, err := rd.Offsets(ctx, st.tp)
	if err != nil {
		return changelogError(st.name, st.tp, "list offsets", err)
	}
	pos := st.offset
	if !st.inner.Persistent() {
		pos = -1 // in-memory data did not survive; restore everything
	}
	if pos >= 0 && (pos < start || pos > end) {
		if err := st.wipe(fmt.Sprintf("checkpoint offset %d outside changelog [%d, %d]", pos, start, end)); err != nil {
			return err
		}
		r = st.inner.(Restorer)
		pos = -1
	}
	if pos < 0 {
		pos = start
	}
	l := t.cfg.RestoreListener
	if l != nil {
		l.OnRestoreStart(st.name, st.tp, pos, end)
	}
	var total int64
	retried := false
	sorted := st.kind == kindKeyValue
	pf := startPrefetch(ctx, rd, st.tp, pos, end, sorted)
	defer func() { pf.stop() }()
	for pos < end {
		f, ok := <-pf.out
		if !ok { // the prefetcher stopped: the context ended
			return fmt.Errorf("state: restore store %q: %w", st.name, context.Cause(ctx))
		}
		if errors.Is(f.err, ErrOffsetOutOfRange) && !retried {
			// The log moved under us (deleted records, truncation): start over.
			retried = true
			pf.stop()
			if err := st.wipe(fmt.Sprintf("restore offset %d out of range", pos)); err != nil {
				return err
			}
			r = st.inner.(Restorer)
			if start, end, err = rd.Offsets(ctx, st.tp); err != nil {
				return changelogError(st.name, st.tp, "list offsets", err)
			}
			pos, total = start, 0
			pf = startPrefetch(ctx, rd, st.tp, pos, end, sorted)
			continue
		}
		if f.err != nil {
			return changelogError(st.name, st.tp, fmt.Sprintf("fetch at offset %d", f.pos), f.err)
		}
		batch := f.batch
		if len(batch) > 0 {
			if err := r.RestoreBatch(batch); err != nil {
				return fmt.Errorf("state: restore store %q from %s: %w", st.name, st.tp, err)
			}
		}
		total += int64(len(batch))
		if f.next > pos {
			pos = f.next
		}
		if l != nil {
			l.OnBatchRestored(st.name, st.tp, pos, len(batch))
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("state: restore store %q: %w", st.name, err)
		}
	}
	st.offset = pos
	if l != nil {
		l.OnRestoreEnd(st.name, st.tp, total)
	}
	return nil
}

// prefetchDepth is how many fetched batches may wait to be applied while the next one is
// being fetched.
const prefetchDepth = 1

// fetched is the result of one Fetch at pos: the records at pos and after (a fetch may
// start before the offset asked for), ready for RestoreBatch.
type fetched struct {
	batch     []KeyValue
	pos, next int64
	err       error
}

// prefetcher fetches a changelog partition from its own goroutine, so that the next
// batch is on its way (and made ready) while the current one is applied. Its goroutine
// makes one Fetch call at a time and ends after an error, at the end offset, or when
// stopped.
//
// With sorted, each batch is sorted by key, stably: records of one key keep their
// changelog order, so the batch has the same effect on a key-value store, which then
// inserts neighbouring keys one after the other (several times faster than keys in
// changelog order, which hashing scatters, on skiplists and leveldb's memtable alike).
type prefetcher struct {
	out    chan fetched
	cancel context.CancelFunc
	done   chan struct{}
}

func startPrefetch(ctx context.Context, rd ChangelogReader, tp TopicPartition, pos, end int64, sorted bool) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{out: make(chan fetched, prefetchDepth), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer close(p.out)
		for pos < end {
			recs, next, err := rd.Fetch(ctx, tp, pos)
			if ctx.Err() != nil {
				return
			}
			var batch []KeyValue
			if err == nil {
				batch = restoreBatch(recs, pos, sorted)
			}
			select {
			case p.out <- fetched{batch: batch, pos: pos, next: next, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			if next > pos {
				pos = next
			}
		}
	}()
	return p
}

// restoreBatch returns the records of recs at offset pos and after, sorted by key (stably)
// when sorted is set.
func restoreBatch(recs []ChangelogRecord, pos int64, sorted bool) []KeyValue {
	batch := make([]KeyValue, 0, len(recs))
	for i := range recs {
		if rec := &recs[i]; rec.Offset >= pos {
			batch = append(batch, KeyValue{Key: rec.Key, Value: rec.Value})
		}
	}
	if !sorted || slices.IsSortedFunc(batch, func(a, b KeyValue) int { return bytes.Compare(a.Key, b.Key) }) {
		return batch
	}
	// Sort positions (pdqsort, ties broken by position: stable) and permute.
	idx := make([]int32, len(batch))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		if c := bytes.Compare(batch[i].Key, batch[j].Key); c != 0 {
			return c
		}
		return int(i - j)
	})
	out := make([]KeyValue, len(batch))
	for i, j := range idx {
		out[i] = batch[j]
	}
	return out
}

// stop ends the prefetcher's goroutine and waits for it. It is safe to call more than once.
func (p *prefetcher) stop() {
	p.cancel()
	<-p.done
}
