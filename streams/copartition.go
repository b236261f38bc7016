package streams

import (
	"fmt"
	"maps"
	"strings"
)

// Co-partitioning. The source topics of a sub-topology are read by the same tasks, one
// per partition, so records with the same key must sit in the same partition of each:
// a join or a cogroup needs its inputs co-partitioned (Kafka Streams'
// CopartitionedTopicsEnforcer). User topics must already have the same partition count;
// internal topics (repartition and foreign-key subscription topics) get the count of the
// user topics they are read with, else of the internal topics with a configured count
// (WithPartitions), else the largest count any of them would get from the sub-topologies
// writing them.

// checkFixedCopartitioning fails the build when internal topics read by one
// sub-topology were given different partition counts with WithPartitions.
func checkFixedCopartitioning(t *Topology) error {
	for _, sub := range t.subs {
		var fixed []topicCount
		for _, tr := range sub.topics {
			if n := t.repartitions[tr.name]; tr.internal && n > 0 {
				fixed = append(fixed, topicCount{tr.name, n})
			}
		}
		if err := sameCount(sub.id, fixed); err != nil {
			return err
		}
	}
	return nil
}

type topicCount struct {
	topic string
	n     int32
}

// sameCount reports ErrNotCopartitioned unless every topic has the same count.
func sameCount(sub int, list []topicCount) error {
	for _, tc := range list[min(1, len(list)):] {
		if tc.n != list[0].n {
			parts := make([]string, len(list))
			for i, tc := range list {
				parts[i] = fmt.Sprintf("%s (%d partitions)", tc.topic, tc.n)
			}
			return fmt.Errorf("%w: [%s] are read together by sub-topology %d (joined, cogrouped or merged) and need the same partition count",
				ErrNotCopartitioned, strings.Join(parts, ", "), sub)
		}
	}
	return nil
}

// partitionCounts works out the partition count of every internal topic (by resolved
// name) and the task count of every sub-topology, given the partition counts of the
// user topics the topology reads.
func (t *Topology) partitionCounts(app string, user map[string]int32) (map[string]int32, map[int]int32, error) {
	counts := maps.Clone(user)
	producers := map[string][]*subtopology{}
	for _, sub := range t.subs {
		for _, tr := range sub.sinks {
			if tr.internal {
				producers[tr.name] = append(producers[tr.name], sub)
			}
		}
	}
	anchors, err := t.anchors(app, user, counts)
	if err != nil {
		return nil, nil, err
	}
	// What the writers of an internal topic would give it: their largest source.
	fromProducers := func(name string) (int32, bool) {
		var n int32
		for _, p := range producers[name] {
			for _, tr := range p.topics {
				c, ok := counts[resolve(app, tr)]
				if !ok {
					return 0, false
				}
				n = max(n, c)
			}
		}
		return n, n > 0
	}
	for changed := true; changed; {
		changed = false
		for _, sub := range t.subs {
			anchor, ok := anchors[sub.id]
			if !ok {
				for _, tr := range sub.topics {
					c, known := counts[resolve(app, tr)]
					if !known {
						c, known = fromProducers(tr.name)
					}
					if !known {
						anchor = 0
						break
					}
					anchor = max(anchor, c)
				}
				if anchor == 0 {
					continue
				}
			}
			for _, tr := range sub.topics {
				full := resolve(app, tr)
				if c, set := counts[full]; !set || (tr.internal && t.repartitions[tr.name] == 0 && c != anchor) {
					counts[full] = anchor
					changed = true
				}
			}
		}
	}
	tasks := map[int]int32{}
	for _, sub := range t.subs {
		var n int32
		for _, tr := range sub.topics {
			c, ok := counts[resolve(app, tr)]
			if !ok {
				return nil, nil, fmt.Errorf("%w: cannot work out the partitions of %q", ErrTopology, resolve(app, tr))
			}
			n = max(n, c)
		}
		tasks[sub.id] = n
	}
	return counts, tasks, nil
}

// anchors returns each sub-topology's anchor: the partition count its user
// topics (else its configured internal topics) impose on the others. It
// records the configured internal topics' counts in counts, and fails when
// a sub-topology's topics disagree or a source topic's count is unknown.
func (t *Topology) anchors(app string, user, counts map[string]int32) (map[int]int32, error) {
	anchors := map[int]int32{}
	for _, sub := range t.subs {
		var users, fixed []topicCount
		for _, tr := range sub.topics {
			full := resolve(app, tr)
			switch n := t.repartitions[tr.name]; {
			case !tr.internal:
				c, ok := user[tr.name]
				if !ok {
					return nil, fmt.Errorf("%w: no partition count for source topic %q", ErrTopology, tr.name)
				}
				users = append(users, topicCount{full, c})
			case n > 0:
				counts[full] = n
				fixed = append(fixed, topicCount{full, n})
			}
		}
		if err := sameCount(sub.id, users); err != nil {
			return nil, err
		}
		if err := sameCount(sub.id, fixed); err != nil {
			return nil, err
		}
		switch {
		case len(users) > 0 && len(fixed) > 0 && users[0].n != fixed[0].n:
			return nil, sameCount(sub.id, append(users, fixed...))
		case len(users) > 0:
			anchors[sub.id] = users[0].n
		case len(fixed) > 0:
			anchors[sub.id] = fixed[0].n
		}
	}
	return anchors, nil
}
