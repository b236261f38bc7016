package runtime

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/internal/latency"
)

// A worker's Prometheus metrics, named as Kafka's JMX exporter renders Kafka Connect's
// metric groups (kafka.connect:type=source-task-metrics,connector=...,task=...
// attribute source-record-poll-total becomes
// kafka_connect_source_task_metrics_source_record_poll_total{connector,task}). Counters
// are atomics the task loops add to, a batch at a time where they can; statuses and
// counts are read from the status store when scraped. docs/metrics.md lists them.

// taskMetrics are one task's counters. A task restarted gets new ones, as in Kafka
// Connect, where a task's metrics are removed when it stops.
type taskMetrics struct {
	// source-task-metrics
	pollTotal  atomic.Int64      // records Poll returned, before transformations
	writeTotal atomic.Int64      // records written to Kafka (acknowledged)
	pollTime   latency.Histogram // Poll calls that returned records
	active     atomic.Int64      // records handed to the producer and not acknowledged yet
	// sink-task-metrics
	readTotal atomic.Int64      // records consumed, before transformations
	sendTotal atomic.Int64      // records Put to the task, after transformations
	putTime   latency.Histogram // Put calls
	// connector-task-metrics
	batches      atomic.Int64 // polled or put batches
	batchRecords atomic.Int64 // their records
	batchMax     atomic.Int64
	commitTime   latency.Histogram // offset commits, successful or not
	commitFailed atomic.Int64
	// task-error-metrics
	recordFailures atomic.Int64 // failed attempts, retries included
	recordErrors   atomic.Int64 // operations that failed after their retries
	recordsSkipped atomic.Int64 // records skipped under errors.tolerance=all
	retries        atomic.Int64
	errorsLogged   atomic.Int64
	dlqRequests    atomic.Int64
	dlqFailures    atomic.Int64
	lastErrorMs    atomic.Int64 // wall clock of the last error, ms; 0 if none
}

// batch records a polled or put batch of n records.
func (m *taskMetrics) batch(n int) {
	m.batches.Add(1)
	m.batchRecords.Add(int64(n))
	for {
		cur := m.batchMax.Load()
		if int64(n) <= cur || m.batchMax.CompareAndSwap(cur, int64(n)) {
			return
		}
	}
}

// commit records an offset commit that started at start.
func (m *taskMetrics) commit(start time.Time, err error) {
	m.commitTime.Observe(time.Since(start))
	if err != nil {
		m.commitFailed.Add(1)
	}
}

