package streams

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestPartitionCounts(t *testing.T) {
	rekey := func(s Stream[string, string]) Stream[string, string] {
		return SelectKey(s, func(_, v string) string { return v })
	}
	cases := []struct {
		name  string
		build func(b *Builder)
		user  map[string]int32
		want  map[string]int32 // internal topics, unprefixed
		tasks []int32          // per sub-topology
		err   string
	}{
		{"stream-table join: repartition gets the table's count", func(b *Builder) {
			v := rekey(StreamFrom[string, string](b, "views", nil, nil))
			StreamTableJoin(v, TableFrom[string, string](b, "users", nil, nil), func(_, a, b string) string { return a + b }, Named("j")).To("out")
		}, map[string]int32{"views": 3, "users": 5}, map[string]int32{"j-repartition": 5}, []int32{3, 5}, ""},
		{"cogroup of two re-keyed streams: both get the larger count", func(b *Builder) {
			g1 := GroupBy(StreamFrom[string, string](b, "a", nil, nil), func(_, v string) string { return v }, nil, Named("g1"))
			g2 := GroupBy(StreamFrom[string, string](b, "b", nil, nil), func(_, v string) string { return v }, nil, Named("g2"))
			agg := func(_ string, v string, a string) string { return a + v }
			CogroupWith(Cogroup(g1, agg), g2, agg).Aggregate(func() string { return "" }, nil)
		}, map[string]int32{"a": 3, "b": 5}, map[string]int32{"g1-repartition": 5, "g2-repartition": 5}, []int32{3, 5, 5}, ""},
		{"stream-stream join of two re-keyed streams: both get the larger count", func(b *Builder) {
			l := rekey(StreamFrom[string, string](b, "a", nil, nil))
			r := rekey(StreamFrom[string, string](b, "b", nil, nil))
			StreamJoin(l, r, func(_, x, y string) string { return x + y }, JoinWindowsOfTimeDifferenceWithNoGrace(time.Second), Named("j")).To("out")
		}, map[string]int32{"a": 3, "b": 5}, map[string]int32{"j-left-repartition": 5, "j-right-repartition": 5}, []int32{3, 5, 5}, ""},
		{"chained repartitions follow their writers", func(b *Builder) {
			c := rekey(StreamFrom[string, string](b, "a", nil, nil)).GroupByKey(Named("g1")).Count()
			TableGroupBy(c, func(k string, v int64) KeyValue[string, int64] { return KV(k[:1], v) }, nil, nil, Named("g2")).Count()
		}, map[string]int32{"a": 4}, map[string]int32{"g1-repartition": 4, "g2-repartition": 4}, []int32{4, 4, 4}, ""},
		{"foreign-key join: subscriptions like the right table, responses like the left", func(b *Builder) {
			TableForeignKeyJoin(TableFrom[string, string](b, "orders", nil, nil), TableFrom[string, string](b, "products", nil, nil),
				orderFK, func(_, o, p string) string { return o + p }, nil, Named("fk"))
		}, map[string]int32{"orders": 3, "products": 5},
			map[string]int32{"fk-subscription-registration-topic": 5, "fk-subscription-response-topic": 3}, []int32{3, 5}, ""},
		{"table-table join of topics with different counts", func(b *Builder) {
			TableJoin(TableFrom[string, string](b, "l", nil, nil), TableFrom[string, string](b, "r", nil, nil),
				func(_, a, b string) string { return a + b }, nil)
		}, map[string]int32{"l": 3, "r": 5}, nil, nil, "topics not co-partitioned: [l (3 partitions), r (5 partitions)]"},
		{"configured repartition count differs from the joined table's", func(b *Builder) {
			g := GroupBy(StreamFrom[string, string](b, "a", nil, nil), func(_, v string) string { return v }, nil, Named("g"), WithPartitions(4))
			agg := func(_ string, v string, a string) string { return a + v }
			CogroupWith(Cogroup(g, agg), StreamFrom[string, string](b, "b", nil, nil).GroupByKey(), agg).Aggregate(func() string { return "" }, nil)
		}, map[string]int32{"a": 3, "b": 5}, nil, nil, "[b (5 partitions), app-g-repartition (4 partitions)]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			tc.build(b)
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			counts, tasks, err := topo.partitionCounts("app", tc.user)
			if tc.err != "" {
				if !errors.Is(err, ErrNotCopartitioned) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrNotCopartitioned with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(tc.user)
			for name, n := range tc.want {
				want["app-"+name] = n
			}
			if !maps.Equal(counts, want) {
				t.Errorf("counts = %v, want %v", counts, want)
			}
			for i, n := range tc.tasks {
				if tasks[i] != n {
					t.Errorf("sub-topology %d: %d tasks, want %d (%v)\n%s", i, tasks[i], n, tasks, topo.Describe())
				}
			}
		})
	}
}

// Internal topics joined together with different configured counts fail the build.
func TestBuildChecksConfiguredCopartitioning(t *testing.T) {
	b := NewBuilder()
	g1 := GroupBy(StreamFrom[string, string](b, "a", nil, nil), func(_, v string) string { return v }, nil, Named("g1"), WithPartitions(2))
	g2 := GroupBy(StreamFrom[string, string](b, "b", nil, nil), func(_, v string) string { return v }, nil, Named("g2"), WithPartitions(4))
	agg := func(_ string, v string, a string) string { return a + v }
	CogroupWith(Cogroup(g1, agg), g2, agg).Aggregate(func() string { return "" }, nil)
	if _, err := b.Build(); !errors.Is(err, ErrNotCopartitioned) {
		t.Fatalf("Build: %v, want ErrNotCopartitioned", err)
	}
}
