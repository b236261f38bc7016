package streams

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// murmur2 is the hash of Kafka's default partitioner (the Java client's
// Utils.murmur2), so that keyed records land where Java producers would put them.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := n &^ 3
	switch n & 3 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// partitionFor returns the partition Kafka's default partitioner picks for key among n.
func partitionFor(key []byte, n int) int {
	return int((murmur2(key) & 0x7fffffff) % uint32(n))
}

// recordPartitioner keeps the partition of records that set one (changelogs, custom
// partitioners) and hashes the key of records whose partition is -1 (sinks); records
// with a null key go round-robin.
func recordPartitioner() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		var rr atomic.Uint32
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Partition >= 0:
				return int(r.Partition)
			case r.Key == nil:
				return int(rr.Add(1) % uint32(n))
			default:
				return partitionFor(r.Key, n)
			}
		}
	})
}