var (
	connLabels     = []string{"connector"}
	taskLabels     = []string{"connector", "task"}
	workerStates   = []State{StateUnassigned, StateRunning, StatePaused, StateStopped, StateFailed, StateRestarting}
	descConnStatus = prometheus.NewDesc("kafka_connect_connector_metrics_status",
		"The connector's status on this worker: 1 for its current state, 0 for the others.", []string{"connector", "state"}, nil)
	descTaskStatus = prometheus.NewDesc("kafka_connect_connector_task_metrics_status",
		"The task's status on this worker: 1 for its current state, 0 for the others.", []string{"connector", "task", "state"}, nil)
	descBatchAvg = prometheus.NewDesc("kafka_connect_connector_task_metrics_batch_size_avg",
		"The average number of records in the batches the task polled (source) or put (sink), since it started.", taskLabels, nil)
	descBatchMax = prometheus.NewDesc("kafka_connect_connector_task_metrics_batch_size_max",
		"The largest batch the task polled (source) or put (sink), since it started.", taskLabels, nil)
	descCommitTime = prometheus.NewDesc("kafka_connect_connector_task_metrics_offset_commit_time_seconds",
		"The time the task's offset commits took (sinks: flush and consumer offset commit; sources: writing the offset store).", taskLabels, nil)
	descCommitFailures = prometheus.NewDesc("kafka_connect_connector_task_metrics_offset_commit_failure_total",
		"The number of the task's offset commits that failed.", taskLabels, nil)
	descCommitSuccessPct = prometheus.NewDesc("kafka_connect_connector_task_metrics_offset_commit_success_percentage",
		"The fraction (0 to 1) of the task's offset commits that succeeded, since it started.", taskLabels, nil)
	descCommitFailurePct = prometheus.NewDesc("kafka_connect_connector_task_metrics_offset_commit_failure_percentage",
		"The fraction (0 to 1) of the task's offset commits that failed, since it started.", taskLabels, nil)
	descPollTotal = prometheus.NewDesc("kafka_connect_source_task_metrics_source_record_poll_total",
		"The number of records the source task's Poll returned, before transformations.", taskLabels, nil)
	descWriteTotal = prometheus.NewDesc("kafka_connect_source_task_metrics_source_record_write_total",
		"The number of records the source task wrote to Kafka (acknowledged), after transformations.", taskLabels, nil)
	descPollTime = prometheus.NewDesc("kafka_connect_source_task_metrics_poll_batch_time_seconds",
		"The time the source task's Poll calls that returned records took.", taskLabels, nil)
	descActive = prometheus.NewDesc("kafka_connect_source_task_metrics_source_record_active_count",
		"The number of records the source task polled that Kafka has not acknowledged yet.", taskLabels, nil)
	descReadTotal = prometheus.NewDesc("kafka_connect_sink_task_metrics_sink_record_read_total",
		"The number of records the sink task consumed from Kafka, before transformations.", taskLabels, nil)
	descSendTotal = prometheus.NewDesc("kafka_connect_sink_task_metrics_sink_record_send_total",
		"The number of records put to the sink task, after transformations.", taskLabels, nil)
	descPutTime = prometheus.NewDesc("kafka_connect_sink_task_metrics_put_batch_time_seconds",
		"The time the sink task's Put calls took.", taskLabels, nil)
	descRecordErrors = prometheus.NewDesc("kafka_connect_task_error_metrics_total_record_errors",
		"The number of record processing errors in the task: operations that still failed after their retries.", taskLabels, nil)
	descRecordFailures = prometheus.NewDesc("kafka_connect_task_error_metrics_total_record_failures",
		"The number of record processing failures in the task: every failed attempt, retries included.", taskLabels, nil)
	descSkipped = prometheus.NewDesc("kafka_connect_task_error_metrics_total_records_skipped",
		"The number of records the task skipped because of errors (errors.tolerance=all).", taskLabels, nil)
	descRetries = prometheus.NewDesc("kafka_connect_task_error_metrics_total_retries",
		"The number of retries of failed operations in the task.", taskLabels, nil)
	descErrorsLogged = prometheus.NewDesc("kafka_connect_task_error_metrics_total_errors_logged",
		"The number of errors the task logged (errors.log.enable=true).", taskLabels, nil)
	descDLQRequests = prometheus.NewDesc("kafka_connect_task_error_metrics_deadletterqueue_produce_requests",
		"The number of records the task tried to write to its dead letter queue.", taskLabels, nil)
	descDLQFailures = prometheus.NewDesc("kafka_connect_task_error_metrics_deadletterqueue_produce_failures",
		"The number of records the task failed to write to its dead letter queue.", taskLabels, nil)
	descLastError = prometheus.NewDesc("kafka_connect_task_error_metrics_last_error_timestamp",
		"When the task's last error happened, in milliseconds since the epoch; 0 if none.", taskLabels, nil)
	descConnectorCount = prometheus.NewDesc("kafka_connect_connect_worker_metrics_connector_count",
		"The number of connectors running on this worker.", nil, nil)
	descTaskCount = prometheus.NewDesc("kafka_connect_connect_worker_metrics_task_count",
		"The number of tasks running on this worker.", nil, nil)
	// The per-connector task counts of connect-worker-metrics, by state.
	descTaskCounts = map[State]*prometheus.Desc{
		StateRunning:    workerTaskCount("running"),
		StatePaused:     workerTaskCount("paused"),
		StateFailed:     workerTaskCount("failed"),
		StateUnassigned: workerTaskCount("unassigned"),
		StateRestarting: workerTaskCount("restarting"),
	}
	descTotalTaskCount = prometheus.NewDesc("kafka_connect_connect_worker_metrics_connector_total_task_count",
		"The number of the connector's tasks on this worker.", connLabels, nil)
)

func workerTaskCount(state string) *prometheus.Desc {
	return prometheus.NewDesc("kafka_connect_connect_worker_metrics_connector_"+state+"_task_count",
		"The number of the connector's tasks on this worker that are "+state+".", connLabels, nil)
}

// Collector returns the worker's metrics as a prometheus.Collector, to register in the
// registry the process serves (no metric goes to a global registry): the status of the
// connectors and tasks this worker runs, source and sink task totals, batch sizes,
// offset commit latencies, and error and dead letter queue counts. Standalone and
// Distributed have it through the Worker they embed; it may be scraped at any time.
// Latencies are histograms in seconds. docs/metrics.md lists the metrics.
func (h *Worker) Collector() prometheus.Collector { return workerCollector{h} }

type workerCollector struct{ h *Worker }

// Describe implements prometheus.Collector.
func (workerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnStatus, descTaskStatus, descBatchAvg, descBatchMax,
		descCommitTime, descCommitFailures, descCommitSuccessPct, descCommitFailurePct,
		descPollTotal, descWriteTotal, descPollTime, descActive, descReadTotal, descSendTotal, descPutTime,
		descRecordErrors, descRecordFailures, descSkipped, descRetries, descErrorsLogged,
		descDLQRequests, descDLQFailures, descLastError, descConnectorCount, descTaskCount, descTotalTaskCount} {
		ch <- d
	}
	for _, d := range descTaskCounts {
		ch <- d
	}
}

