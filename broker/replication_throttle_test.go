package broker

import (
	"math"
	"testing"
	"time"

	"github.com/gregorhq/gregor/broker/meta"
)

// TestReplicationQuota: the bucket holds one second of traffic, goes into
// debt rather than cutting a fetch short, and refills at the rate.
func TestReplicationQuota(t *testing.T) {
	var q replicationQuota
	t0 := time.Unix(1000, 0)
	const rate = 1000
	if q.exceeded(rate, t0) {
		t.Fatal("a fresh quota is exceeded")
	}
	if got := q.available(rate, t0); got != rate {
		t.Fatalf("available %d, want %d", got, rate)
	}
	q.record(rate, 1500, t0) // 500 in debt
	if !q.exceeded(rate, t0) || q.available(rate, t0) != 1 {
		t.Fatal("not exceeded after spending more than the bucket")
	}
	if q.exceeded(rate, t0.Add(400*time.Millisecond)) != true {
		t.Fatal("debt repaid too early")
	}
	if q.exceeded(rate, t0.Add(600*time.Millisecond)) {
		t.Fatal("debt not repaid after 0.6s at 1000 B/s")
	}
	if got := q.available(rate, t0.Add(time.Hour)); got != rate {
		t.Fatalf("bucket refilled beyond one second: %d", got)
	}
	// No limit: never exceeded, everything available; bytes still counted.
	var free replicationQuota
	free.record(math.MaxInt64, 1<<30, t0)
	if free.exceeded(math.MaxInt64, t0) || free.available(math.MaxInt64, t0) != math.MaxInt64 || free.bytes.Load() != 1<<30 {
		t.Fatal("an unlimited quota limits")
	}
}

func TestParseThrottledReplicas(t *testing.T) {
	cases := []struct {
		in     string
		ok     bool
		has    [][2]int32
		hasNot [][2]int32
	}{
		{"", true, nil, [][2]int32{{0, 1}}},
		{"*", true, [][2]int32{{0, 1}, {7, 9}}, nil},
		{"0:1, 0:2,3:4", true, [][2]int32{{0, 1}, {0, 2}, {3, 4}}, [][2]int32{{3, 1}, {1, 1}}},
		{"0-1", false, nil, nil},
		{"a:1", false, nil, nil},
		{"0:1,", false, nil, nil},
		{"-1:2", false, nil, nil},
	}
	for _, c := range cases {
		got, err := meta.ParseThrottledReplicas(c.in)
		if (err == nil) != c.ok {
			t.Fatalf("%q: err %v", c.in, err)
		}
		for _, h := range c.has {
			if !got.Has(h[0], h[1]) {
				t.Errorf("%q: %d:%d not throttled", c.in, h[0], h[1])
			}
		}
		for _, h := range c.hasNot {
			if got.Has(h[0], h[1]) {
				t.Errorf("%q: %d:%d throttled", c.in, h[0], h[1])
			}
		}
		if err := meta.ValidateTopicConfig("leader.replication.throttled.replicas", &c.in); (err == nil) != c.ok {
			t.Errorf("validate %q: %v", c.in, err)
		}
	}
}
