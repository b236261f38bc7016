package streams

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gregorhq/gregor/internal/latency"
	"github.com/gregorhq/gregor/state"
)

// An App's Prometheus metrics, named as Kafka's JMX exporter renders Kafka Streams'
// metric groups (kafka.streams:type=stream-task-metrics,thread-id=...,task-id=...
// attribute process-total becomes kafka_streams_stream_task_metrics_process_total
// {thread_id,task_id}). They are computed when scraped, from what the runtime keeps
// anyway; the per-record cost is one counter increment on the stream thread, and the
// latencies are measured once per batch of records (latency.Histogram). docs/metrics.md
// lists them.

// The application states of the state metric, Kafka Streams' KafkaStreams.State.
const (
	stateCreated         = "CREATED"
	stateRebalancing     = "REBALANCING"
	stateRunning         = "RUNNING"
	statePendingShutdown = "PENDING_SHUTDOWN"
	stateNotRunning      = "NOT_RUNNING"
	stateError           = "ERROR"
)

var appStates = []string{stateCreated, stateRebalancing, stateRunning, statePendingShutdown, stateNotRunning, stateError}

var (
	taskLabels  = []string{"thread_id", "task_id"}
	storeLabels = []string{"thread_id", "task_id", "store"}

	descState = prometheus.NewDesc("kafka_streams_stream_metrics_state",
		"The state of the Kafka Streams client: 1 for the current state, 0 for the others.",
		[]string{"client_id", "state"}, nil)
	descAliveThreads = prometheus.NewDesc("kafka_streams_stream_metrics_alive_stream_threads",
		"The number of stream threads of the client.", []string{"client_id"}, nil)
	descCommitTotal = prometheus.NewDesc("kafka_streams_stream_metrics_commit_total",
		"The number of commits of the client (all its threads commit together).", []string{"client_id"}, nil)
	descCommitLatency = prometheus.NewDesc("kafka_streams_stream_metrics_commit_latency_seconds",
		"The time a commit of all the client's tasks took: caches, stores and changelogs flushed, produced records acknowledged, offsets committed.",
		[]string{"client_id"}, nil)
	descActiveTasks = prometheus.NewDesc("kafka_streams_stream_thread_metrics_active_tasks",
		"The number of active tasks the stream thread runs.", []string{"thread_id"}, nil)
	descRestoringTasks = prometheus.NewDesc("kafka_streams_stream_thread_metrics_active_restoring_tasks",
		"The number of the stream thread's active tasks that are restoring their state.", []string{"thread_id"}, nil)
	descProcessTotal = prometheus.NewDesc("kafka_streams_stream_task_metrics_process_total",
		"The number of records the task processed.", taskLabels, nil)
	descProcessLatency = prometheus.NewDesc("kafka_streams_stream_task_metrics_process_latency_seconds",
		"The time the task took to process a record (each record of a fetched batch at the batch's average).", taskLabels, nil)
	descDropped = prometheus.NewDesc("kafka_streams_stream_task_metrics_dropped_records_total",
		"The number of records the task dropped: late records for closed windows, records that failed to deserialize and were skipped, negative timestamps, null keys or values a join cannot use.",
		taskLabels, nil)
	descRestoreTotal = prometheus.NewDesc("kafka_streams_stream_state_metrics_restore_total",
		"The number of records restored into the store from its changelog.", storeLabels, nil)
	descRestoreRemaining = prometheus.NewDesc("kafka_streams_stream_state_metrics_restore_remaining_records_total",
		"The number of changelog records (offsets) left to restore into the store; 0 once restored.", storeLabels, nil)
	descRecordsLag = prometheus.NewDesc("kafka_consumer_consumer_fetch_manager_metrics_records_lag",
		"The number of records the client is behind on a source partition: the partition's high watermark (last stable offset under exactly-once) in the latest fetch, minus the offset after the last record fetched.",
		[]string{"client_id", "topic", "partition"}, nil)
)

