package broker

import (
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// brokerCollector is the broker seen as a prometheus.Collector
// (Broker.Metrics). Collect reads the broker's state as it is at the
// scrape: it takes Broker.mu (read) only to list the topics, and a
// partition's replication lock only after releasing it, so it respects the
// broker's lock order and never holds two locks at once.
type brokerCollector Broker

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descRequests = newDesc("kafka_network_requestmetrics_requests_total",
		"Requests answered, per API and version (Kafka's RequestMetrics RequestsPerSec).", "request", "version")
	descQueueSize = newDesc("kafka_network_requestchannel_requestqueuesize",
		"Decoded requests waiting in connection queues for their turn (Kafka's RequestChannel RequestQueueSize).")
	descIdle = newDesc("kafka_network_socketserver_networkprocessoravgidlepercent",
		"Share (0-1) of the CPUs (GOMAXPROCS) that request handling left idle since the previous scrape at least 1s earlier; Gregor's stand-in for Kafka's NetworkProcessorAvgIdlePercent.")
	descConnections = newDesc("kafka_server_socket_server_metrics_connections",
		"Open client connections per listener (Kafka's socket-server-metrics connection-count; not _count, which Prometheus keeps for histograms).", "listener")

	descMessagesIn    = newDesc("kafka_server_brokertopicmetrics_messagesin_total", "Records appended by producers, per topic.", "topic")
	descBytesIn       = newDesc("kafka_server_brokertopicmetrics_bytesin_total", "Record batch bytes appended by producers, per topic.", "topic")
	descBytesOut      = newDesc("kafka_server_brokertopicmetrics_bytesout_total", "Record bytes sent to consumers (not followers), per topic.", "topic")
	descBytesRejected = newDesc("kafka_server_brokertopicmetrics_bytesrejected_total", "Bytes of record batches refused for exceeding max.message.bytes, per topic.", "topic")
	descFailedProduce = newDesc("kafka_server_brokertopicmetrics_failedproducerequests_total", "Partitions of produce requests that failed for a reason other than the routine ones (not leader, unknown partition, too large, corrupt, storage), per topic.", "topic")
	descFailedFetch   = newDesc("kafka_server_brokertopicmetrics_failedfetchrequests_total", "Partitions of consumer fetches that failed with an unexpected error, per topic.", "topic")
	descTotalProduce  = newDesc("kafka_server_brokertopicmetrics_totalproducerequests_total", "Partitions of produce requests for this topic.", "topic")
	descTotalFetch    = newDesc("kafka_server_brokertopicmetrics_totalfetchrequests_total", "Partitions read by consumer fetch requests for this topic.", "topic")

	descLogSize     = newDesc("kafka_log_log_size", "Bytes of the partition's log segments on this broker.", "topic", "partition")
	descLogSegments = newDesc("kafka_log_log_numlogsegments", "Segments of the partition's log on this broker.", "topic", "partition")
	descLogStart    = newDesc("kafka_log_log_logstartoffset", "The partition log's start offset on this broker.", "topic", "partition")
	descLogEnd      = newDesc("kafka_log_log_logendoffset", "The partition log's end offset on this broker.", "topic", "partition")

	descPartitions      = newDesc("kafka_server_replicamanager_partitioncount", "Partitions with a replica on this broker.")
	descLeaders         = newDesc("kafka_server_replicamanager_leadercount", "Partitions this broker leads.")
	descUnderReplicated = newDesc("kafka_server_replicamanager_underreplicatedpartitions", "Partitions this broker leads whose ISR is smaller than their replica set.")
	descUnderMinISR     = newDesc("kafka_server_replicamanager_underminisrpartitioncount", "Partitions this broker leads whose ISR is smaller than min.insync.replicas.")
	descISRShrinks      = newDesc("kafka_server_replicamanager_isrshrinks_total", "ISR changes that removed a replica, of partitions this broker leads.")
	descISRExpands      = newDesc("kafka_server_replicamanager_isrexpands_total", "ISR changes that added a replica, of partitions this broker leads.")

	descActiveController = newDesc("kafka_controller_kafkacontroller_activecontrollercount", "1 on the active controller, 0 elsewhere.")
	descOffline          = newDesc("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader (reported by the active controller; 0 elsewhere).")
	descTopicCount       = newDesc("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster (reported by the active controller; 0 elsewhere).")
	descPartitionCount   = newDesc("kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster (reported by the active controller; 0 elsewhere).")

	descGroupOffset  = newDesc("kafka_consumergroup_current_offset", "The group's committed offset, per partition (as kafka_exporter names it).", "consumergroup", "topic", "partition")
	descGroupLag     = newDesc("kafka_consumergroup_lag", "The partition's high watermark minus the group's committed offset, for groups this broker coordinates and partitions it holds a replica of (as kafka_exporter names it).", "consumergroup", "topic", "partition")
	descGroupMembers = newDesc("kafka_consumergroup_members", "Members of the group, for groups this broker coordinates.", "consumergroup")
)

var allDescs = []*prometheus.Desc{
	descRequests, descQueueSize, descIdle, descConnections,
	descMessagesIn, descBytesIn, descBytesOut, descBytesRejected, descFailedProduce, descFailedFetch, descTotalProduce, descTotalFetch,
	descLogSize, descLogSegments, descLogStart, descLogEnd,
	descPartitions, descLeaders, descUnderReplicated, descUnderMinISR, descISRShrinks, descISRExpands,
	descActiveController, descOffline, descTopicCount, descPartitionCount,
	descGroupOffset, descGroupLag, descGroupMembers,
}

