package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The source side's batches and offsets: a batch's kgo records and
// encoded bytes, its acknowledgement count, and the commits of the
// offsets of fully acknowledged batches.

// sentBatch is one poll's records on their way to Kafka: its offsets may
// be stored once all of its records, and all earlier batches', are
// acknowledged.
type sentBatch struct {
	remaining atomic.Int64 // records not acknowledged yet, +1 while sending
	offsets   map[string]map[string]any
	cb        func(*kgo.Record, error) // one closure per batch, not per record
	arena     *[]kgo.Record            // the batch's records, from recordArenas
	recs      []kgo.Record             // what is left of arena
	buf       []byte                   // keys and values, in chunks shared by the batch's records
	chunks    []*[]byte                // every chunk buf has used, from encodeChunks
	// polled goes back to releaser once every record is acknowledged
	// (only when the whole poll was converted).
	polled   []*connect.SourceRecord
	releaser connect.SourceTaskReleaser
}

// encodeChunk is the size of the chunks a batch's keys and values are
// encoded into; a chunk lives until all its records are acknowledged.
const encodeChunk = 32 << 10

// encode runs one converter: into the batch's shared buffer when it can
// append (ac), else as its own allocation. A panic becomes an error.
func (b *sentBatch) encode(c connect.Converter, ac connect.AppendingConverter, topic string, s *connect.Schema, v any) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return b.encodeUnprotected(c, ac, topic, s, v)
}

// encodeUnprotected is encode without the recovery: the caller recovers
// from a converter's panic (see sourceWork.convert). The buffer is only
// extended once the converter has returned.
func (b *sentBatch) encodeUnprotected(c connect.Converter, ac connect.AppendingConverter, topic string, s *connect.Schema, v any) ([]byte, error) {
	if ac == nil {
		return c.FromConnectData(topic, s, v)
	}
	if cap(b.buf)-len(b.buf) < encodeChunk/16 {
		chunk, _ := encodeChunks.Get().(*[]byte)
		if chunk == nil {
			c := make([]byte, 0, encodeChunk)
			chunk = &c
		}
		b.chunks = append(b.chunks, chunk)
		b.buf = (*chunk)[:0]
	}
	start := len(b.buf)
	buf, null, err := ac.AppendFromConnectData(b.buf, topic, s, v)
	if err != nil || null {
		return nil, err
	}
	b.buf = buf
	return buf[start:len(buf):len(buf)], nil
}

// recordArenas and encodeChunks recycle batches' kgo records and the
// chunks their keys and values were encoded into, once Kafka has
// acknowledged all of them (kgo is done with a record once its promise
// has run).
var recordArenas, encodeChunks sync.Pool

// done counts one record (or the end of sending) off; the last one hands
// the batch's records back for reuse.
func (b *sentBatch) done() {
	if b.remaining.Add(-1) == 0 && b.arena != nil {
		// Not cleared: every record is overwritten whole on reuse, and the
		// pool lets go of what it holds at the next collections.
		recordArenas.Put(b.arena)
		b.arena = nil
		for _, c := range b.chunks {
			encodeChunks.Put(c)
		}
		b.chunks, b.buf = nil, nil
		if b.polled != nil {
			b.releaser.Release(b.polled)
			b.polled = nil
		}
	}
}

// newRecord returns a zero record from the batch's allocation.
func (b *sentBatch) newRecord() *kgo.Record {
	if len(b.recs) == 0 {
		return new(kgo.Record)
	}
	r := &b.recs[0]
	b.recs = b.recs[1:]
	return r
}

// newBatch returns a batch for n records, counted as in flight (+1)
// until endBatch.
func (w *sourceWork) newBatch(n int) *sentBatch {
	arena, _ := recordArenas.Get().(*[]kgo.Record)
	if arena == nil || cap(*arena) < n {
		a := make([]kgo.Record, n)
		arena = &a
	}
	*arena = (*arena)[:n]
	b := &sentBatch{arena: arena, recs: *arena}
	b.remaining.Store(1)
	b.cb = func(kr *kgo.Record, err error) {
		w.onProduced(kr, err)
		b.done()
	}
	return b
}

func (w *sourceWork) endBatch() {
	b := w.cur
	b.recs, b.buf = nil, nil
	w.settleOffset()
	if len(w.pending) > 0 {
		b.offsets, w.pending = w.pending, map[string]map[string]any{}
	}
	w.inflight = append(w.inflight, b)
	b.done()
}

// commitAcked stores the offsets of the oldest batches that Kafka has
// fully acknowledged, without waiting for the rest: the periodic commit
// does not stall the task. With an offset writer the store happens on its
// goroutine. Offsets are never ahead of what Kafka has.
func (w *sourceWork) commitAcked() error {
	if err := w.producedErr(); err != nil {
		return err
	}
	n := 0
	for n < len(w.inflight) && w.inflight[n].remaining.Load() == 0 {
		n++
	}
	if n == 0 {
		return nil
	}
	// A produce failure is recorded before its batch counts as done.
	if err := w.producedErr(); err != nil {
		return err
	}
	offs := map[string]map[string]any{}
	for _, b := range w.inflight[:n] {
		maps.Copy(offs, b.offsets)
	}
	w.inflight = append(w.inflight[:0], w.inflight[n:]...)
	if w.writer != nil {
		w.writer.enqueue(offs)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.h.cfg.OffsetFlushTimeout)
	defer cancel()
	return w.storeOffsets(ctx, offs)
}

