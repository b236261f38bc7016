package broker

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker's Prometheus metrics, named as Kafka's JMX exporter rules
// (kafka-2_0_0.yml and Confluent's) name Kafka's MBeans, so dashboards and
// alert rules written for Kafka work; docs/metrics.md lists them all.
//
// The hot path only adds to atomics it reaches without a lookup: the
// per-topic counters live in the topic (topicMetrics), the per-API counters
// in arrays indexed by API key and version, the per-API latency histograms
// are resolved once per key. Everything else (log sizes, ISR state, group
// lag, connections) is read from the broker's state when Prometheus
// scrapes (metrics_collect.go).

// Bounds of the per-API arrays; keys and versions outside are not counted
// (none of the registered handlers is).
const (
	metricAPIKeys     = 128
	metricAPIVersions = 32
)

// topicMetrics are one topic's BrokerTopicMetrics, counted on the hot path
// and exported at scrape time; they live and die with the topic.
type topicMetrics struct {
	messagesIn    atomic.Uint64 // MessagesInPerSec: records appended by clients
	bytesIn       atomic.Uint64 // BytesInPerSec: batch bytes appended by clients
	bytesOut      atomic.Uint64 // BytesOutPerSec: record bytes sent to consumers
	bytesRejected atomic.Uint64 // BytesRejectedPerSec: batches over max.message.bytes
	failedProduce atomic.Uint64 // FailedProduceRequestsPerSec
	failedFetch   atomic.Uint64 // FailedFetchRequestsPerSec
	totalProduce  atomic.Uint64 // TotalProduceRequestsPerSec (one per partition)
	totalFetch    atomic.Uint64 // TotalFetchRequestsPerSec (one per partition)
}

// produceFailed counts a partition of a produce that appended nothing. As
// in Kafka's ReplicaManager, the errors a healthy broker answers in normal
// operation (unknown partition, not leader, record too large, corrupt
// record, storage error) are not failed requests; an oversized batch
// counts as rejected bytes.
func (m *topicMetrics) produceFailed(kErr *kerr.Error, size int) {
	switch kErr {
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		m.bytesRejected.Add(uint64(size))
	case kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition, kerr.CorruptMessage, kerr.KafkaStorageError:
	default:
		m.failedProduce.Add(1)
	}
}

// fetchTally is what one fetch read from one partition, counted once the
// fetch is answered (a long poll reads its partitions more than once).
type fetchTally struct {
	t *topic
	n int
}

// observerRef holds a resolved child of a histogram vector.
type observerRef struct{ o prometheus.Observer }

// brokerMetrics are the broker-wide metrics.
type brokerMetrics struct {
	requests [metricAPIKeys][metricAPIVersions]atomic.Uint64
	// totalTime is RequestMetrics TotalTimeMs as a histogram in seconds,
	// from a request's decoding to its response's write; byKey caches its
	// children.
	totalTime *prometheus.HistogramVec
	byKey     [metricAPIKeys]atomic.Pointer[observerRef]
	// throttle is RequestMetrics ThrottleTimeMs of Produce and Fetch.
	throttle                       *prometheus.HistogramVec
	produceThrottle, fetchThrottle prometheus.Observer
	// flush is LogFlushStats LogFlushRateAndTimeMs, in seconds.
	flush prometheus.Histogram

	queued     atomic.Int64 // decoded requests waiting in connection queues
	busyNanos  atomic.Int64 // time spent handling requests, parked time excluded
	isrShrinks atomic.Uint64
	isrExpands atomic.Uint64

	idleMu    sync.Mutex
	idleAt    time.Time
	idleBusy  int64
	idleRatio float64
}

// latencyBuckets span Kafka's request times: a metadata request in
// microseconds up to a long-polling fetch's 30 seconds.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newBrokerMetrics() *brokerMetrics {
	m := &brokerMetrics{
		totalTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafka_network_requestmetrics_totaltime_seconds",
			Help:    "Time from a request's arrival to its response being written, per API (Kafka's RequestMetrics TotalTimeMs, in seconds).",
			Buckets: latencyBuckets,
		}, []string{"request"}),
		throttle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafka_network_requestmetrics_throttletime_seconds",
			Help:    "Client quota throttle time given to Produce and Fetch requests (Kafka's RequestMetrics ThrottleTimeMs, in seconds).",
			Buckets: []float64{0, .001, .01, .1, .5, 1, 5, 10, 30},
		}, []string{"request"}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kafka_log_logflushstats_logflushrateandtime_seconds",
			Help:    "Time of each fsync of a partition log (Kafka's LogFlushStats LogFlushRateAndTimeMs, in seconds).",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
		idleAt:    time.Now(),
		idleRatio: 1,
	}
	m.produceThrottle = m.throttle.WithLabelValues("Produce")
	m.fetchThrottle = m.throttle.WithLabelValues("Fetch")
	return m
}

