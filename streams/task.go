package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/gregorhq/gregor/internal/latency"
	"github.com/gregorhq/gregor/state"
)

// TaskID names a task: the sub-topology and the partition it processes, printed as
// Kafka Streams does ("1_3").
type TaskID struct {
	Subtopology int
	Partition   int32
}

// String returns "<subtopology>_<partition>".
func (id TaskID) String() string {
	return strconv.Itoa(id.Subtopology) + "_" + strconv.FormatInt(int64(id.Partition), 10)
}

// collector receives the records sinks write.
type collector interface {
	send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error
}

// taskConfig is what a task needs from its runner.
type taskConfig struct {
	id         TaskID
	app        string
	topo       *Topology
	stateDir   string
	writer     state.ChangelogWriter // nil: no changelogs
	reader     state.ChangelogReader
	out        collector
	handler    DeserializationHandler
	tsx        TimestampExtractor
	cacheBytes int64
	logger     *slog.Logger
	now        func() int64 // wall clock, milliseconds
	maxIdle    int64        // Config.MaxTaskIdle, milliseconds
	restore    state.RestoreListener
	eos        bool                           // exactly-once: stores without a clean checkpoint are wiped and restored
	globals    map[string]state.KeyValueStore // global stores by name, shared by every task
	standby    bool                           // only open and restore the stores (standbys.go)
}

// task is one instance of a sub-topology, processing one partition of its sources. It
// is driven by a single goroutine.
type task struct {
	cfg        taskConfig
	id         TaskID
	sub        *subtopology
	st         *state.Task
	unlogged   []state.Store
	stores     map[string]any
	caches     []*kvCache
	memo       map[*gnode]any
	sources    map[string]*taskSource // by resolved topic name
	cacheBytes int64
	cur        *ConsumedRecord
	curTs      int64
	streamTime int64
	puncts     []*schedule
	closers    []func() error
	logger     *slog.Logger
	closed     bool
	worker     int           // index of the stream thread that owns the task
	gen        int64         // taskManager.abortGen when the task was made
	order      []*taskSource // the sources by topic, for processBuffered

	// Metrics (metrics.go), read at scrape time by other goroutines: dropped counts
	// records skipped (null keys, late or unparseable records, ...); processed counts
	// records processed, by the thread only, and published into procLat a batch at a
	// time (observeProcess); ready is set once init has restored the stores.
	dropped   atomic.Int64
	processed uint64
	published uint64
	procLat   latency.Histogram
	restoring restoreProgress
	ready     atomic.Bool
}

func newTask(cfg taskConfig) *task {
	sub := cfg.topo.subs[cfg.id.Subtopology]
	t := &task{
		cfg: cfg, id: cfg.id, sub: sub, stores: map[string]any{}, memo: map[*gnode]any{},
		sources: map[string]*taskSource{}, streamTime: -1, curTs: -1,
		logger: cfg.logger.With("task", cfg.id.String()),
	}
	// The task's restore progress is tracked for its metrics, and passed on to the
	// application's listener.
	t.restoring.next = cfg.restore
	t.cfg.restore = &t.restoring
	return t
}

// topicName resolves a topic name of the topology: internal topics get the
// application.id prefix.
func (t *task) topicName(name string, internal bool) string {
	if internal {
		return t.cfg.app + "-" + name
	}
	return name
}

// init opens and restores the task's stores, then instantiates its processors.
func (t *task) init(ctx context.Context) error {
	if len(t.sub.stores) > 0 {
		// The changelog record cache of package state coalesces the writes of stores
		// without a streams cache; stores with one are coalesced already.
		logCache := int64(-1)
		for _, spec := range t.sub.stores {
			if spec.logging && !spec.caching {
				logCache = max(t.cfg.cacheBytes, 1<<16)
			}
		}
		st, err := state.OpenTask(state.TaskConfig{
			ApplicationID: t.cfg.app, TaskID: t.id.String(), Partition: t.id.Partition,
			StateDir: t.cfg.stateDir, Writer: t.cfg.writer, Reader: t.cfg.reader,
			CacheMaxBytes: logCache, RestoreListener: t.cfg.restore, Logger: t.logger, ExactlyOnce: t.cfg.eos,
		})
		if err != nil {
			return fmt.Errorf("streams: task %s: %w", t.id, err)
		}
		t.st = st
		caching := 0
		for _, spec := range t.sub.stores {
			if spec.caching {
				caching++
			}
		}
		if caching > 0 {
			t.cacheBytes = max(t.cfg.cacheBytes/int64(caching), 1<<16)
		}
		for _, spec := range t.sub.stores {
			if spec.windowed != nil {
				s, err := t.openWindowed(spec, st)
				if err != nil {
					return fmt.Errorf("streams: task %s: %w", t.id, err)
				}
				t.stores[spec.name] = s
				continue
			}
			var raw state.KeyValueStore
			if spec.logging {
				raw, err = st.KeyValueStore(spec.name, spec.factory())
			} else {
				raw, err = spec.factory()(spec.name, st.StoreDir(spec.name))
				if err == nil {
					t.unlogged = append(t.unlogged, raw)
				}
			}
			if err != nil {
				return fmt.Errorf("streams: task %s: %w", t.id, err)
			}
			t.stores[spec.name] = spec.wrap(t, raw)
		}
		if err := st.Restore(ctx); err != nil {
			return fmt.Errorf("streams: task %s: restore: %w", t.id, err)
		}
	}
	if t.cfg.standby {
		return nil
	}
	for _, src := range t.sub.sources {
		p, err := src.source(t)
		if err != nil {
			return err
		}
		tsx := src.tsx
		if tsx == nil {
			tsx = t.cfg.tsx
		}
		for _, topic := range src.topics {
			name := t.topicName(topic, src.internal)
			t.sources[name] = &taskSource{p: p, tsx: tsx, partTime: -1, next: -1, topic: name, q: sourceQueue{hw: -1, idleSince: -1}}
		}
	}
	return nil
}

