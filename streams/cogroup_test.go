package streams

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Three inputs fold into one aggregate per key: clicks and purchases keyed by user, and
// a stream re-keyed by user (repartitioned first).
func TestCogroup(t *testing.T) {
	type agg = string // "clicks,spent,refs"
	parse := func(a agg) (int, int, int) {
		f := strings.Split(a, ",")
		c, _ := strconv.Atoi(f[0])
		s, _ := strconv.Atoi(f[1])
		r, _ := strconv.Atoi(f[2])
		return c, s, r
	}
	format := func(c, s, r int) agg { return strconv.Itoa(c) + "," + strconv.Itoa(s) + "," + strconv.Itoa(r) }
	b := NewBuilder()
	clicks := StreamFrom[string, string](b, "clicks", nil, nil).GroupByKey()
	purchases := StreamFrom[string, string](b, "purchases", nil, nil).GroupByKey()
	refs := GroupBy(StreamFrom[string, string](b, "referrals", nil, nil), func(_, v string) string { return v }, nil)
	cg := Cogroup(clicks, func(_ string, _ string, a agg) agg { c, s, r := parse(a); return format(c+1, s, r) })
	cg = CogroupWith(cg, purchases, func(_ string, v string, a agg) agg {
		c, s, r := parse(a)
		n, _ := strconv.Atoi(v)
		return format(c, s+n, r)
	})
	cg = CogroupWith(cg, refs, func(_ string, _ string, a agg) agg { c, s, r := parse(a); return format(c, s, r+1) })
	totals := cg.Aggregate(func() agg { return "0,0,0" }, nil, As("totals"))
	got := captureChanges(totals)
	h := newTestHarness(t, b)
	steps := []step{
		put("clicks", "ann", "home", 1),
		put("purchases", "ann", "30", 2),
		put("clicks", "bob", "cart", 3),
		put("referrals", "ref-1", "ann", 4),
		tomb("purchases", "ann", 5), // null values are skipped
		put("purchases", "bob", "5", 6),
		put("clicks", "ann", "faq", 7),
	}
	want := []string{
		"ann=1,0,0/-@1", "ann=1,30,0/1,0,0@2", "bob=1,0,0/-@3", "ann=1,30,1/1,30,0@4", "", "bob=1,5,0/1,0,0@6", "ann=2,30,1/1,30,1@7",
	}
	runSteps(t, h, steps, want, "", got)
	if n := h.DroppedRecords(); n != 1 {
		t.Errorf("dropped %d records, want 1", n)
	}
	d := h.topo.Describe()
	if len(d.Subtopologies) != 2 {
		t.Fatalf("want 2 sub-topologies (the re-keyed input's and the aggregation's):\n%s", d)
	}
	desc := d.String()
	for _, want := range []string{"(topics: [totals-repartition])", "COGROUPKSTREAM-MERGE-", "(stores: [totals])"} {
		if !strings.Contains(desc, want) {
			t.Errorf("topology lacks %q:\n%s", want, desc)
		}
	}
}

// A windowed cogroup: clicks count 1 and purchases their amount, per user and minute,
// in one window store.
func TestCogroupWindowed(t *testing.T) {
	b := NewBuilder()
	clicks := StreamFrom[string, string](b, "clicks", nil, nil).GroupByKey()
	buys := StreamFrom[string, string](b, "buys", nil, nil).GroupByKey()
	cg := Cogroup(clicks, func(_ string, _ string, a int64) int64 { return a + 1 })
	cg = CogroupWith(cg, buys, func(_ string, v string, a int64) int64 { n, _ := strconv.Atoi(v); return a + int64(n) })
	agg := cg.WindowedBy(TimeWindowsOfSizeAndGrace(time.Minute, 30*time.Second)).
		Aggregate(func() int64 { return 0 }, nil, As("activity"))
	Map(agg.ToStream(), func(k Windowed[string], n int64) (string, string) {
		return k.Key + "@" + strconv.FormatInt(k.Window.Start, 10), strconv.FormatInt(n, 10)
	}).To("out")
	h := newTestHarness(t, b)
	steps := []step{
		put("clicks", "ann", "/a", 10_000),
		put("buys", "ann", "30", 20_000),
		put("clicks", "ann", "/b", 70_000),
		put("clicks", "bob", "/c", 30_000), // out of order, within the grace period
		put("buys", "bob", "5", 5_000),
		put("clicks", "carl", "/d", 100_000),
		put("clicks", "ann", "/e", 2_000), // late: [0, 60s) closed at 90s
	}
	want := []string{"ann@0=1@10000", "ann@0=31@20000", "ann@60000=1@70000", "bob@0=1@30000", "bob@0=6@30000", "carl@60000=1@100000", ""}
	runSteps(t, h, steps, want, "out", nil)
	if n := h.DroppedRecords(); n != 1 {
		t.Errorf("dropped %d records, want 1", n)
	}
	if _, ok := h.topo.stores["activity"]; !ok || h.topo.stores["activity"].windowed == nil {
		t.Error("no window store activity")
	}
}
