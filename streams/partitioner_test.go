package streams

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Keyed records land on the partition Kafka's default partitioner (murmur2, as in
// franz-go's StickyKeyPartitioner) picks.
func TestPartitionForMatchesKafka(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := []byte(fmt.Sprintf("key-%d-%s", i, string(make([]byte, i%7))))
		r := &kgo.Record{Key: key}
		for _, n := range []int{1, 3, 4, 12} {
			if got, want := partitionFor(key, n), ref.Partition(r, n); got != want {
				t.Fatalf("key %q over %d partitions: %d, want %d", key, n, got, want)
			}
		}
	}
}
