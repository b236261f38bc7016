package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sourceWork runs a source task: Poll, convert, produce; every
// offset.flush.interval.ms it stores the offsets of the polled batches
// that Kafka has fully acknowledged (oldest first, without waiting for the
// rest), and on pause and stop it waits for every polled record to be
// acknowledged and stores all offsets. Offsets are therefore never ahead
// of what Kafka has.
type sourceWork struct {
	h        *Standalone
	id       TaskID
	task     SourceTask
	taskCfg  map[string]string
	keyConv  Converter
	valConv  Converter
	keyClass string
	valClass string
	eh       *errorHandler
	chain    transformChain
	// writer stores offsets off the hot path (nil: store synchronously).
	writer *offsetWriter
	// keyAC and valAC are the converters when they can append into a
	// batch's shared buffer.
	keyAC, valAC AppendingConverter

	client    *kgo.Client
	committer SourceTaskCommitter
	topics    map[string]bool
	// pending holds, per offset key, the latest offset polled since the
	// last commit; only the run goroutine touches it.
	pending map[string]map[string]any
	// inflight are the polled batches whose offsets are not stored yet,
	// oldest first; cur is the batch being sent.
	inflight []*sentBatch
	cur      *sentBatch
	lastPart map[string]any
	lastKey  string
	lastOff  map[string]any // lastKey's latest offset, not yet in pending

	errMu   sync.Mutex
	prodErr error // first produce failure
}

type sourceCtx struct {
	w *sourceWork
}

func (c sourceCtx) Configs() map[string]string { return maps.Clone(c.w.taskCfg) }
func (c sourceCtx) OffsetReader() OffsetReader {
	return offsetReader{h: c.w.h, connector: c.w.id.Connector}
}

type offsetReader struct {
	h         *Standalone
	connector string
}

// Offset implements OffsetReader.
func (o offsetReader) Offset(partition map[string]any) (map[string]any, error) {
	k, err := OffsetKey(o.connector, partition)
	if err != nil {
		return nil, err
	}
	vals, err := o.h.offsets.Get(context.Background(), []string{k})
	if err != nil {
		return nil, fmt.Errorf("connect: read offset: %w", err)
	}
	return DecodeOffset(vals[k])
}

// manualPartition marks records whose SourceRecord chose a partition.
type manualPartition struct{}

// sourcePartitioner honours SourceRecord.Partition and otherwise uses
// kgo's default (key hash, sticky for keyless records).
type sourcePartitioner struct{ def kgo.Partitioner }

func (p sourcePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &sourceTopicPartitioner{def: p.def.ForTopic(t)}
}

type sourceTopicPartitioner struct{ def kgo.TopicPartitioner }

func (p *sourceTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Context != nil || p.def.RequiresConsistency(r)
}

func (p *sourceTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context != nil && r.Context.Value(manualPartition{}) != nil {
		if int(r.Partition) < n {
			return int(r.Partition)
		}
		return n - 1
	}
	return p.def.Partition(r, n) // not reached for backup partitioners: kgo calls PartitionByBackup
}

func (p *sourceTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if r.Context != nil && r.Context.Value(manualPartition{}) != nil {
		return p.Partition(r, n)
	}
	if bp, ok := p.def.(kgo.TopicBackupPartitioner); ok {
		return bp.PartitionByBackup(r, n, backup)
	}
	return p.def.Partition(r, n)
}

