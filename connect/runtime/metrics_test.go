package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/internal/promtest"
)

// Both herders have the worker's collector.
var (
	_ func(*runtime.Standalone) prometheus.Collector  = (*runtime.Standalone).Collector
	_ func(*runtime.Distributed) prometheus.Collector = (*runtime.Distributed).Collector
)

func workerRegistry(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}

// A file source moves N lines to a topic and a file sink moves them to a file: the
// poll, write, read and put totals say N, both connectors and their tasks are RUNNING,
// offset commits are timed, and promtool accepts the output.
func TestWorkerMetricsPipeline(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	const n = 250
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "line-%03d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	reg := workerRegistry(t, h.Collector())
	src, sink := pipelineConfigs(dir, "metrics-lines")
	connecttest.Create(t, h, "src", src)
	connecttest.Create(t, h, "sink", sink)
	out := filepath.Join(dir, "out.txt")
	connecttest.Eventually(t, time.Minute, "the lines in out.txt", func() bool {
		return len(connecttest.Lines(out)) >= n
	})
	srcTask := map[string]string{"connector": "src", "task": "0"}
	sinkTask := map[string]string{"connector": "sink", "task": "0"}
	sum := func(name string, match map[string]string) float64 { return promtest.Sum(t, reg, name, match) }
	connecttest.Eventually(t, time.Minute, "the metrics of the moved records", func() bool {
		return sum("kafka_connect_source_task_metrics_source_record_poll_total", srcTask) == n &&
			sum("kafka_connect_source_task_metrics_source_record_write_total", srcTask) == n &&
			sum("kafka_connect_source_task_metrics_source_record_active_count", srcTask) == 0 &&
			sum("kafka_connect_sink_task_metrics_sink_record_read_total", sinkTask) == n &&
			sum("kafka_connect_sink_task_metrics_sink_record_send_total", sinkTask) == n &&
			sum("kafka_connect_connector_task_metrics_offset_commit_time_seconds", srcTask) > 0 &&
			sum("kafka_connect_connector_task_metrics_offset_commit_time_seconds", sinkTask) > 0
	})
	for _, c := range []string{"src", "sink"} {
		if got := sum("kafka_connect_connector_metrics_status", map[string]string{"connector": c, "state": "RUNNING"}); got != 1 {
			t.Errorf("connector %s RUNNING = %v", c, got)
		}
		if got := sum("kafka_connect_connector_task_metrics_status", map[string]string{"connector": c, "task": "0", "state": "RUNNING"}); got != 1 {
			t.Errorf("task %s-0 RUNNING = %v", c, got)
		}
		if got := sum("kafka_connect_connector_task_metrics_status", map[string]string{"connector": c, "task": "0"}); got != 1 {
			t.Errorf("task %s-0 states sum to %v", c, got)
		}
		if got := sum("kafka_connect_connect_worker_metrics_connector_running_task_count", map[string]string{"connector": c}); got != 1 {
			t.Errorf("connector %s running tasks = %v", c, got)
		}
	}
	if got := sum("kafka_connect_connect_worker_metrics_task_count", nil); got != 2 {
		t.Errorf("task count = %v", got)
	}
	if got := sum("kafka_connect_connector_task_metrics_batch_size_max", srcTask); got < 1 || got > 100 { // batch.size=100
		t.Errorf("source batch size max = %v", got)
	}
	if got := sum("kafka_connect_task_error_metrics_total_record_errors", nil); got != 0 {
		t.Errorf("record errors = %v", got)
	}
	promtest.CheckMetrics(t, h.Collector())
}

// Under errors.tolerance=all a sink whose value converter fails on poison records
// skips them and writes them to its dead letter queue, and the error metrics count
// them.
func TestWorkerMetricsErrorsAndDLQ(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const total = 50
	var recs []*kgo.Record
	poison := 0
	for i := range total {
		v := fmt.Sprintf("%q", fmt.Sprintf("good-%02d", i))
		if i%5 == 2 {
			v = fmt.Sprintf("{not json %d", i)
			poison++
		}
		recs = append(recs, &kgo.Record{Topic: "metrics-events", Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	reg := workerRegistry(t, h.Collector())
	connecttest.Create(t, h, "sink", map[string]string{
		"connector.class": "FileStreamSink", "file": filepath.Join(dir, "out.txt"), "topics": "metrics-events",
		"key.converter": "StringConverter", "value.converter": "JsonConverter", "value.converter.schemas.enable": "false",
		"errors.tolerance": "all", "errors.log.enable": "true",
		"errors.deadletterqueue.topic.name": "metrics-events-dlq",
	})
	task := map[string]string{"connector": "sink", "task": "0"}
	sum := func(name string) float64 { return promtest.Sum(t, reg, name, task) }
	connecttest.Eventually(t, time.Minute, "every record read and put", func() bool {
		return sum("kafka_connect_sink_task_metrics_sink_record_read_total") == total &&
			sum("kafka_connect_sink_task_metrics_sink_record_send_total") == total-float64(poison) &&
			sum("kafka_connect_task_error_metrics_deadletterqueue_produce_requests") == float64(poison)
	})
	for name, want := range map[string]float64{
		"kafka_connect_task_error_metrics_total_record_errors":                  float64(poison),
		"kafka_connect_task_error_metrics_total_record_failures":                float64(poison),
		"kafka_connect_task_error_metrics_total_records_skipped":                float64(poison),
		"kafka_connect_task_error_metrics_total_errors_logged":                  float64(poison),
		"kafka_connect_task_error_metrics_total_retries":                        0,
		"kafka_connect_task_error_metrics_deadletterqueue_produce_failures":     0,
		"kafka_connect_connector_task_metrics_status":                           1, // one current state
		"kafka_connect_connect_worker_metrics_connector_running_task_count":     0, // no task label
		"kafka_connect_connect_worker_metrics_connector_failed_task_count":      0,
		"kafka_connect_connector_task_metrics_offset_commit_failure_total":      0,
		"kafka_connect_source_task_metrics_source_record_poll_total":            0, // a sink has none
		"kafka_connect_connector_task_metrics_offset_commit_failure_percentage": 0,
	} {
		if got := sum(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := sum("kafka_connect_task_error_metrics_last_error_timestamp"); got <= 0 {
		t.Errorf("last error timestamp = %v", got)
	}
	promtest.CheckMetrics(t, h.Collector())
}