// Collector returns the application's metrics as a prometheus.Collector, to register
// in the registry the process serves (no metric goes to a global registry). It may be
// registered before Start and scraped at any time, concurrently with processing; task,
// store and partition series exist while this instance runs them. docs/metrics.md lists
// the metrics. Latencies are histograms in seconds.
func (a *App) Collector() prometheus.Collector { return appCollector{a} }

type appCollector struct{ a *App }

// Describe implements prometheus.Collector.
func (appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descAliveThreads, descCommitTotal, descCommitLatency,
		descActiveTasks, descRestoringTasks, descProcessTotal, descProcessLatency, descDropped,
		descRestoreTotal, descRestoreRemaining, descRecordsLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c appCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	st := a.state()
	clientID := a.cfg.ApplicationID
	if st != stateCreated {
		clientID += "-" + a.processID
	}
	for _, s := range appStates {
		v := 0.0
		if s == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, clientID, s)
	}
	if st == stateCreated {
		return
	}
	alive := 0
	if st != stateNotRunning && st != stateError {
		alive = len(a.tm.workers)
	}
	ch <- prometheus.MustNewConstMetric(descAliveThreads, prometheus.GaugeValue, float64(alive), clientID)
	ch <- prometheus.MustNewConstMetric(descCommitTotal, prometheus.CounterValue, float64(a.commits.latency.Count()), clientID)
	collectHistogram(ch, &a.commits.latency, descCommitLatency, clientID)

	tasks, lag := a.tm.snapshot()
	active := make([]int, len(a.tm.workers))
	restoring := make([]int, len(a.tm.workers))
	for _, tk := range tasks {
		thread := threadID(clientID, tk.worker)
		id := tk.id.String()
		if tk.worker < len(active) {
			active[tk.worker]++
			if !tk.ready.Load() {
				restoring[tk.worker]++
			}
		}
		ch <- prometheus.MustNewConstMetric(descProcessTotal, prometheus.CounterValue, float64(tk.procLat.Count()), thread, id)
		collectHistogram(ch, &tk.procLat, descProcessLatency, thread, id)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(tk.dropped.Load()), thread, id)
		for _, s := range tk.restoring.snapshot() {
			ch <- prometheus.MustNewConstMetric(descRestoreTotal, prometheus.CounterValue, float64(s.restored), thread, id, s.store)
			// Kafka's name ends in _total, which Prometheus keeps for counters: untyped,
			// as the JMX exporter exports it.
			ch <- prometheus.MustNewConstMetric(descRestoreRemaining, prometheus.UntypedValue, float64(s.remaining), thread, id, s.store)
		}
	}
	for i := range active {
		thread := threadID(clientID, i)
		ch <- prometheus.MustNewConstMetric(descActiveTasks, prometheus.GaugeValue, float64(active[i]), thread)
		ch <- prometheus.MustNewConstMetric(descRestoringTasks, prometheus.GaugeValue, float64(restoring[i]), thread)
	}
	for tp, n := range lag {
		ch <- prometheus.MustNewConstMetric(descRecordsLag, prometheus.GaugeValue, float64(n),
			clientID+"-consumer", tp.Topic, strconv.FormatInt(int64(tp.Partition), 10))
	}
}

