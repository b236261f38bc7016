// Package latency is a lock-free latency histogram for hot paths, which streams and
// Connect keep per task and render as Prometheus histograms at scrape time.
//
// A Histogram is cheaper than a client_golang HistogramVec on a per-record path: it
// resolves no labels, and ObserveN records a whole batch at once (each of its n
// operations at the batch's average), so a loop that processes a fetched batch pays one
// clock read and three atomic adds per batch instead of per record. Its count and sum
// stay exact; only the bucket of each operation is approximated by the batch's average.
//
//	var h latency.Histogram
//	start := time.Now()
//	n := processBatch()
//	h.ObserveN(time.Since(start), uint64(n))
//	m := h.Metric(desc, "thread-1", "0_1") // a prometheus.Metric for a collector
package latency
