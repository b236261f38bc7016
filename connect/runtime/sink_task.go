package runtime

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/internal/kgopool"
)

// fetchedRecords holds the record slices the sink consumers decode
// fetches into, recycled once the records are delivered (see process).
var fetchedRecords kgopool.Records

// sinkWork runs a sink task: a consumer in group connect-<name> polls,
// converts and Puts records; every offset.flush.interval.ms, before
// partitions are revoked and on stop, the task Flushes and the consumed
// offsets are committed. Polls and rebalance callbacks exclude each other
// (BlockRebalanceOnPoll), and mu serializes every call into the task.
type sinkWork struct {
	h        *Worker
	id       TaskID
	m        *taskMetrics
	task     connect.SinkTask
	connCfg  map[string]string
	taskCfg  map[string]string
	keyConv  connect.Converter
	valConv  connect.Converter
	keyClass string
	valClass string
	eh       *errorHandler
	chain    transformChain

	client *kgo.Client

	mu        sync.Mutex // guards the fields below and calls into task
	assigned  map[connect.TopicPartition]bool
	current   map[connect.TopicPartition]int64 // next offset to consume, per partition
	committed map[connect.TopicPartition]int64
	rewinds   map[connect.TopicPartition]int64 // requested by the task
	stopped   bool
	commitReq bool
	topics    map[string]bool

	// reuseRecords: the task does not retain its records, so the
	// converter refills the arenas in freeArenas.
	reuseRecords bool
	freeArenas   chan *sinkArena
}

type sinkCtx struct{ w *sinkWork }

func (c sinkCtx) Configs() map[string]string { return maps.Clone(c.w.taskCfg) }

// Assignment is called by the task from within Put/Flush/Open/Close, while
// sinkWork.mu is held.
func (c sinkCtx) Assignment() []connect.TopicPartition {
	out := slices.Collect(maps.Keys(c.w.assigned))
	slices.SortFunc(out, func(a, b connect.TopicPartition) int {
		if a.Topic != b.Topic {
			return strings.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

func (c sinkCtx) Offset(tp connect.TopicPartition, offset int64) { c.w.rewinds[tp] = offset }
func (c sinkCtx) RequestCommit()                                 { c.w.commitReq = true }

const defaultMaxPollRecords = 500

func (w *sinkWork) run(ctx context.Context, r *taskRunner) error {
	h := w.h
	w.assigned, w.current, w.committed = map[connect.TopicPartition]bool{}, map[connect.TopicPartition]int64{}, map[connect.TopicPartition]int64{}
	w.rewinds, w.topics = map[connect.TopicPartition]int64{}, map[string]bool{}
	opts, err := clientOpts(h.cfg, fmt.Sprintf("%s-%s-%d", h.cfg.ClientID, w.id.Connector, w.id.Task), h.cfg.ConsumerProps)
	if err != nil {
		return fmt.Errorf("consumer config: %w", err)
	}
	reset := kgo.NewOffset().AtStart()
	if strings.EqualFold(h.cfg.ConsumerProps["auto.offset.reset"], "latest") {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts, kgo.ConsumerGroup("connect-"+w.id.Connector), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset), kgo.OnPartitionsAssigned(w.onAssigned),
		kgo.OnPartitionsRevoked(w.onRevoked), kgo.OnPartitionsLost(w.onLost),
		// Fetched records are decoded into recycled slices (see process).
		kgo.WithPools(&fetchedRecords),
		kgo.WithLogger(kgoLogger{h.log.With("connector", w.id.Connector, "task", w.id.Task, "client", "sink consumer")}))
	if re := strings.TrimSpace(w.connCfg[TopicsRegexConfig]); re != "" {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("topics.regex: %w", err)
		}
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re))
	} else {
		opts = append(opts, kgo.ConsumeTopics(connect.SplitList(w.connCfg[TopicsConfig])...))
	}
	w.task.Initialize(sinkCtx{w: w})
	if err := safeCall(func() error { return w.task.Start(maps.Clone(w.taskCfg)) }); err != nil {
		return fmt.Errorf("task start: %w", err)
	}
	if rr, ok := w.task.(connect.SinkTaskRecordRetention); ok && !rr.RetainsRecords() {
		w.reuseRecords, w.freeArenas = true, make(chan *sinkArena, maxSinkArenas)
	}
	w.client, err = kgo.NewClient(opts...)
	if err != nil {
		_ = safeCall(w.task.Stop)
		return fmt.Errorf("consumer: %w", err)
	}
	w.eh.producer = w.client
	r.running()
	runErr := w.loop(ctx, r)
	w.mu.Lock()
	if runErr == nil {
		runErr = w.flushAndCommitLocked()
	}
	if p, ok := w.task.(connect.SinkTaskPartitions); ok && len(w.assigned) > 0 {
		if err := safeCall(func() error { return p.Close(sinkCtx{w: w}.Assignment()) }); err != nil {
			h.log.Warn("sink task close failed", "connector", w.id.Connector, "err", err)
		}
	}
	if err := safeCall(w.task.Stop); err != nil {
		h.log.Warn("sink task stop failed", "connector", w.id.Connector, "err", err)
	}
	w.stopped = true
	w.mu.Unlock()
	w.client.CloseAllowingRebalance()
	return runErr
}

