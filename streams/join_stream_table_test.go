package streams

import (
	"strings"
	"testing"
)

func TestStreamTableJoin(t *testing.T) {
	steps := []step{
		put("views", "a", "p1", 10),
		put("users", "a", "eu", 5),
		put("views", "a", "p2", 11),
		put("users", "a", "us", 20), // the table side only updates state
		put("views", "a", "p3", 12), // out of order: joins with the current row
		tomb("users", "a", 21),
		put("views", "a", "p4", 22),
		{topic: "views", value: "p5", ts: 23, nullKey: true},
		tomb("views", "b", 24),
		put("views", "c", "p6", 25),
	}
	cases := []struct {
		name    string
		left    bool
		want    []string
		dropped int64
	}{
		{"inner", false, []string{"", "", "a=p2/eu@11", "", "a=p3/us@12", "", "", "", "", ""}, 2},
		{"left", true, []string{"a=p1/null@10", "", "a=p2/eu@11", "", "a=p3/us@12", "", "a=p4/null@22", "<null>=p5/null@23", "", "c=p6/null@25"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			views := StreamFrom[string, string](b, "views", nil, nil)
			users := TableFrom[string, string](b, "users", nil, nil)
			var joined Stream[string, string]
			if tc.left {
				joined = StreamTableLeftJoin(views, users, func(_ string, v string, u *string) string { return v + "/" + orNull(u) })
			} else {
				joined = StreamTableJoin(views, users, func(_ string, v, u string) string { return v + "/" + u })
			}
			joined.To("out")
			h := newTestHarness(t, b)
			runSteps(t, h, steps, tc.want, "out", nil)
			if got := h.DroppedRecords(); got != tc.dropped {
				t.Errorf("dropped %d records, want %d", got, tc.dropped)
			}
		})
	}
}

// A re-keyed stream is repartitioned before the join; a filtered (unmaterialized) table
// is read through its parent's store.
func TestStreamTableJoinRepartitionsAndReadsThroughFilter(t *testing.T) {
	b := NewBuilder()
	views := StreamFrom[string, string](b, "views", nil, nil)
	byUser := SelectKey(views, func(_, v string) string { return v[:1] })
	users := TableFrom[string, string](b, "users", nil, nil).Filter(func(_, v string) bool { return v != "hidden" })
	StreamTableJoin(byUser, users, func(k, v, u string) string { return k + ":" + v + "/" + u }).To("out")
	h := newTestHarness(t, b)
	steps := []step{
		put("users", "a", "eu", 1),
		put("users", "b", "hidden", 2),
		put("views", "x", "a-home", 3),
		put("views", "y", "b-home", 4),
	}
	runSteps(t, h, steps, []string{"", "", "a=a:a-home/eu@3", ""}, "out", nil)
	topo := h.topo.Describe().String()
	for _, want := range []string{"KSTREAM-KEY-SELECT-0000000001-repartition", "Processor: KSTREAM-JOIN-"} {
		if !strings.Contains(topo, want) {
			t.Errorf("topology lacks %q:\n%s", want, topo)
		}
	}
}

// A re-keyed stream joined twice goes through one repartition topic.
func TestJoinReusesRepartition(t *testing.T) {
	b := NewBuilder()
	byUser := SelectKey(StreamFrom[string, string](b, "views", nil, nil), func(_, v string) string { return v })
	users := TableFrom[string, string](b, "users", nil, nil)
	scores := TableFrom[string, string](b, "scores", nil, nil)
	StreamTableJoin(byUser, users, func(_, v, u string) string { return u }).To("out1")
	StreamTableLeftJoin(byUser, scores, func(_, v string, s *string) string { return orNull(s) }).To("out2")
	h := newTestHarness(t, b)
	if len(h.topo.repartitions) != 1 {
		t.Fatalf("repartition topics %v", h.topo.repartitions)
	}
	put("users", "ann", "eu", 1).pipe(t, h)
	put("views", "v1", "ann", 2).pipe(t, h)
	if got := strings.Join(append(show(h.Output("out1")), show(h.Output("out2"))...), "|"); got != "ann=eu@2|ann=null@2" {
		t.Errorf("got %q", got)
	}
}