func (p *sourceTopicPartitioner) OnNewBatch() {
	if nb, ok := p.def.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func (w *sourceWork) run(ctx context.Context, r *taskRunner) error {
	h := w.h
	opts, err := clientOpts(h.cfg, fmt.Sprintf("%s-%s-%d", h.cfg.ClientID, w.id.Connector, w.id.Task), h.cfg.ProducerProps)
	if err != nil {
		return fmt.Errorf("producer config: %w", err)
	}
	opts = append(opts, kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(sourcePartitioner{def: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}))
	w.client, err = kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer w.client.Close()
	w.topics = map[string]bool{}
	w.pending = map[string]map[string]any{}
	w.committer, _ = w.task.(SourceTaskCommitter)
	w.keyAC, _ = w.keyConv.(AppendingConverter)
	w.valAC, _ = w.valConv.(AppendingConverter)
	w.task.Initialize(sourceCtx{w: w})
	if err := safeCall(func() error { return w.task.Start(maps.Clone(w.taskCfg)) }); err != nil {
		return fmt.Errorf("task start: %w", err)
	}
	r.running()
	w.writer = startOffsetWriter(w)
	runErr := w.loop(ctx, r)
	// Clean shutdown: everything polled is flushed and its offsets stored.
	if err := w.commit(); err != nil && runErr == nil {
		runErr = err
	}
	w.writer.close()
	if err := safeCall(w.task.Stop); err != nil {
		h.log.Warn("source task stop failed", "connector", w.id.Connector, "task", w.id.Task, "err", err)
	}
	return runErr
}

// polledBatch is one poll's records on their way through the pipeline:
// krs[i] is origs[i] transformed and converted, ready to produce, or nil
// when it is skipped. err ends the task once the records before it are
// sent.
type polledBatch struct {
	origs []*SourceRecord
	krs   []*kgo.Record
	batch *sentBatch
	err   error
}

// loop runs the task as a three-stage pipeline, each stage on its own
// goroutine with at most one batch waiting between stages: a poller
// polls the task, a converter transforms and converts the records, and
// this goroutine produces them and tracks their offsets (produce is
// asynchronous: offsets are stored only for what Kafka acknowledged).
func (w *sourceWork) loop(ctx context.Context, r *taskRunner) error {
	pctx, cancel := context.WithCancel(ctx)
	polled, converted := make(chan polledBatch, 1), make(chan polledBatch, 1)
	var stages sync.WaitGroup
	stages.Add(2)
	go func() {
		defer stages.Done()
		defer close(polled)
		w.poll(pctx, r, polled)
	}()
	go func() {
		defer stages.Done()
		defer close(converted)
		w.convert(pctx, polled, converted)
	}()
	defer func() {
		cancel()
		stages.Wait() // the task is not stopped while Poll runs
	}()
	tick := time.NewTicker(max(w.h.cfg.OffsetFlushInterval, time.Millisecond))
	defer tick.Stop()
	lastCommit := time.Now()
	for {
		if ch := r.pausedCh(); ch != nil {
			// The poller stops polling; what it already polled goes out
			// after the resume.
			if err := w.commit(); err != nil {
				return err
			}
			if !r.waitResumed(ctx, ch) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case pb, ok := <-converted:
			if !ok {
				return nil
			}
			if err := w.sendBatch(pb); err != nil {
				return err
			}
		case <-tick.C:
		}
		if err := w.producedErr(); err != nil {
			return err
		}
		if time.Since(lastCommit) >= w.h.cfg.OffsetFlushInterval {
			if err := w.commitAcked(); err != nil {
				return err
			}
			lastCommit = time.Now()
		}
	}
}

// poll is the first stage of loop: it polls the task.
func (w *sourceWork) poll(ctx context.Context, r *taskRunner, out chan<- polledBatch) {
	retries := 0
	for ctx.Err() == nil {
		if ch := r.pausedCh(); ch != nil && !r.waitResumed(ctx, ch) {
			return
		}
		recs, err := w.task.Poll(ctx)
		var pb polledBatch
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case errors.Is(err, ErrRetriable):
			retries++
			if !retryBackoff(ctx, retries) {
				return
			}
			continue
		case err != nil:
			pb.err = fmt.Errorf("poll: %w", err)
		case len(recs) == 0:
			retries = 0
			continue
		default:
			retries = 0
			pb.origs = recs
		}
		select {
		case out <- pb:
		case <-ctx.Done():
			return
		}
		if pb.err != nil {
			return
		}
	}
}

// convert is the second stage of loop: it transforms and converts each
// polled batch's records into kgo records.
func (w *sourceWork) convert(ctx context.Context, in <-chan polledBatch, out chan<- polledBatch) {
	for pb := range in {
		if len(pb.origs) > 0 {
			recs := pb.origs
			pb.krs, pb.batch = make([]*kgo.Record, len(recs)), w.newBatch(len(recs))
			for i, rec := range recs {
				kr, err := w.prepare(ctx, pb.batch, rec)
				if err != nil {
					pb.origs, pb.err = recs[:i], err
					break
				}
				pb.krs[i] = kr
			}
		}
		select {
		case out <- pb:
		case <-ctx.Done():
			return
		}
		if pb.err != nil {
			return
		}
	}
}

