package streams_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

const ms = time.Millisecond

// windowedCountSuppressed counts "in" in tumbling windows of 10ms with grace and
// suppresses the counts as s says.
func windowedCountSuppressed(t *testing.T, grace time.Duration, s streams.Suppressed) *streams.Topology {
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.WindowedBy(g, streams.TimeWindowsOfSizeAndGrace(10*ms, grace)).Count().
		Suppress(s, streams.Named("final")).ToStream().To("out")
	return mustBuild(t, b)
}

func TestSuppressUntilWindowCloses(t *testing.T) {
	ks := streams.TimeWindowedSerde(streams.String(), 10)
	runWindowed(t, windowedCountSuppressed(t, 5*ms, streams.UntilWindowCloses(streams.BufferUnbounded())), ks, streams.Int64(), windowedCase{
		// Stream time 15 closes [0,10) (end 10 + grace 5): its final counts come out
		// then, ordered by window end, then key; a@6 arrived in time, a@2 too late
		// (dropped upstream). Stream time 30 closes [10,20).
		inputs:  []at{rec("a", 1), rec("a", 3), rec("b", 4), rec("a", 12), rec("a", 6), rec("b", 15), rec("a", 2), rec("a", 30)},
		want:    []string{"a@0/10=3 t6", "b@0/10=1 t4", "a@10/20=1 t12", "b@10/20=1 t15"},
		dropped: 1,
	})
}

func TestSuppressSessions(t *testing.T) {
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.SessionWindowedBy(g, streams.SessionWindowsOfInactivityGapWithNoGrace(10*ms)).Count().
		Suppress(streams.UntilWindowCloses(streams.BufferUnbounded())).ToStream().To("out")
	// A session closes when stream time passes its end plus the gap: [0,5] at 15, [20,20]
	// at 30. The session [0,0], replaced by [0,5], is never emitted.
	runWindowed(t, mustBuild(t, b), streams.SessionWindowedSerde(streams.String()), streams.Int64(), windowedCase{
		inputs: []at{rec("a", 0), rec("a", 5), rec("b", 20), rec("a", 40)},
		want:   []string{"a@0/5=2 t5", "b@20/20=1 t20"},
	})
}

// countSuppressed counts "in" per key (a key-value table) and suppresses with s.
func countSuppressed(t *testing.T, s streams.Suppressed) *streams.Topology {
	b := streams.NewBuilder()
	streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey().Count().Suppress(s).ToStream().To("out")
	return mustBuild(t, b)
}

func TestSuppressUntilTimeLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      streams.Suppressed
		inputs []at
		want   []string
	}{
		{"rate limit: latest value once the first update is 10ms old",
			streams.UntilTimeLimit(10*ms, streams.BufferUnbounded()),
			// a was first buffered at 0: emitted at stream time 10 with its latest
			// count; b, first buffered at 5, at 20 (its update at 12 does not restart
			// the clock).
			[]at{rec("a", 0), rec("a", 3), rec("b", 5), rec("a", 9), rec("a", 10), rec("b", 12), rec("c", 20)},
			[]string{"a=4 t10", "b=2 t12"}},
		{"max records, emit early: the oldest key goes when a new one does not fit",
			streams.UntilTimeLimit(100*ms, streams.BufferMaxRecords(1)),
			[]at{rec("a", 0), rec("b", 1), rec("b", 2), rec("c", 3)},
			[]string{"a=1 t0", "b=2 t2"}},
		{"max bytes, emit early",
			// An entry of a new key: key (1) + count (8) + 16 bytes of timestamps = 25
			// bytes; two fit in 55, a third pushes the oldest (a, updated in place) out.
			streams.UntilTimeLimit(100*ms, streams.BufferMaxBytes(55)),
			[]at{rec("a", 0), rec("b", 1), rec("a", 2), rec("c", 3)},
			[]string{"a=2 t2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := streamstest.New(t, countSuppressed(t, tc.s))
			in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
			for _, r := range tc.inputs {
				in.PipeAt(r.key, r.value, r.ts)
			}
			var got []string
			for _, r := range streamstest.NewOutputTopic[string, int64](d, "out", nil, nil).ReadRecords() {
				got = append(got, fmt.Sprintf("%s=%d t%d", r.Key, r.Value, r.Timestamp))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSuppressShutDownWhenFull(t *testing.T) {
	topo := windowedCountSuppressed(t, 0, streams.UntilWindowCloses(streams.BufferMaxRecords(1).ShutDownWhenFull()))
	h, err := streams.NewHarness(topo, streams.HarnessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Pipe("in", []byte("a"), []byte("v"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Pipe("in", []byte("b"), []byte("v"), 2, nil); !errors.Is(err, streams.ErrBufferFull) {
		t.Fatalf("second key: err = %v, want ErrBufferFull", err)
	}
}

// TestSuppressBufferSurvivesRestart: the buffer is kept in a store, so what was held
// back before a restart is emitted after it.
func TestSuppressBufferSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := streams.UntilWindowCloses(streams.BufferUnbounded())
	h, err := streams.NewHarness(windowedCountSuppressed(t, 0, s), streams.HarnessConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{1, 2} {
		if err := h.Pipe("in", []byte("a"), []byte("v"), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.Output("out")); n != 0 {
		t.Fatalf("%d records before the window closed", n)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, windowedCountSuppressed(t, 0, s), streamstest.WithStateDir(dir))
	streamstest.NewInputTopic[string, string](d, "in", nil, nil).PipeAt("b", "v", 15)
	got := showWindowed(streamstest.NewOutputTopic(d, "out", streams.TimeWindowedSerde(streams.String(), 10), streams.Int64()).ReadRecords())
	if want := []string{"a@0/10=2 t2"}; !slices.Equal(got, want) {
		t.Errorf("after restart: got %q, want %q", got, want)
	}
}

func TestSuppressBuildErrors(t *testing.T) {
	for name, build := range map[string]func(b *streams.Builder){
		"final results with an eager buffer": func(b *streams.Builder) {
			g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
			streams.WindowedBy(g, streams.TimeWindowsOfSizeWithNoGrace(time.Second)).Count().
				Suppress(streams.UntilWindowCloses(streams.BufferMaxRecords(10)))
		},
		"final results of a table that is not windowed": func(b *streams.Builder) {
			streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey().Count().
				Suppress(streams.UntilWindowCloses(streams.BufferUnbounded()))
		},
		"negative time limit": func(b *streams.Builder) {
			streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey().Count().
				Suppress(streams.UntilTimeLimit(-time.Second, streams.BufferUnbounded()))
		},
	} {
		b := streams.NewBuilder()
		build(b)
		if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
			t.Errorf("%s: Build err = %v, want ErrTopology", name, err)
		}
	}
}
