// Package promtest holds test helpers for Prometheus collectors: rendering a
// collector's metrics in the text exposition format, checking them with Prometheus's
// own linter (promtool check metrics), and reading values out of a gathered registry.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(app.Collector())
//	promtest.Poll(t, time.Minute, func() bool {
//		return promtest.Sum(t, reg, "kafka_streams_stream_task_metrics_process_total", nil) == 100
//	})
//	promtest.CheckMetrics(t, app.Collector())
package promtest