// sendBatch is the last stage of loop: it produces a converted batch
// and tracks its records' source offsets.
func (w *sourceWork) sendBatch(pb polledBatch) error {
	if len(pb.origs) > 0 {
		w.cur = pb.batch
		n := 0
		for _, kr := range pb.krs[:len(pb.origs)] {
			if kr != nil {
				n++
			}
		}
		pb.batch.remaining.Add(int64(n)) // each produced record's callback takes one off
		now := time.Now()
		for i, orig := range pb.origs {
			if kr := pb.krs[i]; kr != nil {
				if kr.Timestamp.IsZero() {
					kr.Timestamp = now // as the producer would stamp it, without a clock read per record
				}
				w.produce(orig, kr)
			}
			if err := w.trackOffset(orig); err != nil {
				return err
			}
		}
		w.endBatch()
	}
	return pb.err
}

// prepare runs the transformations and converters; nil means skip. The
// record is allocated from b.
func (w *sourceWork) prepare(ctx context.Context, b *sentBatch, orig *SourceRecord) (*kgo.Record, error) {
	rec := orig
	if len(w.chain) > 0 {
		ok, err := w.eh.execute(ctx, StageTransformation, "", nil, describeSource(orig), func() error {
			var e error
			rec, e = w.transform(orig)
			return e
		})
		if !ok || rec == nil {
			return nil, err
		}
	}
	// The converters run once directly, free of closures; only a failure
	// goes through the error handler (retries, tolerance, logging).
	key, err := b.encode(w.keyConv, w.keyAC, rec.Topic, rec.KeySchema, rec.Key)
	if err != nil {
		ok, err := w.eh.executeAfter(ctx, StageKeyConverter, w.keyClass, nil, describeSource(orig), time.Now(), err, func() error {
			var e error
			key, e = w.keyConv.FromConnectData(rec.Topic, rec.KeySchema, rec.Key)
			return e
		})
		if !ok {
			return nil, err
		}
	}
	val, err := b.encode(w.valConv, w.valAC, rec.Topic, rec.ValueSchema, rec.Value)
	if err != nil {
		ok, err := w.eh.executeAfter(ctx, StageValueConverter, w.valClass, nil, describeSource(orig), time.Now(), err, func() error {
			var e error
			val, e = w.valConv.FromConnectData(rec.Topic, rec.ValueSchema, rec.Value)
			return e
		})
		if !ok {
			return nil, err
		}
	}
	kr := b.newRecord()
	*kr = kgo.Record{Topic: rec.Topic, Key: key, Value: val, Timestamp: rec.Timestamp}
	if len(rec.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(rec.Headers))
		for i, hd := range rec.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: hd.Key, Value: hd.Value}
		}
	}
	if rec.Partition != nil {
		kr.Partition = *rec.Partition
		kr.Context = manualPartitionCtx
	}
	return kr, nil
}

// describeSource describes a record for error logs; it is only built on
// failures.
func describeSource(orig *SourceRecord) func() string {
	return func() string {
		return fmt.Sprintf("SourceRecord{topic=%s, partition=%v, offset=%v, key=%v, value=%v}", orig.Topic, orig.SourcePartition, orig.SourceOffset, orig.Key, orig.Value)
	}
}

// manualPartitionCtx marks a record whose SourceRecord chose a partition.
var manualPartitionCtx = context.WithValue(context.Background(), manualPartition{}, true)

// fromConnect is one converter call, with safeCall's panic recovery.
func fromConnect(c Converter, topic string, s *Schema, v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return c.FromConnectData(topic, s, v)
}

func (w *sourceWork) produce(orig *SourceRecord, kr *kgo.Record) {
	if !w.topics[kr.Topic] {
		w.topics[kr.Topic] = true
		_ = w.h.statuses.AddTopic(w.id.Connector, kr.Topic)
	}
	b := w.cur
	cb := b.cb
	if w.committer != nil {
		cb = func(kr *kgo.Record, err error) {
			defer b.done()
			w.onProduced(kr, err)
			if err == nil {
				md := &RecordMetadata{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp}
				if cerr := w.committer.CommitRecord(orig, md); cerr != nil {
					w.h.log.Warn("commitRecord failed", "connector", w.id.Connector, "err", cerr)
				}
			}
		}
	}
	w.client.Produce(context.Background(), kr, cb)
}