// timestamp returns the timestamp of the record being processed (or of the punctuation
// running).
func (t *task) timestamp() int64 { return t.curTs }

// taskSource is one source topic of a task: its processor, its timestamp extractor,
// its partition time and the offset to commit (the task reads one partition of it).
type taskSource struct {
	p         rawProcessor
	tsx       TimestampExtractor
	partTime  int64
	partition int32
	next      int64 // offset after the last record processed, -1 before the first
	topic     string
	q         sourceQueue // fetched records not processed yet (partition_group.go)
}

// source returns the source of topic.
func (t *task) source(topic string) (*taskSource, error) {
	src, ok := t.sources[topic]
	if !ok {
		return nil, fmt.Errorf("streams: task %s: no source for topic %q", t.id, topic)
	}
	return src, nil
}

// process runs one consumed record through the task.
func (t *task) process(r *ConsumedRecord) error {
	src, err := t.source(r.Topic)
	if err != nil {
		return err
	}
	return t.processFrom(src, r)
}

// processFrom runs r, a record of src's topic, through the task.
func (t *task) processFrom(src *taskSource, r *ConsumedRecord) error {
	src.partition, src.next = r.Partition, r.Offset+1
	t.processed++
	pt := src.partTime
	ts := src.tsx(*r, pt)
	if ts < 0 {
		t.dropped.Add(1)
		t.logger.Warn("streams: skipping record with negative timestamp", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "timestamp", ts)
		return nil
	}
	if ts > pt {
		src.partTime = ts
	}
	r.Timestamp = ts
	t.cur, t.curTs = r, ts
	err := src.p.processRaw(t, r)
	t.cur = nil
	if err != nil {
		return fmt.Errorf("streams: task %s: %s-%d offset %d: %w", t.id, r.Topic, r.Partition, r.Offset, err)
	}
	if ts > t.streamTime {
		t.streamTime = ts
		return t.punctuate(StreamTime, ts)
	}
	return nil
}

// deserializationError applies the handler to a record that did not deserialize.
func (t *task) deserializationError(r *ConsumedRecord, err error) error {
	h := t.cfg.handler
	if h == nil {
		h = LogAndFail
	}
	if h(*r, err) == DeserializationContinue {
		t.dropped.Add(1)
		t.logger.Warn("streams: skipping record that failed to deserialize", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	return fmt.Errorf("%w: deserialize: %w", ErrSerde, err)
}

// flushCaches writes every cached update to its store and forwards it downstream;
// upstream stores flush first, so what they forward is flushed too.
func (t *task) flushCaches() error {
	for {
		for _, c := range t.caches {
			if err := c.flush(); err != nil {
				return fmt.Errorf("streams: task %s: flush cache: %w", t.id, err)
			}
		}
		clean := true
		for _, c := range t.caches {
			if len(c.dirty) > 0 {
				clean = false
			}
		}
		if clean {
			return nil
		}
	}
}

// commit flushes the caches and the changelogs and returns the offsets to commit.
func (t *task) commit(ctx context.Context) (map[state.TopicPartition]int64, error) {
	if err := t.flushCaches(); err != nil {
		return nil, err
	}
	if t.st != nil {
		if err := t.st.Commit(ctx); err != nil {
			return nil, fmt.Errorf("streams: task %s: commit: %w", t.id, err)
		}
	}
	out := make(map[state.TopicPartition]int64, len(t.sources))
	for topic, src := range t.sources {
		if src.next >= 0 {
			out[state.TopicPartition{Topic: topic, Partition: src.partition}] = src.next
		}
	}
	return out, nil
}

// close closes the processors and stores. A clean close commits first (the caller
// commits the returned offsets); an unclean one drops cached updates and writes no
// checkpoint.
func (t *task) close(ctx context.Context, clean bool) (map[state.TopicPartition]int64, error) {
	if t.closed {
		return nil, nil
	}
	var errs []error
	var offsets map[state.TopicPartition]int64
	if clean {
		var err error
		if offsets, err = t.commit(ctx); err != nil {
			errs = append(errs, err)
			clean = false
		}
	}
	t.closed = true
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](); err != nil {
			errs = append(errs, fmt.Errorf("streams: task %s: close processor: %w", t.id, err))
		}
	}
	for _, s := range t.unlogged {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("streams: task %s: close store: %w", t.id, err))
		}
	}
	if t.st != nil {
		if err := t.st.Close(ctx, clean); err != nil {
			errs = append(errs, fmt.Errorf("streams: task %s: close state: %w", t.id, err))
		}
	}
	return offsets, errors.Join(errs...)
}

// stateStore returns the typed store named name.
func (t *task) stateStore(name string) (any, error) {
	s, ok := t.stores[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q in task %s", ErrUnknownStore, name, t.id)
	}
	return s, nil
}
