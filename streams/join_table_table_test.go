package streams

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// The Change records of each table-table join kind, old values included, step by step.
func TestTableTableJoin(t *testing.T) {
	steps := []step{
		put("L", "a", "1", 1),
		put("R", "a", "x", 2),
		put("L", "a", "2", 3),
		put("R", "b", "y", 4),
		put("L", "b", "3", 5),
		tomb("R", "a", 6),
		tomb("L", "a", 7),
		tomb("L", "zz", 8), // deleting an absent row changes nothing
	}
	cases := []struct {
		name  string
		kind  joinKind
		want  []string
		final map[string]string
	}{
		{"inner", innerJoin, []string{
			"", "a=1+x/-@2", "a=2+x/1+x@3", "", "b=3+y/-@5", "a=-/2+x@6", "", "",
		}, map[string]string{"b": "3+y"}},
		{"left", leftJoin, []string{
			"a=1+null/-@1", "a=1+x/1+null@2", "a=2+x/1+x@3", "", "b=3+y/-@5", "a=2+null/2+x@6", "a=-/2+null@7", "",
		}, map[string]string{"b": "3+y"}},
		{"outer", outerJoin, []string{
			"a=1+null/-@1", "a=1+x/1+null@2", "a=2+x/1+x@3", "b=null+y/-@4", "b=3+y/null+y@5", "a=2+null/2+x@6", "a=-/2+null@7", "",
		}, map[string]string{"b": "3+y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			l := TableFrom[string, string](b, "L", nil, nil)
			r := TableFrom[string, string](b, "R", nil, nil)
			var j Table[string, string]
			switch tc.kind {
			case innerJoin:
				j = TableJoin(l, r, func(_ string, v, vo string) string { return v + "+" + vo }, nil, As("joined"))
			case leftJoin:
				j = TableLeftJoin(l, r, func(_ string, v string, vo *string) string { return v + "+" + orNull(vo) }, nil, As("joined"))
			default:
				j = TableOuterJoin(l, r, func(_ string, v, vo *string) string { return orNull(v) + "+" + orNull(vo) }, nil, As("joined"))
			}
			got := captureChanges(j)
			h := newTestHarness(t, b)
			runSteps(t, h, steps, tc.want, "", got)
			st, err := GetKeyValueStore[string, string](h, "joined")
			if err != nil {
				t.Fatal(err)
			}
			if rows := storeRows(t, st); !maps.Equal(rows, tc.final) {
				t.Errorf("store joined = %v, want %v", rows, tc.final)
			}
		})
	}
}

func storeRows(t *testing.T, st *KeyValueStore[string, string]) map[string]string {
	t.Helper()
	it, err := st.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	rows := map[string]string{}
	for it.Next() {
		rows[it.Key()] = it.Value()
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Joins chain: an unmaterialized join result is read through the getters of its inputs
// (here: filtered, unmaterialized), and the result streams out with tombstones.
func TestTableTableJoinChained(t *testing.T) {
	b := NewBuilder()
	l := TableFrom[string, string](b, "L", nil, nil).Filter(func(_, v string) bool { return v != "skip" })
	r := TableFrom[string, string](b, "R", nil, nil)
	r2 := TableFrom[string, string](b, "R2", nil, nil)
	j := TableJoin(l, r, func(_ string, v, vo string) string { return v + "+" + vo }, nil, Named("lr"))
	StreamTableJoin(StreamFrom[string, string](b, "S", nil, nil), j, func(_, s, v string) string { return s + ">" + v }).To("out")
	TableLeftJoin(j, r2, func(_ string, v string, vo *string) string { return v + "+" + orNull(vo) }, nil).ToStream().To("out2")
	h := newTestHarness(t, b)
	steps := []step{
		put("L", "a", "1", 1),
		put("R", "a", "x", 2),
		put("S", "a", "s1", 3),
		put("L", "a", "skip", 4),
		put("S", "a", "s2", 5),
		put("R2", "a", "z", 6),
		put("L", "a", "2", 7),
	}
	runSteps(t, h, steps, []string{"", "", "a=s1>1+x@3", "", "", "", ""}, "out", nil)
	// "skip" filters the left row out: the join's row is deleted, then comes back.
	if got, want := strings.Join(show(h.Output("out2")), "|"), "a=1+x+null@2|a=<null>@4|a=2+x+z@7"; got != want {
		t.Errorf("out2:\n got  %q\n want %q", got, want)
	}
	for _, name := range []string{"lr-join-this", "lr-join-other", "lr"} {
		if !h.topo.hasNode(name) {
			t.Errorf("no processor %q", name)
		}
	}
}

// Random updates and deletes on both sides: after every step the result (and its
// store) equals the join of the two tables as they stand.
func TestTableTableJoinRandom(t *testing.T) {
	for _, kind := range []joinKind{innerJoin, leftJoin, outerJoin} {
		b := NewBuilder()
		l := TableFrom[string, string](b, "L", nil, nil)
		r := TableFrom[string, string](b, "R", nil, nil)
		j := func(_ string, v, vo *string) string { return orNull(v) + "+" + orNull(vo) }
		switch kind {
		case innerJoin:
			TableJoin(l, r, func(k, v, vo string) string { return j(k, &v, &vo) }, nil).ToStream().To("out")
		case leftJoin:
			TableLeftJoin(l, r, func(k, v string, vo *string) string { return j(k, &v, vo) }, nil).ToStream().To("out")
		default:
			TableOuterJoin(l, r, j, nil).ToStream().To("out")
		}
		h := newTestHarness(t, b)
		rng := rand.New(rand.NewPCG(11, uint64(kind)))
		lt, rt, result := map[string]string{}, map[string]string{}, map[string]string{}
		for i := range 400 {
			topic, tab := "L", lt
			if rng.IntN(2) == 0 {
				topic, tab = "R", rt
			}
			k := fmt.Sprintf("k%d", rng.IntN(5))
			var s step
			if rng.IntN(3) == 0 {
				s = tomb(topic, k, int64(i))
				delete(tab, k)
			} else {
				s = put(topic, k, fmt.Sprintf("%s%d", strings.ToLower(topic), rng.IntN(4)), int64(i))
				tab[k] = s.value
			}
			s.pipe(t, h)
			for _, rec := range h.Output("out") {
				if rec.Value == nil {
					delete(result, string(rec.Key))
				} else {
					result[string(rec.Key)] = string(rec.Value)
				}
			}
			want := map[string]string{}
			for _, k := range []string{"k0", "k1", "k2", "k3", "k4"} {
				v, okL := lt[k]
				vo, okR := rt[k]
				if (kind == innerJoin && okL && okR) || (kind == leftJoin && okL) || (kind == outerJoin && (okL || okR)) {
					want[k] = j(k, ptrTo(v, okL), ptrTo(vo, okR))
				}
			}
			if !maps.Equal(result, want) {
				t.Fatalf("kind %d step %d %+v:\n got  %v\n want %v", kind, i, s, result, want)
			}
		}
	}
}
