package streams

import (
	"math/rand/v2"
	"time"
)

// Kafka's client defaults for retry.backoff.ms and retry.backoff.max.ms.
const (
	retryBackoff    = 100 * time.Millisecond
	retryBackoffMax = time.Second
)

// kafkaBackoff is the retry backoff of Kafka's clients (KIP-580), which the
// App's group client uses instead of kgo's longer default (up to 5 s): when
// the broker coordinating the group dies, the member must reach the new
// coordinator within its session, or it loses its tasks and restores them
// from the changelogs. retryBackoff after the first failure, doubling up to
// retryBackoffMax, each with up to 20% of jitter either way; fails counts
// from 1 (a kgo.RetryBackoffFn). Config.ClientOptions may replace it.
func kafkaBackoff(fails int) time.Duration {
	d := retryBackoff
	for i := 1; i < fails && d < retryBackoffMax; i++ {
		d *= 2
	}
	d = min(d, retryBackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
