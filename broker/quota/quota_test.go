package quota

import (
	"errors"
	"math"
	"testing"
	"time"
)

func u(n string) Part  { return named(EntityUser, n) }
func c(n string) Part  { return named(EntityClientID, n) }
func ip(n string) Part { return named(EntityIP, n) }

func mustEntity(t *testing.T, parts ...Part) Entity {
	t.Helper()
	e, err := NewEntity(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestResolvePrecedence walks Kafka's eight levels: each case removes the
// most specific level left and checks the next one wins, with its group.
func TestResolvePrecedence(t *testing.T) {
	levels := []struct {
		entity []Part
		group  Group
	}{
		{[]Part{u("alice"), c("app")}, Group{User: "alice", ClientID: "app"}},
		{[]Part{u("alice"), dflt(EntityClientID)}, Group{User: "alice", ClientID: "app"}},
		{[]Part{u("alice")}, Group{User: "alice"}},
		{[]Part{dflt(EntityUser), c("app")}, Group{User: "alice", ClientID: "app"}},
		{[]Part{dflt(EntityUser), dflt(EntityClientID)}, Group{User: "alice", ClientID: "app"}},
		{[]Part{dflt(EntityUser)}, Group{User: "alice"}},
		{[]Part{c("app")}, Group{ClientID: "app"}},
		{[]Part{dflt(EntityClientID)}, Group{ClientID: "app"}},
	}
	for first := range levels {
		var configs []Config
		for i := first; i < len(levels); i++ {
			configs = append(configs, Config{Entity: mustEntity(t, levels[i].entity...), Values: map[string]float64{ProducerByteRate: float64(100 + i)}})
		}
		// Unrelated entities never match.
		configs = append(configs,
			Config{Entity: mustEntity(t, u("bob")), Values: map[string]float64{ProducerByteRate: 1}},
			Config{Entity: mustEntity(t, c("other")), Values: map[string]float64{ProducerByteRate: 2}},
			Config{Entity: mustEntity(t, u("alice"), c("other")), Values: map[string]float64{ProducerByteRate: 3}})
		s := NewSet(configs)
		got, ok := s.Resolve(ProducerByteRate, "alice", "app")
		if !ok || got.Value != float64(100+first) || got.Group != levels[first].group {
			t.Errorf("level %d: got %+v %v, want value %d group %+v", first+1, got, ok, 100+first, levels[first].group)
		}
	}
}

func TestResolvePerKeyAndMissing(t *testing.T) {
	s := NewSet([]Config{
		{Entity: mustEntity(t, u("alice")), Values: map[string]float64{ProducerByteRate: 10}},
		{Entity: mustEntity(t, dflt(EntityClientID)), Values: map[string]float64{ConsumerByteRate: 20}},
		{Entity: mustEntity(t, ip("10.0.0.1")), Values: map[string]float64{ConnectionCreationRate: 5}},
		{Entity: mustEntity(t, dflt(EntityIP)), Values: map[string]float64{ConnectionCreationRate: 50}},
	})
	if r, ok := s.Resolve(ProducerByteRate, "alice", "x"); !ok || r.Value != 10 {
		t.Errorf("producer: %+v %v", r, ok)
	}
	if r, ok := s.Resolve(ConsumerByteRate, "alice", "x"); !ok || r.Value != 20 || r.Group != (Group{ClientID: "x"}) {
		t.Errorf("consumer from the default client: %+v %v", r, ok)
	}
	if _, ok := s.Resolve(ProducerByteRate, "bob", "x"); ok {
		t.Error("bob has no producer quota")
	}
	if _, ok := s.Resolve(RequestPercentage, "alice", "x"); ok || s.Has(RequestPercentage) {
		t.Error("no request quota is set")
	}
	if v, ok := s.ResolveIP("10.0.0.1"); !ok || v != 5 {
		t.Errorf("ip: %v %v", v, ok)
	}
	if v, ok := s.ResolveIP("10.0.0.2"); !ok || v != 50 {
		t.Errorf("default ip: %v %v", v, ok)
	}
}

func TestEntityAndValueValidation(t *testing.T) {
	bad := [][]Part{
		nil,
		{{Type: "group", Name: "x"}},
		{u("a"), u("b")},
		{ip("1.2.3.4"), u("a")},
		{ip("not-an-ip")},
	}
	for _, parts := range bad {
		if _, err := NewEntity(parts...); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: err %v", parts, err)
		}
	}
	user := mustEntity(t, u("a"))
	addr := mustEntity(t, dflt(EntityIP))
	cases := []struct {
		e     Entity
		key   string
		value float64
		ok    bool
	}{
		{user, ProducerByteRate, 1024, true},
		{user, ProducerByteRate, 10.5, false},
		{user, ProducerByteRate, 0, false},
		{user, ConsumerByteRate, -1, false},
		{user, RequestPercentage, 12.5, true},
		{user, ControllerMutationRate, 0.5, true},
		{user, ConnectionCreationRate, 10, false},
		{addr, ConnectionCreationRate, 10, true},
		{addr, ConnectionCreationRate, 1.5, false},
		{addr, ProducerByteRate, 10, false},
		{user, "producer_bytes_rate", 10, false},
		{user, RequestPercentage, math.NaN(), false},
	}
	for _, tc := range cases {
		err := ValidateValue(tc.e, tc.key, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%v %s=%v: err %v", tc.e, tc.key, tc.value, err)
		}
	}
}

// TestRateMath checks Kafka's rate arithmetic: the span is at least
// Samples-1 windows, samples expire after Samples windows, and the
// throttle brings the rate back to the bound.
func TestRateMath(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	r := NewRate(DefaultWindow, t0)
	r.Record(1000, t0)
	if got := r.Measure(t0); got != 100 { // 1000 bytes over the minimum 10 s
		t.Fatalf("rate %v, want 100", got)
	}
	if d := r.Throttle(100, t0); d != 0 {
		t.Fatalf("at the bound: throttle %v", d)
	}
	r.Record(500, at(500*time.Millisecond)) // 1500 / 10 s = 150 > 100
	want := time.Duration((150.0 - 100) / 100 * 10000 * float64(time.Millisecond))
	if d := r.Throttle(100, at(500*time.Millisecond)); d != want {
		t.Fatalf("throttle %v, want %v", d, want)
	}
	// Past Samples-1 windows the span grows with the time elapsed.
	if got := r.Measure(at(10500 * time.Millisecond)); math.Abs(got-1500/10.5) > 1e-9 {
		t.Fatalf("rate over 10.5 s: %v", got)
	}
	// Past all 11 windows every sample is forgotten.
	if got := r.Measure(at(12 * time.Second)); got != 0 {
		t.Fatalf("after expiry: rate %v", got)
	}
	// A steady client: 100 per second for 30 s measures 100.
	s := NewRate(DefaultWindow, t0)
	for i := 0; i <= 30*10; i++ {
		s.Record(10, at(time.Duration(i)*100*time.Millisecond))
	}
	if got := s.Measure(at(30 * time.Second)); math.Abs(got-100) > 10 {
		t.Fatalf("steady rate %v, want about 100", got)
	}
}

// TestThrottledClientConverges simulates a client that sends as fast as
// it may, waiting out each throttle: over 10 s it sends about the quota.
func TestThrottledClientConverges(t *testing.T) {
	t0 := time.Unix(0, 0)
	const quota = 1000.0
	s := NewSensors(DefaultWindow)
	g := Group{User: "alice"}
	now := t0
	var sent float64
	for now.Sub(t0) < 10*time.Second {
		sent += 100
		d := s.Record(ProducerByteRate, g, 100, quota, now)
		now = now.Add(time.Millisecond + d)
	}
	rate := sent / now.Sub(t0).Seconds()
	if rate > 1.2*quota || rate < 0.8*quota {
		t.Fatalf("rate %v over %v, want about %v", rate, now.Sub(t0), quota)
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := NewSensors(DefaultWindow)
	g := Group{User: "alice"}
	// Quota 1/s: a full bucket holds 11 tokens.
	if _, over := s.MutationExceeded(g, 1, t0); over {
		t.Fatal("a fresh bucket is exceeded")
	}
	if d := s.Mutate(g, 11, 1, t0); d != 0 {
		t.Fatalf("11 mutations from a full bucket: throttle %v", d)
	}
	if _, over := s.MutationExceeded(g, 1, t0); over {
		t.Fatal("a bucket at zero tokens is exceeded; only a negative one is")
	}
	if d := s.Mutate(g, 5, 1, t0); d != 5*time.Second {
		t.Fatalf("5 past empty: throttle %v, want 5s", d)
	}
	if d, over := s.MutationExceeded(g, 1, t0.Add(2*time.Second)); !over || d != 3*time.Second {
		t.Fatalf("2 s later: %v %v, want exceeded for 3s", d, over)
	}
	if _, over := s.MutationExceeded(g, 1, t0.Add(5*time.Second)); over {
		t.Fatal("refilled bucket still exceeded")
	}
}