// collectHistogram sends h, or an invalid metric carrying the error (which the
// registry reports) if it cannot be rendered.
func collectHistogram(ch chan<- prometheus.Metric, h *latency.Histogram, desc *prometheus.Desc, labels ...string) {
	m, err := h.Metric(desc, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}

// threadID names stream thread i as Kafka Streams does: <client.id>-StreamThread-<n>.
func threadID(clientID string, i int) string {
	return clientID + "-StreamThread-" + strconv.Itoa(i+1)
}

// state returns the application's state, as Kafka Streams' KafkaStreams.State names
// it: CREATED before Start, REBALANCING until the group's first assignment and while
// an assigned task restores its state, RUNNING, PENDING_SHUTDOWN while Close or a
// failure stops it, then NOT_RUNNING after a clean stop or ERROR after a failure.
func (a *App) state() string {
	if !a.started.Load() {
		return stateCreated
	}
	select {
	case <-a.done:
		if a.Err() != nil {
			return stateError
		}
		return stateNotRunning
	default:
	}
	if a.ctx.Err() != nil {
		return statePendingShutdown
	}
	if !a.tm.assigned.Load() {
		return stateRebalancing
	}
	tasks, _ := a.tm.snapshot()
	for _, tk := range tasks {
		if !tk.ready.Load() {
			return stateRebalancing
		}
	}
	return stateRunning
}

// snapshot returns the tasks this instance runs and the lag of its assigned partitions.
func (m *taskManager) snapshot() ([]*task, map[state.TopicPartition]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tasks := make([]*task, 0, len(m.tasks))
	for _, tk := range m.tasks {
		tasks = append(tasks, tk)
	}
	lag := make(map[state.TopicPartition]int64, len(m.lag))
	for tp, n := range m.lag {
		if m.owned[tp] {
			lag[tp] = n
		}
	}
	return tasks, lag
}

// recordLag notes a fetched partition's lag: the partition's high watermark (or last
// stable offset) minus the offset after its last fetched record. m.mu must be held.
func (m *taskManager) recordLagLocked(tp state.TopicPartition, end, lastOffset int64) {
	n := end - (lastOffset + 1)
	if end < 0 || n < 0 {
		n = 0
	}
	if m.lag == nil {
		m.lag = map[state.TopicPartition]int64{}
	}
	m.lag[tp] = n
}

// observeProcess publishes the records the task processed since the last call, all
// in the time since start. Only the task's stream thread calls it.
func (t *task) observeProcess(start time.Time) {
	if n := t.processed - t.published; n > 0 {
		t.procLat.ObserveN(time.Since(start), n)
		t.published = t.processed
	}
}

// restoreProgress tracks a task's restoration for its metrics and passes every call on
// to the application's RestoreListener. Its mu is a leaf.
type restoreProgress struct {
	next state.RestoreListener

	mu     sync.Mutex
	stores []storeRestore
}

// storeRestore is one store's restoration: records restored, offsets remaining.
type storeRestore struct {
	store     string
	restored  int64
	remaining int64
	end       int64
}

func (p *restoreProgress) entry(store string) *storeRestore {
	for i := range p.stores {
		if p.stores[i].store == store {
			return &p.stores[i]
		}
	}
	p.stores = append(p.stores, storeRestore{store: store})
	return &p.stores[len(p.stores)-1]
}

// OnRestoreStart implements state.RestoreListener.
func (p *restoreProgress) OnRestoreStart(store string, tp state.TopicPartition, start, end int64) {
	p.mu.Lock()
	e := p.entry(store)
	e.end, e.remaining = end, max(end-start, 0)
	p.mu.Unlock()
	if p.next != nil {
		p.next.OnRestoreStart(store, tp, start, end)
	}
}

// OnBatchRestored implements state.RestoreListener.
func (p *restoreProgress) OnBatchRestored(store string, tp state.TopicPartition, next int64, n int) {
	p.mu.Lock()
	e := p.entry(store)
	e.restored += int64(n)
	e.remaining = max(e.end-next, 0)
	p.mu.Unlock()
	if p.next != nil {
		p.next.OnBatchRestored(store, tp, next, n)
	}
}

// OnRestoreEnd implements state.RestoreListener.
func (p *restoreProgress) OnRestoreEnd(store string, tp state.TopicPartition, total int64) {
	p.mu.Lock()
	e := p.entry(store)
	e.restored, e.remaining = total, 0
	p.mu.Unlock()
	if p.next != nil {
		p.next.OnRestoreEnd(store, tp, total)
	}
}

// snapshot returns the stores' progress.
func (p *restoreProgress) snapshot() []storeRestore {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]storeRestore(nil), p.stores...)
}
