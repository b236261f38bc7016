package streams

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStreamStreamJoin(t *testing.T) {
	steps := []step{
		put("L", "a", "l1", 1000),
		put("R", "a", "r1", 1050),
		put("L", "a", "l2", 1200),
		put("R", "a", "r2", 1120), // out of order, within the grace period
		put("R", "a", "r3", 1000), // late: its window closed at 1100, grace ended at 1150
		put("L", "b", "l3", 1210),
		{topic: "R", value: "r4", ts: 1210, nullKey: true},
		tomb("L", "a", 1210),
		put("R", "a", "r5", 1250),
		put("L", "a", "l4", 1240),
		put("L", "c", "l5", 1400), // closes b's window (1210+100+50 < 1400)
		{topic: "L", value: "l6", ts: 1400, nullKey: true},
		put("R", "d", "r6", 1500),
		put("R", "e", "r7", 1700), // closes c's and d's windows
	}
	cases := []struct {
		name    string
		kind    joinKind
		want    []string
		dropped int64
	}{
		{"inner", innerJoin, []string{
			"", "a=l1+r1@1050", "", "a=l2+r2@1200", "", "", "", "", "a=l2+r5@1250", "a=l4+r5@1250", "", "", "", "",
		}, 4},
		{"left", leftJoin, []string{
			"", "a=l1+r1@1050", "", "a=l2+r2@1200", "", "", "", "", "a=l2+r5@1250", "a=l4+r5@1250",
			"b=l3+null@1210", "<null>=l6+null@1400", "", "c=l5+null@1400",
		}, 3},
		{"outer", outerJoin, []string{
			"", "a=l1+r1@1050", "", "a=l2+r2@1200", "", "", "<null>=null+r4@1210", "", "a=l2+r5@1250", "a=l4+r5@1250",
			"b=l3+null@1210", "<null>=l6+null@1400", "", "c=l5+null@1400|d=null+r6@1500",
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			l := StreamFrom[string, string](b, "L", nil, nil)
			r := StreamFrom[string, string](b, "R", nil, nil)
			w := JoinWindowsOfTimeDifferenceAndGrace(100*time.Millisecond, 50*time.Millisecond)
			var j Stream[string, string]
			switch tc.kind {
			case innerJoin:
				j = StreamJoin(l, r, func(_ string, v, vo string) string { return v + "+" + vo }, w)
			case leftJoin:
				j = StreamLeftJoin(l, r, func(_ string, v string, vo *string) string { return v + "+" + orNull(vo) }, w)
			default:
				j = StreamOuterJoin(l, r, func(_ string, v, vo *string) string { return orNull(v) + "+" + orNull(vo) }, w)
			}
			j.To("out")
			h := newTestHarness(t, b)
			runSteps(t, h, steps, tc.want, "out", nil)
			if got := h.DroppedRecords(); got != tc.dropped {
				t.Errorf("dropped %d records, want %d", got, tc.dropped)
			}
		})
	}
}

// Asymmetric windows: a left record at t joins right records in [t, t+100ms].
func TestStreamStreamJoinBeforeAfter(t *testing.T) {
	b := NewBuilder()
	w := JoinWindowsOfTimeDifferenceWithNoGrace(0).After(100 * time.Millisecond)
	StreamJoin(StreamFrom[string, string](b, "L", nil, nil), StreamFrom[string, string](b, "R", nil, nil),
		func(_ string, v, vo string) string { return v + "+" + vo }, w, Named("j"), As("js")).To("out")
	h := newTestHarness(t, b)
	steps := []step{
		put("L", "a", "l1", 1000),
		put("R", "a", "r1", 1050),
		put("R", "a", "r2", 990), // before l1, and late: a right record's window ends at its own time
		put("L", "a", "l2", 1060),
		put("R", "a", "r3", 1100),
		put("R", "a", "r4", 1161), // too far after l2... and too far after l1
	}
	runSteps(t, h, steps, []string{"", "a=l1+r1@1050", "", "", "a=l1+r3@1100|a=l2+r3@1100", ""}, "out", nil)
	for _, n := range []string{"j-this-windowed", "j-other-windowed", "j-join-this", "j-join-other", "j-merge"} {
		if !h.topo.hasNode(n) {
			t.Errorf("no processor %q", n)
		}
	}
	for _, s := range []string{"js-this-join-store", "js-other-join-store"} {
		if _, ok := h.topo.stores[s]; !ok {
			t.Errorf("no store %q", s)
		}
	}
}

