package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// globalStores are the open global stores of one App or Harness. Whoever applies
// records (the global runner's goroutine, or the Harness) is their only writer; tasks
// read them concurrently, which both backends allow.
type globalStores struct {
	dir     string
	specs   []*globalSpec
	byName  map[string]state.KeyValueStore
	byTopic map[string]*globalSpec
	handler DeserializationHandler
	logger  *slog.Logger
}

// openGlobalStores opens the stores of specs under dir (dir/<store> for goleveldb).
// Stores named in wipe are deleted first.
func openGlobalStores(specs []*globalSpec, dir string, wipe map[string]bool, handler DeserializationHandler, logger *slog.Logger) (*globalStores, error) {
	g := &globalStores{dir: dir, specs: specs, byName: map[string]state.KeyValueStore{}, byTopic: map[string]*globalSpec{},
		handler: handler, logger: logger}
	if g.handler == nil {
		g.handler = LogAndFail
	}
	for _, spec := range specs {
		factory := leveldb.KeyValueFactory(nil)
		if spec.inMemory {
			factory = memory.KeyValueFactory()
		}
		sdir := filepath.Join(dir, spec.store)
		if wipe[spec.store] {
			if err := os.RemoveAll(sdir); err != nil {
				_ = g.close()
				return nil, fmt.Errorf("streams: wipe global store %s: %w", spec.store, err)
			}
		}
		kv, err := factory(spec.store, sdir)
		if err != nil {
			_ = g.close()
			return nil, fmt.Errorf("streams: open global store %s: %w", spec.store, err)
		}
		g.byName[spec.store] = kv
		g.byTopic[spec.topic] = spec
	}
	return g, nil
}

// apply writes records of spec's topic to its store: a null value deletes, records
// with a null key are skipped, and a record that does not deserialize goes to the
// DeserializationHandler.
func (g *globalStores) apply(spec *globalSpec, tp state.TopicPartition, recs []state.ChangelogRecord) error {
	batch := make([]state.KeyValue, 0, len(recs))
	for _, r := range recs {
		if r.Key == nil {
			continue
		}
		if err := spec.check(r.Key, r.Value); err != nil {
			cr := ConsumedRecord{Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}
			if g.handler(cr, err) != DeserializationContinue {
				return fmt.Errorf("%w: global store %s: %s offset %d: %w", ErrSerde, spec.store, tp, r.Offset, err)
			}
			g.logger.Warn("streams: global store skips a record that failed to deserialize", "store", spec.store,
				"topic", tp.Topic, "partition", tp.Partition, "offset", r.Offset, "err", err)
			continue
		}
		batch = append(batch, state.KeyValue{Key: r.Key, Value: r.Value})
	}
	if len(batch) == 0 {
		return nil
	}
	if err := g.byName[spec.store].PutAll(batch); err != nil {
		return fmt.Errorf("streams: global store %s: %w", spec.store, err)
	}
	return nil
}

// has reports whether topic is a global table's topic.
func (g *globalStores) has(topic string) bool {
	if g == nil {
		return false
	}
	_, ok := g.byTopic[topic]
	return ok
}

// storesByName returns the open stores by name, for the tasks' lookups.
func (g *globalStores) storesByName() map[string]state.KeyValueStore {
	if g == nil {
		return nil
	}
	return g.byName
}

func (g *globalStores) flush() error {
	var errs []error
	for _, kv := range g.byName {
		errs = append(errs, kv.Flush())
	}
	return errors.Join(errs...)
}

func (g *globalStores) close() error {
	var errs []error
	for name, kv := range g.byName {
		errs = append(errs, kv.Close())
		delete(g.byName, name)
	}
	return errors.Join(errs...)
}

// globalRunner keeps an App's global stores up to date: Start bootstraps every store to
// its topic's end offsets (the last stable offset under exactly-once), then a goroutine
// consumes every partition of the global topics, outside the consumer group, and
// applies new records, checkpointing the positions every commit interval and at close.
// The goroutine owns the stores' writes and the positions.
type globalRunner struct {
	stores   *globalStores
	ckpt     string
	interval time.Duration
	logger   *slog.Logger
	cl       *kgo.Client
	offsets  map[state.TopicPartition]int64 // next offset per partition
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // set by the goroutine before done closes
}

