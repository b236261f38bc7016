package meta

import (
	"fmt"
	"slices"
	"sort"
)

// ErrReplicationFactor is returned by Place when there are fewer live
// brokers than the replication factor asks for.
var ErrReplicationFactor = fmt.Errorf("meta: replication factor above the live brokers")

// Place assigns replicas to count partitions starting at partition index
// first, over the live brokers, as Kafka's controller does: round-robin
// from a start position (start, chosen at random by the caller), each
// partition's followers shifted so replicas spread evenly; with racks on
// every broker, brokers are interleaved rack by rack so a partition's
// replicas land on different racks where there are enough of them.
func Place(live []BrokerRegistration, count int32, first int32, rf int16, start int) ([][]int32, error) {
	n := len(live)
	if rf < 1 || int(rf) > n {
		return nil, fmt.Errorf("%w: %d replicas asked, %d broker(s) live", ErrReplicationFactor, rf, n)
	}
	ids := rackAlternated(live)
	rackOf := map[int32]string{}
	racks := map[string]bool{}
	for _, b := range live {
		rackOf[b.ID] = b.Rack
		racks[b.Rack] = true
	}
	if start < 0 {
		start = -start
	}
	start %= n
	shift := 0
	if n > 1 {
		shift = start % (n - 1)
	}
	out := make([][]int32, count)
	for i := int32(0); i < count; i++ {
		p := int(first + i)
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{ids[first]}
		usedRacks := map[string]bool{rackOf[ids[first]]: true}
		for j := 1; j < int(rf); j++ {
			k := (first + 1 + (shift+j-1)%(n-1)) % n
			// Walk on from Kafka's position to a broker not yet used, on a
			// rack not yet used while some rack is still unused.
			for step := 0; step < n; step++ {
				id := ids[(k+step)%n]
				if slices.Contains(replicas, id) {
					continue
				}
				if len(usedRacks) < len(racks) && usedRacks[rackOf[id]] {
					continue
				}
				k = (k + step) % n
				break
			}
			replicas = append(replicas, ids[k])
			usedRacks[rackOf[ids[k]]] = true
		}
		out[i] = replicas
	}
	return out, nil
}

// rackAlternated orders broker IDs so racks alternate (a, b, c, a, b, c),
// or by ID when any broker has no rack.
func rackAlternated(live []BrokerRegistration) []int32 {
	ids := make([]int32, 0, len(live))
	byRack := map[string][]int32{}
	var racks []string
	for _, b := range live {
		ids = append(ids, b.ID)
		if b.Rack == "" {
			byRack = nil
		}
		if byRack != nil {
			if _, ok := byRack[b.Rack]; !ok {
				racks = append(racks, b.Rack)
			}
			byRack[b.Rack] = append(byRack[b.Rack], b.ID)
		}
	}
	slices.Sort(ids)
	if byRack == nil || len(racks) < 2 {
		return ids
	}
	sort.Strings(racks)
	for _, r := range racks {
		slices.Sort(byRack[r])
	}
	out := ids[:0]
	for i := 0; len(out) < len(live); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}
