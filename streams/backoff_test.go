package streams

import (
	"testing"
	"time"
)

// The App's client backs off as Kafka's clients do: 100 ms doubling up to
// 1 s, ±20%.
func TestKafkaBackoff(t *testing.T) {
	for fails, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 100: time.Second} {
		for range 20 {
			if got := kafkaBackoff(fails); got < want*8/10 || got > want*12/10 {
				t.Fatalf("after %d failures: %v, want %v ±20%%", fails, got, want)
			}
		}
	}
}
