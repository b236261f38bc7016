package meta

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// ThrottledReplicas is the value of a topic's
// leader.replication.throttled.replicas or
// follower.replication.throttled.replicas: the replicas whose replication
// traffic counts against the broker's throttled rate, as
// "partition:broker,..." pairs, or "*" for every replica of the topic.
type ThrottledReplicas struct {
	All      bool
	Replicas map[int32][]int32 // partition -> brokers
}

// errThrottledFormat is the format error Kafka's validator gives.
var errThrottledFormat = errors.New("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId] and so on")

// ParseThrottledReplicas parses a throttled replicas list ("" is none).
func ParseThrottledReplicas(v string) (ThrottledReplicas, error) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return ThrottledReplicas{All: true}, nil
	}
	out := ThrottledReplicas{Replicas: map[int32][]int32{}}
	if v == "" {
		return out, nil
	}
	for _, e := range strings.Split(v, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(e), ":")
		p, perr := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, berr := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if !ok || perr != nil || berr != nil || p < 0 || b < 0 {
			return ThrottledReplicas{}, errThrottledFormat
		}
		out.Replicas[int32(p)] = append(out.Replicas[int32(p)], int32(b))
	}
	return out, nil
}

// Has reports whether broker's replica of partition is throttled.
func (t ThrottledReplicas) Has(partition, broker int32) bool {
	return t.All || slices.Contains(t.Replicas[partition], broker)
}