func (w *sinkWork) maxPollRecords() int {
	var n int
	if _, err := fmt.Sscan(w.h.cfg.ConsumerProps["max.poll.records"], &n); err != nil || n <= 0 {
		return defaultMaxPollRecords
	}
	return n
}

func (w *sinkWork) loop(ctx context.Context, r *taskRunner) error {
	lastCommit := time.Now()
	maxRecs := w.maxPollRecords()
	for ctx.Err() == nil {
		if ch := r.pausedCh(); ch != nil {
			w.mu.Lock()
			err := w.flushAndCommitLocked()
			w.mu.Unlock()
			if err != nil {
				return err
			}
			if !r.waitResumed(ctx, ch) {
				return nil
			}
		}
		// Poll no longer than until the next commit is due, so that what
		// was Put gets flushed and committed even when no more records come.
		wait := min(max(time.Until(lastCommit.Add(w.h.cfg.OffsetFlushInterval)), 10*time.Millisecond), time.Second)
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		// Take everything the client has buffered, so that it fetches the
		// next batch while this one is delivered, in Puts of at most
		// max.poll.records.
		fetches := w.client.PollFetches(pollCtx)
		cancel()
		err := w.process(ctx, fetches, maxRecs)
		if err == nil && (time.Since(lastCommit) >= w.h.cfg.OffsetFlushInterval || w.commitReq) {
			w.mu.Lock()
			err = w.flushAndCommitLocked()
			w.mu.Unlock()
			lastCommit = time.Now()
		}
		w.client.AllowRebalance()
		if err != nil {
			return err
		}
	}
	return nil
}

// convert runs the converters and transformations over one consumed
// record under the connector's error handling, filling sr; nil means skip
// it (it failed and is tolerated, or a transformation dropped it).
func (w *sinkWork) convert(ctx context.Context, kr *kgo.Record, sr *connect.SinkRecord) (*connect.SinkRecord, error) {
	*sr = connect.SinkRecord{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp}
	// The converters run once directly, free of closures; only a failure
	// goes through the error handler (retries, tolerance, DLQ, logging).
	var err error
	sr.KeySchema, sr.Key, err = toConnect(w.keyConv, kr.Topic, kr.Key)
	if err != nil {
		ok, err := w.eh.executeAfter(ctx, StageKeyConverter, w.keyClass, kr, describeConsumed(kr), time.Now(), err, func() error {
			var e error
			sr.KeySchema, sr.Key, e = w.keyConv.ToConnectData(kr.Topic, kr.Key)
			return e
		})
		if !ok {
			return nil, err
		}
	}
	sr.ValueSchema, sr.Value, err = toConnect(w.valConv, kr.Topic, kr.Value)
	if err != nil {
		ok, err := w.eh.executeAfter(ctx, StageValueConverter, w.valClass, kr, describeConsumed(kr), time.Now(), err, func() error {
			var e error
			sr.ValueSchema, sr.Value, e = w.valConv.ToConnectData(kr.Topic, kr.Value)
			return e
		})
		if !ok {
			return nil, err
		}
	}
	if len(kr.Headers) > 0 {
		sr.Headers = make([]connect.Header, len(kr.Headers))
		for i, hd := range kr.Headers {
			sr.Headers[i] = connect.Header{Key: hd.Key, Value: hd.Value}
		}
	}
	if len(w.chain) == 0 {
		return sr, nil
	}
	var r *connect.Record
	ok, err := w.eh.execute(ctx, StageTransformation, "", kr, describeConsumed(kr), func() error {
		var e error
		r, e = w.chain.apply(sinkToRecord(sr))
		return e
	})
	if !ok || r == nil {
		return nil, err
	}
	return recordToSink(sr, r), nil
}