func TestJoinWindowsValidate(t *testing.T) {
	for _, w := range []JoinWindows{
		JoinWindowsOfTimeDifferenceWithNoGrace(-time.Second),
		JoinWindowsOfTimeDifferenceAndGrace(time.Second, -time.Second),
		JoinWindowsOfTimeDifferenceWithNoGrace(time.Second).Before(-2 * time.Second),
	} {
		if w.validate() == nil {
			t.Errorf("%+v is valid", w)
		}
	}
	w := JoinWindowsOfTimeDifferenceAndGrace(time.Second, time.Minute).Before(0)
	if w.validate() != nil || w.Size() != time.Second || w.GracePeriod() != time.Minute {
		t.Errorf("%+v: size %v grace %v", w, w.Size(), w.GracePeriod())
	}
}

// Records waiting in the outer-join store survive a restart: the new task finds them
// and emits them once their windows close.
func TestStreamStreamLeftJoinRestart(t *testing.T) {
	dir := t.TempDir()
	build := func() *Topology {
		b := NewBuilder()
		StreamLeftJoin(StreamFrom[string, string](b, "L", nil, nil), StreamFrom[string, string](b, "R", nil, nil),
			func(_ string, v string, vo *string) string { return v + "+" + orNull(vo) }, JoinWindowsOfTimeDifferenceWithNoGrace(100*time.Millisecond)).To("out")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	h, err := NewHarness(build(), HarnessConfig{StateDir: dir, WallClock: 1})
	if err != nil {
		t.Fatal(err)
	}
	put("L", "a", "l1", 1000).pipe(t, h)
	put("L", "b", "l2", 1050).pipe(t, h)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h, err = NewHarness(build(), HarnessConfig{StateDir: dir, WallClock: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	put("R", "b", "r1", 1060).pipe(t, h) // joins l2, from the restored window store
	put("R", "c", "r2", 1101).pipe(t, h) // closes a's window
	if got, want := strings.Join(show(h.Output("out")), "|"), "b=l2+r1@1060|a=l1+null@1000"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Random records: the join's output equals, as a multiset, the pairs (and for left and
// outer joins, the records without a partner) a brute-force model finds.
func TestStreamStreamJoinRandom(t *testing.T) {
	const d, grace = 50, 20
	for _, kind := range []joinKind{innerJoin, leftJoin, outerJoin} {
		b := NewBuilder()
		l := StreamFrom[string, string](b, "L", nil, nil)
		r := StreamFrom[string, string](b, "R", nil, nil)
		w := JoinWindowsOfTimeDifferenceAndGrace(d*time.Millisecond, grace*time.Millisecond)
		j := func(_ string, v, vo *string) string { return orNull(v) + "+" + orNull(vo) }
		switch kind {
		case innerJoin:
			StreamJoin(l, r, func(k, v, vo string) string { return j(k, &v, &vo) }, w).To("out")
		case leftJoin:
			StreamLeftJoin(l, r, func(k, v string, vo *string) string { return j(k, &v, vo) }, w).To("out")
		default:
			StreamOuterJoin(l, r, j, w).To("out")
		}
		h := newTestHarness(t, b)
		rng := rand.New(rand.NewPCG(13, uint64(kind)))
		type rec struct {
			left bool
			key  string
			val  string
			ts   int64
		}
		var kept []rec
		streamTime, ts := int64(-1), int64(1000)
		for i := range 500 {
			ts += int64(rng.IntN(8))
			rt := ts
			if kind == innerJoin && rng.IntN(4) == 0 {
				rt -= int64(rng.IntN(100)) // out of order, some of it late
			}
			x := rec{left: rng.IntN(2) == 0, key: fmt.Sprintf("k%d", rng.IntN(4)), val: fmt.Sprintf("v%d", i), ts: rt}
			topic := "R"
			if x.left {
				topic = "L"
			}
			put(topic, x.key, x.val, x.ts).pipe(t, h)
			streamTime = max(streamTime, rt)
			if rt+d+grace >= streamTime {
				kept = append(kept, x)
			}
		}
		put("L", "flush", "-", ts+10_000).pipe(t, h) // closes every window
		var want []string
		partnered := map[int]bool{}
		for i, a := range kept {
			for k, c := range kept {
				if a.left && !c.left && a.key == c.key && c.ts >= a.ts-d && c.ts <= a.ts+d {
					want = append(want, fmt.Sprintf("%s=%s+%s@%d", a.key, a.val, c.val, max(a.ts, c.ts)))
					partnered[i], partnered[k] = true, true
				}
			}
		}
		for i, a := range kept {
			if !partnered[i] && ((kind == leftJoin && a.left) || kind == outerJoin) {
				v, vo := a.val, "null"
				if !a.left {
					v, vo = "null", a.val
				}
				want = append(want, fmt.Sprintf("%s=%s+%s@%d", a.key, v, vo, a.ts))
			}
		}
		got := show(h.Output("out"))
		t.Logf("kind %d: %d results, %d records dropped", kind, len(got), h.DroppedRecords())
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("kind %d: %d results, want %d\n got  %v\n want %v", kind, len(got), len(want), got, want)
		}
	}
}