// requestDone counts one answered request: total is its time since it was
// decoded, busy the time its handler worked (parked time excluded).
func (m *brokerMetrics) requestDone(r *request, total, busy time.Duration) {
	if r.key >= 0 && r.key < metricAPIKeys && r.version >= 0 && r.version < metricAPIVersions {
		m.requests[r.key][r.version].Add(1)
		ref := m.byKey[r.key].Load()
		if ref == nil {
			ref = &observerRef{m.totalTime.WithLabelValues(kmsg.NameForKey(r.key))}
			m.byKey[r.key].Store(ref)
		}
		ref.o.Observe(total.Seconds())
	}
	m.busyNanos.Add(int64(busy))
}

// throttled records the throttle time given to a Produce or Fetch.
func (m *brokerMetrics) throttled(key int16, d time.Duration) {
	switch key {
	case 0:
		m.produceThrottle.Observe(d.Seconds())
	case 1:
		m.fetchThrottle.Observe(d.Seconds())
	}
}

// observeFlush is the partition logs' flush hook (log.Options.OnFlush).
func (m *brokerMetrics) observeFlush(d time.Duration) { m.flush.Observe(d.Seconds()) }

// isrChanged counts an applied ISR change of a partition this node leads.
func (m *brokerMetrics) isrChanged(from, to []int32) {
	for _, id := range to {
		if !containsID(from, id) {
			m.isrExpands.Add(1)
			break
		}
	}
	for _, id := range from {
		if !containsID(to, id) {
			m.isrShrinks.Add(1)
			break
		}
	}
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// idleRatioNow is the share of the process's CPUs (GOMAXPROCS) that request
// handling left idle since the previous computation, at least a second
// apart (scrapes closer together share the value): Gregor has no network
// processor threads, so this stands in for Kafka's
// NetworkProcessorAvgIdlePercent. It is 1 on an idle broker and falls
// toward 0 as handlers keep every CPU busy.
func (m *brokerMetrics) idleRatioNow(now time.Time) float64 {
	m.idleMu.Lock()
	defer m.idleMu.Unlock()
	elapsed := now.Sub(m.idleAt)
	if elapsed < time.Second {
		return m.idleRatio
	}
	busy := m.busyNanos.Load()
	capacity := float64(elapsed) * float64(runtime.GOMAXPROCS(0))
	ratio := 1 - float64(busy-m.idleBusy)/capacity
	m.idleRatio = min(max(ratio, 0), 1)
	m.idleAt, m.idleBusy = now, busy
	return m.idleRatio
}

// Metrics returns the collector of the broker's Prometheus metrics
// (docs/metrics.md lists them). Register it in the process's registry; its
// gauges are read from the broker's state at each scrape.
func (b *Broker) Metrics() prometheus.Collector { return (*brokerCollector)(b) }

// Errors Ready reports.
var (
	// ErrNotReady is wrapped by Ready while the broker has not yet joined
	// its cluster (registered with the active controller and unfenced).
	ErrNotReady = errors.New("broker not ready")
	// ErrShuttingDown is returned by Ready once Close has begun.
	ErrShuttingDown = errors.New("broker shutting down")
)

// Ready reports whether the broker serves clients: its logs are recovered
// (New has returned), it has joined the metadata quorum, registered with
// the active controller, been unfenced and opened the partitions placed on
// it, which is when WaitReady returns. Otherwise the error says what it
// waits for.
func (b *Broker) Ready() error {
	select {
	case <-b.closing:
		return ErrShuttingDown
	default:
	}
	select {
	case <-b.ready:
		return nil
	default:
	}
	if b.quorum == nil || b.quorum.Leader() == 0 {
		return fmt.Errorf("%w: no metadata quorum leader yet (a majority of controller.quorum.voters must be running)", ErrNotReady)
	}
	return fmt.Errorf("%w: not yet registered with the active controller and unfenced", ErrNotReady)
}
