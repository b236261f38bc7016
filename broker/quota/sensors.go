package quota

import (
	"sync"
	"time"
)

// SensorExpiry is how long a group's rate is kept after its last use, as
// Kafka expires an inactive quota sensor after an hour.
const SensorExpiry = time.Hour

type sensorKey struct {
	key   string
	group Group
}

type sensor struct {
	rate   *Rate
	bucket *TokenBucket
	used   time.Time
}

// Sensors holds the rate of each quota key for each group of clients.
// It is safe for concurrent use; its lock is a leaf.
type Sensors struct {
	mu      sync.Mutex
	w       Window
	sensors map[sensorKey]*sensor
	swept   time.Time
}

// NewSensors returns sensors measuring over w.
func NewSensors(w Window) *Sensors {
	return &Sensors{w: w.normalized(), sensors: map[sensorKey]*sensor{}}
}

// Window is the window the sensors measure over.
func (s *Sensors) Window() Window { return s.w }

func (s *Sensors) get(k sensorKey, now time.Time) *sensor {
	if now.Sub(s.swept) > time.Minute {
		s.swept = now
		for key, se := range s.sensors {
			if now.Sub(se.used) > SensorExpiry {
				delete(s.sensors, key)
			}
		}
	}
	se := s.sensors[k]
	if se == nil {
		se = &sensor{}
		s.sensors[k] = se
	}
	se.used = now
	return se
}

// Record adds value to the rate of key for group g and returns the
// throttle time it costs against bound (0 within the quota).
func (s *Sensors) Record(key string, g Group, value, bound float64, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.get(sensorKey{key, g}, now)
	if se.rate == nil {
		se.rate = NewRate(s.w, now)
	}
	se.rate.Record(value, now)
	return se.rate.Throttle(bound, now)
}

// Measure returns the current rate of key for group g (0 if unmeasured).
func (s *Sensors) Measure(key string, g Group, now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sensors[sensorKey{key, g}]
	if se == nil || se.rate == nil {
		return 0
	}
	return se.rate.Measure(now)
}

// MutationExceeded reports whether g's controller-mutation bucket is
// empty at now, and if so how long until it refills to zero. A strict
// check (the request versions that know THROTTLING_QUOTA_EXCEEDED)
// refuses a mutation then.
func (s *Sensors) MutationExceeded(g Group, quota float64, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bucket(g, now).Exceeded(quota, now)
}

// Mutate takes n tokens from g's bucket (it may go negative) and returns
// the throttle time that leaves.
func (s *Sensors) Mutate(g Group, n, quota float64, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(g, now)
	b.Take(quota, n, now)
	d, _ := b.Exceeded(quota, now)
	return d
}

func (s *Sensors) bucket(g Group, now time.Time) *TokenBucket {
	se := s.get(sensorKey{ControllerMutationRate, g}, now)
	if se.bucket == nil {
		se.bucket = NewTokenBucket(s.w)
	}
	return se.bucket
}