// trackOffset remembers the record's source offset for the next commit.
func (w *sourceWork) trackOffset(orig *SourceRecord) error {
	if orig.SourcePartition != nil && orig.SourceOffset != nil {
		if w.lastPart == nil || !sameMap(w.lastPart, orig.SourcePartition) && !shallowEqual(w.lastPart, orig.SourcePartition) {
			k, err := OffsetKey(w.id.Connector, orig.SourcePartition)
			if err != nil {
				return err
			}
			w.settleOffset()
			w.lastPart, w.lastKey = orig.SourcePartition, k
		}
		w.lastOff = orig.SourceOffset
	}
	return nil
}

// settleOffset moves the held offset of the last partition into pending;
// holding it saves a map write per record of a run of one partition.
func (w *sourceWork) settleOffset() {
	if w.lastOff != nil {
		w.pending[w.lastKey] = w.lastOff
		w.lastOff = nil
	}
}

// transform runs the transformation chain; nil means the record was
// dropped.
func (w *sourceWork) transform(orig *SourceRecord) (*SourceRecord, error) {
	if len(w.chain) == 0 {
		return orig, nil
	}
	r, err := w.chain.apply(sourceToRecord(orig))
	if err != nil || r == nil {
		return nil, err
	}
	return recordToSource(orig, r), nil
}

func (w *sourceWork) onProduced(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	w.errMu.Lock()
	if w.prodErr == nil {
		w.prodErr = err
	}
	w.errMu.Unlock()
}

func (w *sourceWork) producedErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.prodErr != nil {
		return fmt.Errorf("produce: %w", w.prodErr)
	}
	return nil
}

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
}

// encodeChunk is the size of the chunks a batch's keys and values are
// encoded into; a chunk lives until all its records are acknowledged.
const encodeChunk = 32 << 10

// encode runs one converter: into the batch's shared buffer when it can
// append (ac), else as its own allocation. A panic becomes an error.
func (b *sentBatch) encode(c Converter, ac AppendingConverter, topic string, s *Schema, v any) (out []byte, err error) {
	if ac == nil {
		return fromConnect(c, topic, s, v)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	if cap(b.buf)-len(b.buf) < encodeChunk/16 {
		b.buf = make([]byte, 0, encodeChunk)
	}
	start := len(b.buf)
	buf, null, err := ac.AppendFromConnectData(b.buf, topic, s, v)
	if err != nil || null {
		return nil, err
	}
	b.buf = buf
	return buf[start:len(buf):len(buf)], nil
}

// recordArenas recycles batches' kgo records once Kafka has acknowledged
// all of them (kgo is done with a record once its promise has run).
var recordArenas sync.Pool

// done counts one record (or the end of sending) off; the last one hands
// the batch's records back for reuse.
func (b *sentBatch) done() {
	if b.remaining.Add(-1) == 0 && b.arena != nil {
		// Not cleared: every record is overwritten whole on reuse, and the
		// pool lets go of what it holds at the next collections.
		recordArenas.Put(b.arena)
		b.arena = nil
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
	if w.writer != nil {
		if err := w.writer.failed(); err != nil {
			return err
		}
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
type offsetWriter struct {
	w      *sourceWork
	jobs   chan offsetJob // capacity 1: one write waits while one runs
	done   chan struct{}
	unsent map[string]map[string]any // offsets not handed over yet; the run goroutine's

	mu  sync.Mutex // guards err
	err error      // the first failed write
}

type offsetJob struct {
	offs  map[string]map[string]any
	reply chan error // nil: asynchronous, a failure is kept in err
}

func startOffsetWriter(w *sourceWork) *offsetWriter {
	o := &offsetWriter{w: w, jobs: make(chan offsetJob, 1), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for job := range o.jobs {
			ctx, cancel := context.WithTimeout(context.Background(), w.h.cfg.OffsetFlushTimeout)
			err := w.storeOffsets(ctx, job.offs)
			cancel()
			if job.reply != nil {
				job.reply <- err
				continue
			}
			if err != nil {
				o.mu.Lock()
				if o.err == nil {
					o.err = err
				}
				o.mu.Unlock()
			}
		}
	}()
	return o
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
	if err := <-reply; err != nil {
		return err
	}
	return o.failed()
}

func (o *offsetWriter) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
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
	if err := w.h.offsets.Set(ctx, vals); err != nil {
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
