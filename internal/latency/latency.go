package latency

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets are the histogram's upper bounds in seconds: from 10µs (a record through a
// small topology) to 10s (a slow commit or put), a factor of about 2.5 apart.
var Buckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Histogram is a latency histogram over Buckets, safe for one writer and any number of
// concurrent readers (several writers are safe too, but a reader may then see a count
// and a sum of slightly different moments). The zero value is ready to use.
type Histogram struct {
	counts [20]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	count  atomic.Uint64
	sumNs  atomic.Int64
	maxNs  atomic.Int64
}

// Observe records one operation that took d.
func (h *Histogram) Observe(d time.Duration) { h.ObserveN(d, 1) }

// ObserveN records n operations that took d altogether, each at d/n. It does nothing
// when n is 0.
func (h *Histogram) ObserveN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	if d < 0 {
		d = 0
	}
	each := d / time.Duration(n)
	s := each.Seconds()
	i := 0
	for i < len(Buckets) && s > Buckets[i] {
		i++
	}
	h.counts[i].Add(n)
	h.sumNs.Add(int64(d))
	h.count.Add(n)
	for {
		m := h.maxNs.Load()
		if int64(each) <= m || h.maxNs.CompareAndSwap(m, int64(each)) {
			return
		}
	}
}

// Count returns the number of operations observed.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Sum returns the total time observed.
func (h *Histogram) Sum() time.Duration { return time.Duration(h.sumNs.Load()) }

// Max returns the longest operation observed (per batch, the batch's average).
func (h *Histogram) Max() time.Duration { return time.Duration(h.maxNs.Load()) }

// Metric renders the histogram as a Prometheus histogram of desc (in seconds) with the
// given label values. The count is the sum of the bucket counts read, so that the
// buckets are always consistent with it.
func (h *Histogram) Metric(desc *prometheus.Desc, labelValues ...string) (prometheus.Metric, error) {
	buckets := make(map[float64]uint64, len(Buckets))
	var cum uint64
	for i, ub := range Buckets {
		cum += h.counts[i].Load()
		buckets[ub] = cum
	}
	cum += h.counts[len(Buckets)].Load()
	return prometheus.NewConstHistogram(desc, cum, time.Duration(h.sumNs.Load()).Seconds(), buckets, labelValues...)
}