// startGlobals opens and bootstraps the topology's global stores; it returns nil when
// there are none. onFail is called (from the runner's goroutine) if applying records
// fails later, which stops the application.
func startGlobals(ctx context.Context, t *Topology, cfg Config, onFail func(error)) (*globalRunner, error) {
	if len(t.globals) == 0 {
		return nil, nil
	}
	dir := filepath.Join(cfg.StateDir, cfg.ApplicationID, "global")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("streams: global state directory: %w", err)
	}
	r := &globalRunner{ckpt: filepath.Join(dir, state.CheckpointFileName), interval: cfg.CommitInterval, logger: cfg.Logger,
		offsets: map[state.TopicPartition]int64{}, done: make(chan struct{})}
	loaded, err := state.ReadCheckpoint(r.ckpt)
	if errors.Is(err, state.ErrBadCheckpoint) {
		cfg.Logger.Warn("streams: ignoring malformed global checkpoint; global stores are reloaded in full", "err", err)
		loaded, err = map[state.TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("streams: global checkpoint: %w", err)
	}
	boot, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("streams: global client: %w", err)
	}
	defer boot.Close()
	parts, err := globalPartitions(ctx, kadm.NewClient(boot), t.globals)
	if err != nil {
		return nil, err
	}
	// A persistent store is trusted only with a checkpoint for every partition of its
	// topic: replaying the topic over a store of unknown age could keep rows whose
	// tombstones compaction has since removed.
	wipe := map[string]bool{}
	for _, spec := range t.globals {
		for _, p := range parts[spec.topic] {
			if _, ok := loaded[state.TopicPartition{Topic: spec.topic, Partition: p}]; !ok {
				wipe[spec.store] = true
			}
		}
	}
	r.stores, err = openGlobalStores(t.globals, dir, wipe, cfg.DeserializationHandler, cfg.Logger)
	if err != nil {
		return nil, err
	}
	eos := cfg.ProcessingGuarantee == ExactlyOnceV2
	rd := kafkachangelog.NewReader(boot)
	if eos { // only committed data, as the global consumer of Kafka Streams under EOS
		rd = kafkachangelog.NewReader(boot, kafkachangelog.ReadCommitted())
	}
	for _, spec := range t.globals {
		for _, p := range parts[spec.topic] {
			tp := state.TopicPartition{Topic: spec.topic, Partition: p}
			from := int64(-1)
			if off, ok := loaded[tp]; ok && !wipe[spec.store] {
				from = off
			}
			next, err := r.bootstrap(ctx, rd, spec, tp, from)
			if err != nil {
				_ = r.stores.close()
				return nil, err
			}
			r.offsets[tp] = next
		}
	}
	if err := r.checkpoint(); err != nil {
		_ = r.stores.close()
		return nil, err
	}
	consume := map[string]map[int32]kgo.Offset{}
	for tp, off := range r.offsets {
		if consume[tp.Topic] == nil {
			consume[tp.Topic] = map[int32]kgo.Offset{}
		}
		consume[tp.Topic][tp.Partition] = kgo.NewOffset().At(off)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumePartitions(consume)}
	if eos {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	r.cl, err = kgo.NewClient(append(opts, cfg.ClientOptions...)...)
	if err != nil {
		_ = r.stores.close()
		return nil, fmt.Errorf("streams: global client: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(rctx, onFail)
	return r, nil
}

// globalPartitions returns the partitions of every global topic; a missing topic is an
// error, as Kafka Streams' MissingSourceTopicException.
func globalPartitions(ctx context.Context, adm *kadm.Client, specs []*globalSpec) (map[string][]int32, error) {
	topics := make([]string, 0, len(specs))
	for _, s := range specs {
		topics = append(topics, s.topic)
	}
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("streams: global topics: %w", err)
	}
	out := map[string][]int32{}
	for _, topic := range topics {
		d, ok := td[topic]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return nil, fmt.Errorf("%w: global table topic %q does not exist", ErrTopology, topic)
		}
		out[topic] = d.Partitions.Numbers()
	}
	return out, nil
}

// bootstrap reads tp from from (-1: the log start) up to its end offset into spec's
// store and returns the position reached.
func (r *globalRunner) bootstrap(ctx context.Context, rd *kafkachangelog.Reader, spec *globalSpec, tp state.TopicPartition, from int64) (int64, error) {
	start, end, err := rd.Offsets(ctx, tp)
	if err != nil {
		return 0, fmt.Errorf("streams: global store %s: %w", spec.store, err)
	}
	if from < start || from > end {
		if from >= 0 {
			r.logger.Warn("streams: global checkpoint outside the log; reading the partition from its start",
				"store", spec.store, "partition", tp.Partition, "checkpoint", from, "start", start, "end", end)
		}
		from = start
	}
	for pos := from; pos < end; {
		recs, next, err := rd.Fetch(ctx, tp, pos)
		if err != nil {
			return 0, fmt.Errorf("streams: bootstrap global store %s: %w", spec.store, err)
		}
		if err := r.stores.apply(spec, tp, recs); err != nil {
			return 0, err
		}
		pos = next
	}
	return max(from, end), nil
}

// run applies new records until ctx ends.
func (r *globalRunner) run(ctx context.Context, onFail func(error)) {
	defer close(r.done)
	last := time.Now()
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			r.logger.Warn("streams: global consumer fetch error", "topic", topic, "partition", p, "err", err)
		})
		var failed error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if failed != nil || len(p.Records) == 0 {
				return
			}
			tp := state.TopicPartition{Topic: p.Topic, Partition: p.Partition}
			recs := make([]state.ChangelogRecord, len(p.Records))
			for i, rec := range p.Records {
				recs[i] = state.ChangelogRecord{Key: rec.Key, Value: rec.Value, Offset: rec.Offset}
			}
			if err := r.stores.apply(r.stores.byTopic[p.Topic], tp, recs); err != nil {
				failed = err
				return
			}
			r.offsets[tp] = p.Records[len(p.Records)-1].Offset + 1
		})
		if failed == nil && time.Since(last) >= r.interval {
			failed = r.checkpoint()
			last = time.Now()
		}
		if failed != nil {
			r.err = failed
			onFail(failed)
			return
		}
	}
}

// checkpoint flushes the stores and records the positions.
func (r *globalRunner) checkpoint() error {
	if err := r.stores.flush(); err != nil {
		return fmt.Errorf("streams: flush global stores: %w", err)
	}
	if err := state.WriteCheckpoint(r.ckpt, r.offsets); err != nil {
		return fmt.Errorf("streams: global checkpoint: %w", err)
	}
	return nil
}

// storesByName returns the open stores for the tasks' lookups.
func (r *globalRunner) storesByName() map[string]state.KeyValueStore {
	if r == nil {
		return nil
	}
	return r.stores.storesByName()
}

// close stops the goroutine and closes the stores, checkpointing them when clean.
func (r *globalRunner) close(clean bool) error {
	if r == nil {
		return nil
	}
	r.cancel()
	<-r.done
	r.cl.Close()
	var err error
	if clean && r.err == nil {
		err = r.checkpoint()
	}
	return errors.Join(err, r.stores.close())
}
