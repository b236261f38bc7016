package main

import (
	"slices"
	"testing"
)

func planOf(topic string, replicas ...[]int32) reassignmentPlan {
	p := reassignmentPlan{Version: 1}
	for i, r := range replicas {
		p.Partitions = append(p.Partitions, plannedPartition{Topic: topic, Partition: int32(i), Replicas: r})
	}
	return p
}

func noRacks(ids ...int32) map[int32]string {
	out := map[int32]string{}
	for _, id := range ids {
		out[id] = ""
	}
	return out
}

// planStats counts, over a plan, each broker's replicas and preferred
// leaderships, and the replicas that moved from cur.
func planStats(t *testing.T, cur, got reassignmentPlan) (load, leaders map[int32]int, moved int) {
	t.Helper()
	load, leaders = map[int32]int{}, map[int32]int{}
	for i, pp := range got.Partitions {
		c := cur.Partitions[i]
		if pp.Topic != c.Topic || pp.Partition != c.Partition || len(pp.Replicas) != len(c.Replicas) {
			t.Fatalf("partition %d: %+v for %+v", i, pp, c)
		}
		for j, r := range pp.Replicas {
			if slices.Contains(pp.Replicas[:j], r) {
				t.Fatalf("partition %d names %d twice: %v", i, r, pp.Replicas)
			}
			load[r]++
			if !slices.Contains(c.Replicas, r) {
				moved++
			}
		}
		leaders[pp.Replicas[0]]++
	}
	return load, leaders, moved
}

func spread(m map[int32]int, ids ...int32) int {
	lo, hi := -1, 0
	for _, id := range ids {
		if lo < 0 || m[id] < lo {
			lo = m[id]
		}
		hi = max(hi, m[id])
	}
	return hi - lo
}

func TestGeneratePlan(t *testing.T) {
	cases := []struct {
		name      string
		cur       reassignmentPlan
		brokers   map[int32]string
		maxMoved  int
		maxSpread int // of leaders
		check     func(t *testing.T, got reassignmentPlan)
	}{
		{name: "grow 3 to 4 brokers", cur: planOf("t", []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}),
			brokers: noRacks(1, 2, 3, 4), maxMoved: 2, maxSpread: 1},
		{name: "rf2 onto a third broker", cur: planOf("t", []int32{1, 2}, []int32{2, 1}, []int32{1, 2}, []int32{2, 1}, []int32{1, 2}, []int32{2, 1}),
			brokers: noRacks(1, 2, 3), maxMoved: 4, maxSpread: 0},
		{name: "balanced stays put", cur: planOf("t", []int32{1, 2}, []int32{2, 3}, []int32{3, 1}),
			brokers: noRacks(1, 2, 3), maxMoved: 0, maxSpread: 0, check: func(t *testing.T, got reassignmentPlan) {
				if !slices.Equal(got.Partitions[1].Replicas, []int32{2, 3}) {
					t.Fatalf("reordered: %+v", got)
				}
			}},
		{name: "decommission broker 3", cur: planOf("t", []int32{1, 3}, []int32{3, 2}, []int32{2, 1}),
			brokers: noRacks(1, 2), maxMoved: 2, maxSpread: 1, check: func(t *testing.T, got reassignmentPlan) {
				for _, pp := range got.Partitions {
					if slices.Contains(pp.Replicas, 3) {
						t.Fatalf("replica left on broker 3: %+v", got)
					}
				}
			}},
		{name: "rack aware", cur: planOf("t", []int32{1, 2}, []int32{1, 2}),
			brokers: map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}, maxMoved: 2, maxSpread: 1, check: func(t *testing.T, got reassignmentPlan) {
				racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
				for _, pp := range got.Partitions {
					if racks[pp.Replicas[0]] == racks[pp.Replicas[1]] {
						t.Fatalf("partition %d on one rack: %v", pp.Partition, pp.Replicas)
					}
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := generatePlan(c.cur, c.brokers)
			if err != nil {
				t.Fatal(err)
			}
			load, leaders, moved := planStats(t, c.cur, got)
			var ids []int32
			for id := range c.brokers {
				ids = append(ids, id)
			}
			if s := spread(load, ids...); s > 1 {
				t.Errorf("replicas per broker %v", load)
			}
			if s := spread(leaders, ids...); s > c.maxSpread {
				t.Errorf("leaders per broker %v", leaders)
			}
			if moved > c.maxMoved {
				t.Errorf("%d replicas moved, want at most %d: %+v", moved, c.maxMoved, got)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
	if _, err := generatePlan(planOf("t", []int32{1, 2, 3}), noRacks(1, 2)); err == nil {
		t.Error("rf 3 over 2 brokers planned")
	}
}

func TestParsePlan(t *testing.T) {
	good := `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}`
	if p, err := parsePlan([]byte(good)); err != nil || len(p.Partitions) != 1 {
		t.Fatalf("parse: %+v %v", p, err)
	}
	for _, bad := range []string{
		`{`,
		`{"version":1,"partitions":[]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`,
	} {
		if _, err := parsePlan([]byte(bad)); err == nil {
			t.Errorf("parsed %s", bad)
		}
	}
}
