package quota

import (
	"math"
	"time"
)

// Window is how rates are measured: Samples windows of Size each, Kafka's
// quota.window.num (11) and quota.window.size.seconds (1).
type Window struct {
	Samples int
	Size    time.Duration
}

// DefaultWindow is Kafka's default quota window: 11 samples of a second.
var DefaultWindow = Window{Samples: 11, Size: time.Second}

func (w Window) normalized() Window {
	if w.Samples < 2 {
		w.Samples = 2
	}
	if w.Size <= 0 {
		w.Size = time.Second
	}
	return w
}

type sample struct {
	start time.Time
	value float64
}

// Rate is a windowed rate per second, measured as Kafka's Rate over a
// SampledStat: values land in the current sample until it is a window
// old, samples older than all the windows together are forgotten, and the
// rate divides the sum by the time since the oldest sample began, but by
// no less than Samples-1 windows (so a client that just started cannot
// burst far past its quota). Rate is not safe for concurrent use.
type Rate struct {
	w       Window
	samples []sample
	current int
}

// NewRate returns an empty rate measured over w.
func NewRate(w Window, now time.Time) *Rate {
	w = w.normalized()
	r := &Rate{w: w, samples: make([]sample, w.Samples)}
	for i := range r.samples {
		r.samples[i].start = now
	}
	return r
}

// Record adds value at now.
func (r *Rate) Record(value float64, now time.Time) {
	s := &r.samples[r.current]
	if now.Sub(s.start) >= r.w.Size {
		r.current = (r.current + 1) % len(r.samples)
		s = &r.samples[r.current]
		s.start, s.value = now, 0
	}
	s.value += value
}

// purge forgets samples that began before all windows together.
func (r *Rate) purge(now time.Time) {
	expire := time.Duration(len(r.samples)) * r.w.Size
	for i := range r.samples {
		if now.Sub(r.samples[i].start) >= expire {
			r.samples[i].start, r.samples[i].value = now, 0
		}
	}
}

// span is the time the rate divides by at now.
func (r *Rate) span(now time.Time) time.Duration {
	r.purge(now)
	oldest := r.samples[0].start
	for _, s := range r.samples[1:] {
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	if min := time.Duration(len(r.samples)-1) * r.w.Size; elapsed < min {
		elapsed = min
	}
	return elapsed
}

// Measure returns the rate per second at now.
func (r *Rate) Measure(now time.Time) float64 {
	span := r.span(now)
	var sum float64
	for _, s := range r.samples {
		sum += s.value
	}
	return sum / span.Seconds()
}

// Throttle returns how long a client over bound must wait at now, as
// Kafka computes it: (rate - bound) / bound × the span the rate was
// measured over, which is the time until the rate is back at the bound
// if the client sends nothing. Zero when the rate is within bound.
func (r *Rate) Throttle(bound float64, now time.Time) time.Duration {
	if bound <= 0 {
		return 0
	}
	v := r.Measure(now)
	if v <= bound {
		return 0
	}
	ms := (v - bound) / bound * float64(r.span(now).Milliseconds())
	return time.Duration(math.Round(ms)) * time.Millisecond
}

// Unrecord takes back value recorded at now (Kafka does so for a fetch it
// answers empty because the client is throttled).
func (r *Rate) Unrecord(value float64, now time.Time) { r.Record(-value, now) }

// TokenBucket is the rate of controller mutations (KIP-599): a bucket of
// Samples×Size seconds' worth of the quota, refilled at the quota per
// second, from which each mutation takes one token. It may go negative;
// then the quota is exceeded until it refills to zero. TokenBucket is not
// safe for concurrent use.
type TokenBucket struct {
	w      Window
	tokens float64
	last   time.Time
	fresh  bool
}

// NewTokenBucket returns a full bucket.
func NewTokenBucket(w Window) *TokenBucket {
	return &TokenBucket{w: w.normalized(), fresh: true}
}

func (t *TokenBucket) refill(quota float64, now time.Time) {
	burst := quota * float64(t.w.Samples) * t.w.Size.Seconds()
	if t.fresh {
		t.tokens, t.last, t.fresh = burst, now, false
		return
	}
	if el := now.Sub(t.last); el > 0 {
		t.tokens += quota * el.Seconds()
		t.last = now
	}
	if t.tokens > burst {
		t.tokens = burst
	}
}

// Exceeded returns, when the bucket is empty (the quota exceeded), the
// time until it refills to zero.
func (t *TokenBucket) Exceeded(quota float64, now time.Time) (time.Duration, bool) {
	if quota <= 0 {
		return 0, false
	}
	t.refill(quota, now)
	if t.tokens >= 0 {
		return 0, false
	}
	ms := -t.tokens / quota * 1000
	return time.Duration(math.Round(ms)) * time.Millisecond, true
}

// Take removes n tokens at now.
func (t *TokenBucket) Take(quota, n float64, now time.Time) {
	t.refill(quota, now)
	t.tokens -= n
}