// runningTask is what the collector reads of a task running here.
type runningTask struct {
	id  TaskID
	typ connect.PluginType
	m   *taskMetrics
}

// Collect implements prometheus.Collector.
func (c workerCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	h.mu.Lock()
	var tasks []runningTask
	connectors, running := 0, 0
	for _, rt := range h.conns {
		if rt.conn != nil {
			connectors++
		}
		for _, r := range rt.tasks {
			running++
			tasks = append(tasks, runningTask{id: r.id, typ: rt.typ, m: r.metrics})
		}
	}
	h.mu.Unlock()
	// Kafka's names of these gauges end in _count, which Prometheus keeps for histograms
	// and summaries: they are untyped, as the JMX exporter exports them.
	ch <- prometheus.MustNewConstMetric(descConnectorCount, prometheus.UntypedValue, float64(connectors))
	ch <- prometheus.MustNewConstMetric(descTaskCount, prometheus.UntypedValue, float64(running))

	// Statuses of what this worker runs, from the status store.
	ctx := context.Background()
	me := h.WorkerID()
	for _, name := range slices.Sorted(slices.Values(h.configs.Connectors(ctx))) {
		if st, ok := h.statuses.Connector(ctx, name); ok && st.WorkerID == me {
			stateGauge(ch, descConnStatus, st.State, name)
		}
		counts := map[State]int{}
		total := 0
		ts := h.statuses.Tasks(ctx, name)
		for _, i := range slices.Sorted(maps.Keys(ts)) {
			st := ts[i]
			if st.WorkerID != me {
				continue
			}
			stateGauge(ch, descTaskStatus, st.State, name, strconv.Itoa(i))
			counts[st.State]++
			total++
		}
		if total == 0 {
			continue
		}
		for state, d := range descTaskCounts {
			ch <- prometheus.MustNewConstMetric(d, prometheus.UntypedValue, float64(counts[state]), name)
		}
		ch <- prometheus.MustNewConstMetric(descTotalTaskCount, prometheus.UntypedValue, float64(total), name)
	}

	for _, t := range tasks {
		collectTask(ch, t)
	}
}

// stateGauge sends one series per state: 1 for st, 0 for the others.
func stateGauge(ch chan<- prometheus.Metric, d *prometheus.Desc, st State, labels ...string) {
	for _, s := range workerStates {
		v := 0.0
		if s == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels, string(s))...)
	}
}

func collectTask(ch chan<- prometheus.Metric, t runningTask) {
	m := t.m
	l := []string{t.id.Connector, strconv.Itoa(t.id.Task)}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	hist := func(d *prometheus.Desc, h *latency.Histogram) {
		pm, err := h.Metric(d, l...)
		if err != nil {
			pm = prometheus.NewInvalidMetric(d, err)
		}
		ch <- pm
	}
	if n := m.batches.Load(); n > 0 {
		gauge(descBatchAvg, float64(m.batchRecords.Load())/float64(n))
	} else {
		gauge(descBatchAvg, 0)
	}
	gauge(descBatchMax, float64(m.batchMax.Load()))
	hist(descCommitTime, &m.commitTime)
	failed := m.commitFailed.Load()
	counter(descCommitFailures, failed)
	if n := int64(m.commitTime.Count()); n > 0 {
		gauge(descCommitSuccessPct, float64(n-failed)/float64(n))
		gauge(descCommitFailurePct, float64(failed)/float64(n))
	} else {
		gauge(descCommitSuccessPct, 0)
		gauge(descCommitFailurePct, 0)
	}
	switch t.typ {
	case connect.PluginSource:
		counter(descPollTotal, m.pollTotal.Load())
		counter(descWriteTotal, m.writeTotal.Load())
		hist(descPollTime, &m.pollTime)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.UntypedValue, float64(m.active.Load()), l...) // _count: untyped, as above
	case connect.PluginSink:
		counter(descReadTotal, m.readTotal.Load())
		counter(descSendTotal, m.sendTotal.Load())
		hist(descPutTime, &m.putTime)
	}
	// Kafka's names of these counters do not end in _total, which Prometheus reserves
	// for counters: they are untyped, as the JMX exporter exposes them.
	untyped := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.UntypedValue, float64(v), l...)
	}
	untyped(descRecordErrors, m.recordErrors.Load())
	untyped(descRecordFailures, m.recordFailures.Load())
	untyped(descSkipped, m.recordsSkipped.Load())
	untyped(descRetries, m.retries.Load())
	untyped(descErrorsLogged, m.errorsLogged.Load())
	untyped(descDLQRequests, m.dlqRequests.Load())
	untyped(descDLQFailures, m.dlqFailures.Load())
	gauge(descLastError, float64(m.lastErrorMs.Load()))
}
