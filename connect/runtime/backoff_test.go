package runtime

import (
	"testing"
	"time"
)

// The worker's group client backs off as Kafka's clients do: from
// retry.backoff.ms, doubling, capped at retry.backoff.max.ms, ±20%.
func TestKafkaBackoff(t *testing.T) {
	b := kafkaBackoff(100*time.Millisecond, time.Second)
	for _, c := range []struct {
		fails int
		want  time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {3, 400 * time.Millisecond}, {4, 800 * time.Millisecond},
		{5, time.Second}, {30, time.Second}, {1000, time.Second}} {
		for range 20 {
			if got := b(c.fails); got < c.want*8/10 || got > c.want*12/10 {
				t.Fatalf("after %d failures: %v, want %v ±20%%", c.fails, got, c.want)
			}
		}
	}
	if got := kafkaBackoff(time.Second, 0)(3); got < 800*time.Millisecond || got > 1200*time.Millisecond {
		t.Fatalf("max below initial: %v, want initial ±20%%", got)
	}
}

// Task clients take retry.backoff.ms and retry.backoff.max.ms from their
// producer.* and consumer.* properties and reject bad values.
func TestClientOptsRetryBackoff(t *testing.T) {
	for _, c := range []struct {
		props map[string]string
		ok    bool
	}{
		{map[string]string{}, true},
		{map[string]string{"retry.backoff.ms": "50", "retry.backoff.max.ms": "500"}, true},
		{map[string]string{"retry.backoff.ms": "-1"}, false},
		{map[string]string{"retry.backoff.max.ms": "soon"}, false},
	} {
		opts, err := clientOpts(WorkerConfig{BootstrapServers: []string{"127.0.0.1:9092"}}, "c", c.props)
		if (err == nil) != c.ok {
			t.Fatalf("%v: err %v, want ok %v", c.props, err, c.ok)
		}
		if err == nil && len(opts) != 3 {
			t.Fatalf("%v: %d options, want seeds, client id and backoff", c.props, len(opts))
		}
	}
}
