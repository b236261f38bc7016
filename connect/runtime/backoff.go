package runtime

import (
	"math/rand/v2"
	"time"
)

// kafkaBackoff returns the retry backoff of Kafka's clients (KIP-580):
// initial after the first failure, doubling with each failure in a row up
// to max, each with up to 20% of jitter either way. It is a
// kgo.RetryBackoffFn (fails counts from 1).
func kafkaBackoff(initial, max time.Duration) func(fails int) time.Duration {
	if max < initial {
		max = initial
	}
	return func(fails int) time.Duration {
		d := initial
		for i := 1; i < fails && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
}