// Describe implements prometheus.Collector.
func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	m := c.metrics
	m.totalTime.Describe(ch)
	m.throttle.Describe(ch)
	m.flush.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := (*Broker)(c)
	m := b.metrics
	m.totalTime.Collect(ch)
	m.throttle.Collect(ch)
	m.flush.Collect(ch)
	b.collectRequests(ch)
	topics := b.topicsSnapshot()
	b.collectTopics(ch, topics)
	b.collectController(ch, topics)
	b.collectGroups(ch, topics)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// collectRequests reports the request counts, queue, idle ratio and
// connections.
func (b *Broker) collectRequests(ch chan<- prometheus.Metric) {
	m := b.metrics
	for key := range m.requests {
		for v := range m.requests[key] {
			if n := m.requests[key][v].Load(); n > 0 {
				counter(ch, descRequests, n, kmsg.NameForKey(int16(key)), strconv.Itoa(v))
			}
		}
	}
	gauge(ch, descQueueSize, float64(max(m.queued.Load(), 0)))
	gauge(ch, descIdle, m.idleRatioNow(time.Now()))
	perListener := map[string]int{}
	b.lnMu.Lock()
	for _, ln := range b.listeners {
		perListener[ln.name] += 0
	}
	for cn := range b.conns {
		perListener[cn.listener]++
	}
	b.lnMu.Unlock()
	for name, n := range perListener {
		gauge(ch, descConnections, float64(n), name)
	}
}

// topicsSnapshot lists the live topics, by name.
func (b *Broker) topicsSnapshot() []*topic {
	b.mu.RLock()
	out := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// collectTopics reports the per-topic counters, the per-partition log
// gauges and the replica manager's counts.
func (b *Broker) collectTopics(ch chan<- prometheus.Metric, topics []*topic) {
	var parts, leaders, underReplicated, underMinISR int
	for _, t := range topics {
		tm := &t.metrics
		counter(ch, descMessagesIn, tm.messagesIn.Load(), t.name)
		counter(ch, descBytesIn, tm.bytesIn.Load(), t.name)
		counter(ch, descBytesOut, tm.bytesOut.Load(), t.name)
		counter(ch, descBytesRejected, tm.bytesRejected.Load(), t.name)
		counter(ch, descFailedProduce, tm.failedProduce.Load(), t.name)
		counter(ch, descFailedFetch, tm.failedFetch.Load(), t.name)
		counter(ch, descTotalProduce, tm.totalProduce.Load(), t.name)
		counter(ch, descTotalFetch, tm.totalFetch.Load(), t.name)
		for _, p := range t.allPartitions() {
			if p == nil || p.deleted.Load() {
				continue
			}
			idx := strconv.Itoa(int(p.index))
			gauge(ch, descLogSize, float64(p.log.Size()), t.name, idx)
			gauge(ch, descLogSegments, float64(p.log.NumSegments()), t.name, idx)
			gauge(ch, descLogStart, float64(p.log.LogStartOffset()), t.name, idx)
			gauge(ch, descLogEnd, float64(p.log.LogEndOffset()), t.name, idx)
			parts++
			if !p.leading.Load() {
				continue
			}
			leaders++
			p.rep.mu.Lock()
			isr, replicas := len(p.rep.isr), len(p.rep.replicas)
			p.rep.mu.Unlock()
			if isr < replicas {
				underReplicated++
			}
			if isr > 0 && isr < p.minInSync() {
				underMinISR++
			}
		}
	}
	m := b.metrics
	gauge(ch, descPartitions, float64(parts))
	gauge(ch, descLeaders, float64(leaders))
	gauge(ch, descUnderReplicated, float64(underReplicated))
	gauge(ch, descUnderMinISR, float64(underMinISR))
	counter(ch, descISRShrinks, m.isrShrinks.Load())
	counter(ch, descISRExpands, m.isrExpands.Load())
}

// collectController reports the controller's gauges: the active controller
// counts the cluster's topics, partitions and offline partitions from the
// metadata it applied; other nodes report 0, as Kafka's do.
func (b *Broker) collectController(ch chan<- prometheus.Metric, topics []*topic) {
	active := b.ctrl != nil && b.ctrl.isActive()
	var offline, partitions, topicCount int
	if active {
		for _, t := range topics {
			topicCount++
			n := int(t.numPartitions())
			partitions += n
			for i := range n {
				if t.placementOf(int32(i)).Leader == meta.NoLeader {
					offline++
				}
			}
		}
	}
	gauge(ch, descActiveController, boolFloat(active))
	gauge(ch, descOffline, float64(offline))
	gauge(ch, descTopicCount, float64(topicCount))
	gauge(ch, descPartitionCount, float64(partitions))
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// collectGroups reports the committed offsets, lag and members of the
// groups this broker coordinates. Lag is the high watermark this broker
// knows minus the committed offset (0 when the commit is past it), for the
// partitions it holds a replica of.
func (b *Broker) collectGroups(ch chan<- prometheus.Metric, topics []*topic) {
	gc := b.groups.Load()
	if gc == nil {
		return
	}
	byName := make(map[string]*topic, len(topics))
	for _, t := range topics {
		byName[t.name] = t
	}
	for _, g := range gc.AllCommittedOffsets() {
		gauge(ch, descGroupMembers, float64(g.Members), g.Group)
		for _, o := range g.Offsets {
			if o.Offset.Offset < 0 {
				continue
			}
			idx := strconv.Itoa(int(o.Partition))
			gauge(ch, descGroupOffset, float64(o.Offset.Offset), g.Group, o.Topic, idx)
			p := byName[o.Topic].partition(o.Partition)
			if p == nil || p.deleted.Load() {
				continue
			}
			gauge(ch, descGroupLag, float64(max(p.highWatermark()-o.Offset.Offset, 0)), g.Group, o.Topic, idx)
		}
	}
}