// describeConsumed describes a record for error logs; it is only built on
// failures.
func describeConsumed(kr *kgo.Record) func() string {
	return func() string {
		return fmt.Sprintf("ConsumerRecord{topic=%s, partition=%d, offset=%d, key=%q, value=%q}", kr.Topic, kr.Partition, kr.Offset, kr.Key, kr.Value)
	}
}

// toConnect is one converter call, with safeCall's panic recovery.
func toConnect(c connect.Converter, topic string, data []byte) (s *connect.Schema, v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return c.ToConnectData(topic, data)
}

// flushAndCommitLocked flushes the task and commits the offsets consumed
// since the last commit. w.mu must be held.
func (w *sinkWork) flushAndCommitLocked() error {
	w.commitReq = false
	if w.stopped {
		return nil
	}
	changed := map[connect.TopicPartition]int64{}
	for tp, off := range w.current {
		if w.committed[tp] != off {
			changed[tp] = off
		}
	}
	if len(changed) == 0 {
		return nil
	}
	start := time.Now()
	if err := safeCall(func() error { return w.task.Flush(maps.Clone(w.current)) }); err != nil {
		w.m.commit(start, err)
		return fmt.Errorf("flush: %w", err)
	}
	commit := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range changed {
		if commit[tp.Topic] == nil {
			commit[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.h.cfg.OffsetFlushTimeout)
	defer cancel()
	var cerr error
	w.client.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsgOffsetCommitRequest, resp *kmsgOffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerrFor(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	w.m.commit(start, cerr)
	if cerr != nil {
		// Not fatal: the next commit retries; a restart re-delivers.
		w.h.log.Warn("offset commit failed", "connector", w.id.Connector, "err", cerr)
		return nil
	}
	maps.Copy(w.committed, changed)
	return nil
}

func (w *sinkWork) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	var tps []connect.TopicPartition
	for t, ps := range assigned {
		for _, p := range ps {
			tp := connect.TopicPartition{Topic: t, Partition: p}
			w.assigned[tp] = true
			tps = append(tps, tp)
		}
	}
	if p, ok := w.task.(connect.SinkTaskPartitions); ok {
		if err := safeCall(func() error { return p.Open(tps) }); err != nil {
			w.h.log.Warn("sink task open failed", "connector", w.id.Connector, "err", err)
		}
	}
}

func (w *sinkWork) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if err := w.flushAndCommitLocked(); err != nil {
		w.h.log.Warn("flush before revocation failed", "connector", w.id.Connector, "err", err)
	}
	w.dropLocked(revoked)
}

func (w *sinkWork) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.dropLocked(lost)
	}
}

func (w *sinkWork) dropLocked(parts map[string][]int32) {
	var tps []connect.TopicPartition
	for t, ps := range parts {
		for _, p := range ps {
			tp := connect.TopicPartition{Topic: t, Partition: p}
			delete(w.assigned, tp)
			delete(w.current, tp)
			delete(w.committed, tp)
			tps = append(tps, tp)
		}
	}
	if p, ok := w.task.(connect.SinkTaskPartitions); ok && len(tps) > 0 {
		if err := safeCall(func() error { return p.Close(tps) }); err != nil {
			w.h.log.Warn("sink task close failed", "connector", w.id.Connector, "err", err)
		}
	}
}
