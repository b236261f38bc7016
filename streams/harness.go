package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gregorhq/gregor/state"
)

// HarnessConfig configures a Harness.
type HarnessConfig struct {
	// ApplicationID prefixes internal topics and names the state directory; default
	// "streamstest".
	ApplicationID string
	// StateDir holds the stores; "" uses a temporary directory removed by Close.
	StateDir string
	// WallClock is the initial mocked wall-clock time in milliseconds; 0 means now.
	WallClock int64
	// DeserializationHandler as in Config; default LogAndFail.
	DeserializationHandler DeserializationHandler
	// TimestampExtractor as in Config; default RecordTimestamp.
	TimestampExtractor TimestampExtractor
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ProducedRecord is a record a sink wrote.
type ProducedRecord struct {
	Topic     string
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// Harness runs a topology in process, without Kafka: every topic has one partition,
// each sub-topology one task, records written to topics the topology reads (repartition
// topics) are processed at once, and the tasks commit — flushing caches, so every table
// update is emitted — after each input record. It backs package streamstest, which
// offers a typed API over it; use that in tests.
type Harness struct {
	topo    *Topology
	cfg     HarnessConfig
	tasks   []*task
	tmp     string
	now     int64
	offsets map[string]int64
	queue   []ProducedRecord
	outputs map[string][]ProducedRecord
	globals *globalStores // nil without global tables
	closed  bool
}

// NewHarness instantiates every sub-topology of t as one task.
func NewHarness(t *Topology, cfg HarnessConfig) (*Harness, error) {
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "streamstest"
	}
	if cfg.WallClock == 0 {
		cfg.WallClock = time.Now().UnixMilli()
	}
	if cfg.TimestampExtractor == nil {
		cfg.TimestampExtractor = RecordTimestamp
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Harness{topo: t, cfg: cfg, now: cfg.WallClock, offsets: map[string]int64{}, outputs: map[string][]ProducedRecord{}}
	dir := cfg.StateDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "streamstest-"); err != nil {
			return nil, fmt.Errorf("streams: harness state dir: %w", err)
		}
		h.tmp = dir
	}
	if len(t.globals) > 0 {
		var err error
		h.globals, err = openGlobalStores(t.globals, filepath.Join(dir, cfg.ApplicationID, "global"), nil, cfg.DeserializationHandler, cfg.Logger)
		if err != nil {
			_ = h.Close()
			return nil, err
		}
	}
	for _, sub := range t.subs {
		tk := newTask(taskConfig{
			id: TaskID{Subtopology: sub.id}, app: cfg.ApplicationID, topo: t, stateDir: dir,
			out: h, handler: cfg.DeserializationHandler, tsx: cfg.TimestampExtractor,
			cacheBytes: DefaultCacheMaxBytes, logger: cfg.Logger, now: func() int64 { return h.now },
			globals: h.globals.storesByName(),
		})
		h.tasks = append(h.tasks, tk)
		if err := tk.init(context.Background()); err != nil {
			_ = h.Close()
			return nil, err
		}
	}
	return h, nil
}

// send implements collector.
func (h *Harness) send(topic string, _ int32, key, value []byte, ts int64, headers []Header) error {
	r := ProducedRecord{Topic: topic, Key: key, Value: value, Timestamp: ts, Headers: headers}
	h.outputs[topic] = append(h.outputs[topic], r)
	if h.globals.has(topic) {
		return h.pipeGlobal(topic, key, value)
	}
	if h.taskFor(topic) != nil {
		h.queue = append(h.queue, r)
	}
	return nil
}

func (h *Harness) taskFor(topic string) *task {
	for _, tk := range h.tasks {
		if _, ok := tk.sources[topic]; ok {
			return tk
		}
	}
	return nil
}

// Pipe processes one record written to topic, then everything it causes.
func (h *Harness) Pipe(topic string, key, value []byte, ts int64, headers []Header) error {
	if h.closed {
		return ErrClosed
	}
	if h.globals.has(topic) {
		return h.pipeGlobal(topic, key, value)
	}
	if h.taskFor(topic) == nil {
		return fmt.Errorf("%w: topic %q is not a source of the topology", ErrTopology, topic)
	}
	h.queue = append(h.queue, ProducedRecord{Topic: topic, Key: key, Value: value, Timestamp: ts, Headers: headers})
	return h.drain()
}

// drain processes queued records and commits until nothing is left.
func (h *Harness) drain() error {
	for {
		for len(h.queue) > 0 {
			r := h.queue[0]
			h.queue = h.queue[1:]
			tk := h.taskFor(r.Topic)
			off := h.offsets[r.Topic]
			h.offsets[r.Topic] = off + 1
			cr := &ConsumedRecord{Topic: r.Topic, Offset: off, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers}
			if err := tk.process(cr); err != nil {
				return err
			}
		}
		for _, tk := range h.tasks {
			if err := tk.flushCaches(); err != nil {
				return err
			}
		}
		if len(h.queue) == 0 {
			return nil
		}
	}
}

// AdvanceWallClock moves the mocked wall clock forward by d and runs the wall-clock
// punctuations that became due.
func (h *Harness) AdvanceWallClock(d time.Duration) error {
	if h.closed {
		return ErrClosed
	}
	h.now += d.Milliseconds()
	for _, tk := range h.tasks {
		if err := tk.punctuate(WallClockTime, h.now); err != nil {
			return err
		}
	}
	return h.drain()
}

// WallClock returns the mocked wall-clock time in milliseconds.
func (h *Harness) WallClock() int64 { return h.now }

// Output returns and forgets the records written to topic so far (internal topics
// with their application.id prefix).
func (h *Harness) Output(topic string) []ProducedRecord {
	out := h.outputs[topic]
	delete(h.outputs, topic)
	return out
}

// DroppedRecords returns how many records the processors skipped (Kafka Streams'
// dropped-records-total): null keys or values a join cannot use, late records, ...
func (h *Harness) DroppedRecords() int64 {
	var n int64
	for _, tk := range h.tasks {
		n += tk.dropped.Load()
	}
	return n
}

// ApplicationID returns the application.id the harness runs as.
func (h *Harness) ApplicationID() string { return h.cfg.ApplicationID }

func (h *Harness) stateStore(name string) (any, error) {
	for _, tk := range h.tasks {
		if s, ok := tk.stores[name]; ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownStore, name)
}

// Close closes the tasks and removes a temporary state directory.
func (h *Harness) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for _, tk := range h.tasks {
		if _, err := tk.close(context.Background(), true); err != nil {
			errs = append(errs, err)
		}
	}
	if h.globals != nil {
		errs = append(errs, h.globals.close())
	}
	if h.tmp != "" {
		errs = append(errs, os.RemoveAll(h.tmp))
	}
	return errors.Join(errs...)
}

// DefaultCacheMaxBytes is the default Config.CacheMaxBytes, Kafka Streams' 10 MiB.
const DefaultCacheMaxBytes = 10 << 20

// pipeGlobal applies a record written to a global table's topic to its store at once,
// as the global consumer of a running application would.
func (h *Harness) pipeGlobal(topic string, key, value []byte) error {
	off := h.offsets[topic]
	h.offsets[topic] = off + 1
	tp := state.TopicPartition{Topic: topic}
	return h.globals.apply(h.globals.byTopic[topic], tp, []state.ChangelogRecord{{Key: key, Value: value, Offset: off}})
}
