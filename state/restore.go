package state

import (
	"context"
	"errors"
	"fmt"
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
// wipes the store and restores it in full. Call it once, after registering the stores and
// before using them.
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
	t.restored = true
	return nil
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
	batch := make([]KeyValue, 0, 1024)
	for pos < end {
		recs, next, err := rd.Fetch(ctx, st.tp, pos)
		if errors.Is(err, ErrOffsetOutOfRange) && !retried {
			// The log moved under us (deleted records, truncation): start over.
			retried = true
			if err := st.wipe(fmt.Sprintf("restore offset %d out of range", pos)); err != nil {
				return err
			}
			r = st.inner.(Restorer)
			if start, end, err = rd.Offsets(ctx, st.tp); err != nil {
				return changelogError(st.name, st.tp, "list offsets", err)
			}
			pos, total = start, 0
			continue
		}
		if err != nil {
			return changelogError(st.name, st.tp, fmt.Sprintf("fetch at offset %d", pos), err)
		}
		batch = batch[:0]
		for _, rec := range recs {
			if rec.Offset >= pos {
				batch = append(batch, KeyValue{Key: rec.Key, Value: rec.Value})
			}
		}
		if len(batch) > 0 {
			if err := r.RestoreBatch(batch); err != nil {
				return fmt.Errorf("state: restore store %q from %s: %w", st.name, st.tp, err)
			}
		}
		total += int64(len(batch))
		if next > pos {
			pos = next
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
