package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sourceWork runs a source task: Poll and convert, then produce, as a
// pipeline of two goroutines (see loop); every offset.flush.interval.ms it hands
// the offsets of the polled batches that Kafka has fully acknowledged
// (oldest first, without waiting for the rest) to its offset writer, and
// on pause and stop it waits for every polled record to be acknowledged
// and stores all offsets. Offsets are therefore never ahead of what Kafka
// has.
type sourceWork struct {
	h        *Worker
	id       TaskID
	m        *taskMetrics
	task     connect.SourceTask
	taskCfg  map[string]string
	keyConv  connect.Converter
	valConv  connect.Converter
	keyClass string
	valClass string
	eh       *errorHandler
	chain    transformChain
	// writer stores offsets off the hot path (nil: store synchronously).
	writer *offsetWriter
	// keyAC and valAC are the converters when they can append into a
	// batch's shared buffer.
	keyAC, valAC connect.AppendingConverter

	client    *kgo.Client
	committer connect.SourceTaskCommitter
	releaser  connect.SourceTaskReleaser
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
func (c sourceCtx) OffsetReader() connect.OffsetReader {
	return offsetReader{h: c.w.h, connector: c.w.id.Connector}
}

type offsetReader struct {
	h         *Worker
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
	w.committer, _ = w.task.(connect.SourceTaskCommitter)
	w.releaser, _ = w.task.(connect.SourceTaskReleaser)
	w.keyAC, _ = w.keyConv.(connect.AppendingConverter)
	w.valAC, _ = w.valConv.(connect.AppendingConverter)
	w.task.Initialize(sourceCtx{w: w})
	if err := safeCall(func() error { return w.task.Start(maps.Clone(w.taskCfg)) }); err != nil {
		return fmt.Errorf("task start: %w", err)
	}
	r.running()
	w.writer = startOffsetWriter(w)
	runErr := w.loop(ctx, r)
	// Clean shutdown: everything polled is flushed and its offsets stored.
	if err := w.commitOrWarn("stop"); err != nil && runErr == nil {
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
	origs []*connect.SourceRecord
	krs   []*kgo.Record
	batch *sentBatch
	err   error
}

// loop runs the task as a two-stage pipeline with at most one batch
// waiting between the stages: a poller polls the task and transforms and
// converts each batch while its records are fresh in the cache, and this
// goroutine produces them and tracks their offsets (produce is
// asynchronous: offsets are stored only for what Kafka acknowledged).
// (A third goroutine for conversion alone cost more in handing records
// between cores than it gained on two cores.)
func (w *sourceWork) loop(ctx context.Context, r *taskRunner) error {
	pctx, cancel := context.WithCancel(ctx)
	converted := make(chan polledBatch, 1)
	var stages sync.WaitGroup
	stages.Add(1)
	go func() {
		defer stages.Done()
		defer close(converted)
		w.poll(pctx, r, converted)
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
			if err := w.commitOrWarn("pause"); err != nil {
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

// poll is the first stage of loop: it polls the task and converts what
// it polled.
func (w *sourceWork) poll(ctx context.Context, r *taskRunner, out chan<- polledBatch) {
	retries := 0
	for ctx.Err() == nil {
		if ch := r.pausedCh(); ch != nil && !r.waitResumed(ctx, ch) {
			return
		}
		start := time.Now()
		recs, err := w.task.Poll(ctx)
		if len(recs) > 0 {
			w.m.pollTime.Observe(time.Since(start))
			w.m.pollTotal.Add(int64(len(recs)))
			w.m.batch(len(recs))
		}
		var pb polledBatch
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case errors.Is(err, connect.ErrRetriable):
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
		pb = w.convert(ctx, pb)
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

// convert transforms and converts a polled batch's records into kgo
// records.
func (w *sourceWork) convert(ctx context.Context, pb polledBatch) polledBatch {
	if len(pb.origs) == 0 {
		return pb
	}
	recs := pb.origs
	pb.krs, pb.batch = make([]*kgo.Record, len(recs)), w.newBatch(len(recs))
	// The converters run without a recover per call: a panic ends the
	// run, and the record that panicked is converted again with one, so
	// that it fails as any conversion error does.
	for from := 0; from < len(recs); {
		at, panicked := w.prepareRun(ctx, &pb, from)
		if !panicked {
			break
		}
		kr, err := w.prepare(ctx, pb.batch, recs[at], true)
		if err != nil {
			pb.origs, pb.err = recs[:at], err
			break
		}
		pb.krs[at], from = kr, at+1
	}
	if pb.err == nil && w.releaser != nil {
		pb.batch.polled, pb.batch.releaser = recs, w.releaser
	}
	return pb
}

// prepareRun converts pb's records from index from on, without recovering
// from a converter's panic per call: it reports the index of a record
// whose conversion panicked. A conversion error sets pb.err and keeps the
// records before it.
func (w *sourceWork) prepareRun(ctx context.Context, pb *polledBatch, from int) (at int, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	recs := pb.origs
	for at = from; at < len(recs); at++ {
		kr, err := w.prepare(ctx, pb.batch, recs[at], false)
		if err != nil {
			pb.origs, pb.err = recs[:at], err
			return at, false
		}
		pb.krs[at] = kr
	}
	return at, false
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
		w.m.active.Add(int64(n))
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
// record is allocated from b. With protect, a converter's panic becomes
// an error; without, it is the caller's to recover.
func (w *sourceWork) prepare(ctx context.Context, b *sentBatch, orig *connect.SourceRecord, protect bool) (*kgo.Record, error) {
	encode := func(c connect.Converter, ac connect.AppendingConverter, topic string, s *connect.Schema, v any) ([]byte, error) {
		if protect {
			return b.encode(c, ac, topic, s, v)
		}
		return b.encodeUnprotected(c, ac, topic, s, v)
	}
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
	key, err := encode(w.keyConv, w.keyAC, rec.Topic, rec.KeySchema, rec.Key)
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
	val, err := encode(w.valConv, w.valAC, rec.Topic, rec.ValueSchema, rec.Value)
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
func describeSource(orig *connect.SourceRecord) func() string {
	return func() string {
		return fmt.Sprintf("SourceRecord{topic=%s, partition=%v, offset=%v, key=%v, value=%v}", orig.Topic, orig.SourcePartition, orig.SourceOffset, orig.Key, orig.Value)
	}
}

// manualPartitionCtx marks a record whose SourceRecord chose a partition.
var manualPartitionCtx = context.WithValue(context.Background(), manualPartition{}, true)

func (w *sourceWork) produce(orig *connect.SourceRecord, kr *kgo.Record) {
	if !w.topics[kr.Topic] {
		w.topics[kr.Topic] = true
		_ = w.h.statuses.AddTopic(context.Background(), w.id.Connector, kr.Topic)
	}
	b := w.cur
	cb := b.cb
	if w.committer != nil {
		cb = func(kr *kgo.Record, err error) {
			defer b.done()
			w.onProduced(kr, err)
			if err == nil {
				md := &connect.RecordMetadata{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp}
				if cerr := w.committer.CommitRecord(orig, md); cerr != nil {
					w.h.log.Warn("commitRecord failed", "connector", w.id.Connector, "err", cerr)
				}
			}
		}
	}
	w.client.Produce(context.Background(), kr, cb)
}

// trackOffset remembers the record's source offset for the next commit.
func (w *sourceWork) trackOffset(orig *connect.SourceRecord) error {
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
func (w *sourceWork) transform(orig *connect.SourceRecord) (*connect.SourceRecord, error) {
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
	w.m.active.Add(-1)
	if err == nil {
		w.m.writeTotal.Add(1)
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
