package streams_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
)

func sessionTopology(t *testing.T, w streams.SessionWindows, emit streams.EmitStrategy, agg func(streams.SessionWindowedStream[string, string]) streams.Table[streams.Windowed[string], string]) *streams.Topology {
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	agg(streams.SessionWindowedBy(g, w).Emit(emit)).ToStream().To("out")
	return mustBuild(t, b)
}

func sessionCount(t *testing.T, w streams.SessionWindows, emit streams.EmitStrategy, opts ...streams.Option) *streams.Topology {
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.SessionWindowedBy(g, w).Emit(emit).Count(opts...).ToStream().To("out")
	return mustBuild(t, b)
}

func TestSessionWindowsCount(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		w    streams.SessionWindows
		emit streams.EmitStrategy
		windowedCase
	}{
		{streams.SessionWindowsOfInactivityGapAndGrace(10*ms, 20*ms), streams.OnWindowUpdate, windowedCase{
			name: "sessions grow, merge when a record bridges them, late record dropped",
			// 0: [0,0]. 5: within the gap, [0,0] becomes [0,5]. 30: a new session.
			// 20 (out of order): joins [30,30] into [20,30]. 12: bridges [0,5] and
			// [20,30] into [0,30]. b is sessionized apart. 60: a new session; stream
			// time 60 minus grace 20 closes [0,30], so 1 (which would join it) is dropped.
			inputs: []at{rec("a", 0), rec("a", 5), rec("a", 30), rec("a", 20), rec("a", 12), rec("b", 12), rec("a", 60), rec("a", 1)},
			want: []string{
				"a@0/0=1 t0",
				"a@0/0=<nil> t0", "a@0/5=2 t5",
				"a@30/30=1 t30",
				"a@30/30=<nil> t30", "a@20/30=2 t30",
				"a@0/5=<nil> t5", "a@20/30=<nil> t30", "a@0/30=5 t30",
				"b@12/12=1 t12",
				"a@60/60=1 t60",
			},
			dropped: 1,
		}},
		{streams.SessionWindowsOfInactivityGapWithNoGrace(10 * ms), streams.OnWindowUpdate, windowedCase{
			name:   "gap is inclusive: records exactly gap apart share a session",
			inputs: []at{rec("a", 100), rec("a", 110), rec("a", 121)},
			want:   []string{"a@100/100=1 t100", "a@100/100=<nil> t100", "a@100/110=2 t110", "a@121/121=1 t121"},
		}},
		{streams.SessionWindowsOfInactivityGapWithNoGrace(10 * ms), streams.OnWindowClose, windowedCase{
			name: "emit on close: each final session once, merged ones never",
			// Stream time 30 closes [0,5] and [7,7]; [30,30] grows to [30,36], which
			// closes at 50.
			inputs: []at{rec("a", 0), rec("a", 5), rec("b", 7), rec("a", 30), rec("a", 36), rec("a", 50)},
			want:   []string{"a@0/5=2 t5", "b@7/7=1 t7", "a@30/36=2 t36"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := streams.SessionWindowedSerde(streams.String())
			runWindowed(t, sessionCount(t, tc.w, tc.emit), ks, streams.Int64(), tc.windowedCase)
			runWindowed(t, sessionCount(t, tc.w, tc.emit, streams.WithCachingDisabled(), streams.InMemory()), ks, streams.Int64(), tc.windowedCase)
		})
	}
}

func TestSessionReduceAndAggregate(t *testing.T) {
	w := streams.SessionWindowsOfInactivityGapWithNoGrace(10 * time.Millisecond)
	ks := streams.SessionWindowedSerde(streams.String())
	// z at 10 bridges the sessions of x (0) and y (20).
	inputs := []at{{"a", "x", 0}, {"a", "y", 20}, {"a", "z", 10}}
	reduce := sessionTopology(t, w, streams.OnWindowUpdate, func(s streams.SessionWindowedStream[string, string]) streams.Table[streams.Windowed[string], string] {
		return s.Reduce(func(agg, v string) string { return agg + "+" + v })
	})
	runWindowed(t, reduce, ks, streams.String(), windowedCase{inputs: inputs, want: []string{
		"a@0/0=x t0", "a@20/20=y t20", "a@0/0=<nil> t0", "a@20/20=<nil> t20", "a@0/20=x+y+z t20",
	}})
	// Aggregate merges the sessions into the initial aggregate first, as Kafka Streams
	// does: init, merge x, merge y, then add z.
	aggregate := sessionTopology(t, w, streams.OnWindowUpdate, func(s streams.SessionWindowedStream[string, string]) streams.Table[streams.Windowed[string], string] {
		return streams.SessionAggregate(s, func() string { return "" },
			func(_, v, agg string) string { return agg + v },
			func(_, a, b string) string { return a + "|" + b }, nil)
	})
	runWindowed(t, aggregate, ks, streams.String(), windowedCase{inputs: inputs, want: []string{
		"a@0/0=x t0", "a@20/20=y t20", "a@0/0=<nil> t0", "a@20/20=<nil> t20", "a@0/20=|x|yz t20",
	}})
}

func TestSessionBuildErrors(t *testing.T) {
	for i, w := range []streams.SessionWindows{
		streams.SessionWindowsOfInactivityGapWithNoGrace(0),
		streams.SessionWindowsOfInactivityGapAndGrace(time.Second, -time.Second),
	} {
		b := streams.NewBuilder()
		g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
		streams.SessionWindowedBy(g, w).Count()
		if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
			t.Errorf("windows %d: Build err = %v, want ErrTopology", i, err)
		}
	}
}