// offsetWriter stores a task's offsets on its own goroutine, one write
// after the other in commit order, so that writing the offset store (a
// file with fsync, or a topic) does not stall producing.
//
// A write that fails (the offset topic's leader is down longer than
// offset.flush.timeout.ms, say) does not fail the task, as in Kafka
// Connect: it is logged and its offsets are stored again with the next
// write, under any newer ones. Until then the task's committed offsets
// stay behind what Kafka has, which after a restart means records sent
// again (at least once), never records skipped.
type offsetWriter struct {
	w      *sourceWork
	jobs   chan offsetJob // capacity 1: one write waits while one runs
	done   chan struct{}
	unsent map[string]map[string]any // offsets not handed over yet; the run goroutine's
	retry  map[string]map[string]any // offsets of the last failed write; the writer goroutine's
}

type offsetJob struct {
	offs  map[string]map[string]any
	reply chan error // nil: asynchronous, a failure is logged
}

func startOffsetWriter(w *sourceWork) *offsetWriter {
	o := &offsetWriter{w: w, jobs: make(chan offsetJob, 1), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for job := range o.jobs {
			err := o.write(job.offs)
			if job.reply != nil {
				job.reply <- err
				continue
			}
			if err != nil {
				w.h.log.Warn("offset commit failed; the offsets are stored with the next commit",
					"connector", w.id.Connector, "task", w.id.Task, "err", err)
			}
		}
	}()
	return o
}

// write stores offs over the offsets of the last failed write, and keeps
// them all for the next write if this one fails too.
func (o *offsetWriter) write(offs map[string]map[string]any) error {
	if o.retry != nil {
		maps.Copy(o.retry, offs)
		offs, o.retry = o.retry, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.w.h.cfg.OffsetFlushTimeout)
	defer cancel()
	err := o.w.storeOffsets(ctx, offs)
	if err != nil {
		o.retry = offs
	}
	return err
}

// enqueue hands offsets to the writer, or keeps them (newer over older)
// for the next try while the writer is busy.
func (o *offsetWriter) enqueue(offs map[string]map[string]any) {
	if o.unsent == nil {
		o.unsent = offs
	} else {
		maps.Copy(o.unsent, offs)
	}
	select {
	case o.jobs <- offsetJob{offs: o.unsent}:
		o.unsent = nil
	default:
	}
}

// sync stores offs (after everything handed over before) and waits.
func (o *offsetWriter) sync(offs map[string]map[string]any) error {
	all := o.unsent
	o.unsent = nil
	if all == nil {
		all = offs
	} else {
		maps.Copy(all, offs)
	}
	reply := make(chan error, 1)
	o.jobs <- offsetJob{offs: all, reply: reply}
	return <-reply
}

// close waits for the writes handed over and ends the goroutine.
func (o *offsetWriter) close() {
	close(o.jobs)
	<-o.done
}

// commit waits until everything produced is acknowledged and then stores
// the pending offsets.
func (w *sourceWork) commit() error {
	if w.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.h.cfg.OffsetFlushTimeout)
	defer cancel()
	if err := w.client.Flush(ctx); err != nil {
		return fmt.Errorf("offset commit: waiting for acknowledgements: %w", err)
	}
	if err := w.producedErr(); err != nil {
		return err
	}
	offs := map[string]map[string]any{}
	for _, b := range w.inflight {
		maps.Copy(offs, b.offsets)
	}
	w.settleOffset()
	maps.Copy(offs, w.pending)
	w.inflight = w.inflight[:0]
	clear(w.pending)
	if w.writer != nil {
		return w.writer.sync(offs)
	}
	return w.storeOffsets(ctx, offs)
}

// commitOrWarn is commit where the task goes on (or stops cleanly) after a
// commit that could not finish, as in Kafka Connect: records not
// acknowledged within offset.flush.timeout.ms, or offsets the store did
// not take, are logged and committed later (see offsetWriter). Only a
// produce failure, which ends the task, is returned. when says what the
// commit is for.
func (w *sourceWork) commitOrWarn(when string) error {
	err := w.commit()
	if err == nil {
		return nil
	}
	if perr := w.producedErr(); perr != nil {
		return perr
	}
	w.h.log.Warn("offset commit failed", "before", when, "connector", w.id.Connector, "task", w.id.Task, "err", err)
	return nil
}

// storeOffsets writes offsets to the offset store and tells the task.
func (w *sourceWork) storeOffsets(ctx context.Context, offs map[string]map[string]any) error {
	if len(offs) == 0 {
		return nil
	}
	vals := make(map[string][]byte, len(offs))
	for k, off := range offs {
		b, err := json.Marshal(off)
		if err != nil {
			return fmt.Errorf("offset commit: encode offset: %w", err)
		}
		vals[k] = b
	}
	start := time.Now()
	err := w.h.offsets.Set(ctx, vals)
	w.m.commit(start, err)
	if err != nil {
		return fmt.Errorf("offset commit: %w", err)
	}
	if w.committer != nil {
		if err := w.committer.Commit(); err != nil {
			w.h.log.Warn("task commit failed", "connector", w.id.Connector, "err", err)
		}
	}
	return nil
}

// sameMap reports whether a and b are the same map (as a task that
// reuses one partition map for its records passes).
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// shallowEqual compares two partition maps whose values are comparable
// JSON scalars; anything else compares unequal.
func shallowEqual(a, b map[string]any) (eq bool) {
	if len(a) != len(b) {
		return false
	}
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
