package streams_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

type in struct {
	topic, key, value string
	nullValue         bool
	ts                int64
}

func kv(key, value string) in { return in{topic: "in", key: key, value: value} }
func del(key string) in       { return in{topic: "in", key: key, nullValue: true} }

func itoa(_ string, n int64) string { return strconv.FormatInt(n, 10) }

// Each case builds a topology from the string stream of "in" (and "in2") that writes
// strings to "out"; want lists the records of "out" as key=value (key=<nil> for
// tombstones).
var operatorCases = []struct {
	name  string
	build func(b *streams.Builder, s streams.Stream[string, string])
	input []in
	want  []string
}{
	{"filter", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.Filter(func(k, v string) bool { return len(v) > 2 }).To("out")
	}, []in{kv("a", "x"), kv("b", "long"), kv("c", "yes")}, []string{"b=long", "c=yes"}},
	{"filterNot", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.FilterNot(func(k, v string) bool { return len(v) > 2 }).To("out")
	}, []in{kv("a", "x"), kv("b", "long")}, []string{"a=x"}},
	{"map", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.Map(s, func(k, v string) (string, int64) { return v, int64(len(k)) }).WithSerdes(nil, streams.Int64String()).To("out")
	}, []in{kv("abc", "x")}, []string{"x=3"}},
	{"mapValues", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.MapValues(s, func(k, v string) string { return strings.ToUpper(v) }).To("out")
	}, []in{kv("a", "x"), kv("b", "y")}, []string{"a=X", "b=Y"}},
	{"flatMap", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.FlatMap(s, func(k, v string) []streams.KeyValue[string, string] {
			return []streams.KeyValue[string, string]{streams.KV(k+"1", v), streams.KV(k+"2", v)}
		}).To("out")
	}, []in{kv("a", "x")}, []string{"a1=x", "a2=x"}},
	{"flatMapValues", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.FlatMapValues(s, func(k, v string) []string { return strings.Split(v, ",") }).To("out")
	}, []in{kv("a", "x,y,z")}, []string{"a=x", "a=y", "a=z"}},
	{"selectKey", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.SelectKey(s, func(k, v string) string { return v + k }).To("out")
	}, []in{kv("a", "x")}, []string{"xa=x"}},
	{"peek", func(b *streams.Builder, s streams.Stream[string, string]) {
		var seen []string
		s.Peek(func(k, v string) { seen = append(seen, k) }).
			Filter(func(k, v string) bool { return len(seen) > 0 }).To("out")
	}, []in{kv("a", "x")}, []string{"a=x"}},
	{"foreach", func(b *streams.Builder, s streams.Stream[string, string]) {
		var n int
		s.Foreach(func(k, v string) { n++ })
		s.Filter(func(k, v string) bool { return n > 0 }).To("out")
	}, []in{kv("a", "x")}, []string{"a=x"}},
	{"merge", func(b *streams.Builder, s streams.Stream[string, string]) {
		other := streams.StreamFrom[string, string](b, "in2", nil, nil)
		s.Merge(other).To("out")
	}, []in{kv("a", "x"), {topic: "in2", key: "b", value: "y"}, kv("c", "z")}, []string{"a=x", "b=y", "c=z"}},
	{"split", func(b *streams.Builder, s streams.Stream[string, string]) {
		sp := s.Split()
		sp.Branch(func(k, v string) bool { return strings.HasPrefix(v, "a") }).
			To("out", streams.Named("a-sink"))
		sp.Branch(func(k, v string) bool { return strings.HasPrefix(v, "ab") }).
			Foreach(func(k, v string) { panic("unreachable: an earlier branch matches") })
		streams.MapValues(sp.Default(), func(k, v string) string { return "default:" + v }).To("out")
	}, []in{kv("1", "abc"), kv("2", "xyz")}, []string{"1=abc", "2=default:xyz"}},
	{"toTopicFunc", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.ToTopicFunc(func(r streams.Record[string, string]) string {
			if r.Key == "skip" {
				return "elsewhere"
			}
			return "out"
		})
	}, []in{kv("skip", "x"), kv("a", "y")}, []string{"a=y"}},
	{"repartition", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.SelectKey(s, func(k, v string) string { return v }).Repartition(streams.Named("by-value")).To("out")
	}, []in{kv("a", "x")}, []string{"x=x"}},
	{"toTable", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.ToTable(streams.As("t")).ToStream().To("out")
	}, []in{kv("a", "1"), kv("a", "2"), del("a"), del("b")}, []string{"a=1", "a=2", "a=<nil>"}},
	{"count", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.MapValues(s.GroupByKey().Count().ToStream(), itoa).To("out")
	}, []in{kv("a", "x"), kv("b", "x"), kv("a", "y"), del("a")}, []string{"a=1", "b=1", "a=2"}},
	{"groupBy count", func(b *streams.Builder, s streams.Stream[string, string]) {
		g := streams.GroupBy(s, func(k, v string) string { return v }, nil, streams.Named("by-value"))
		streams.MapValues(g.Count(streams.As("counts")).ToStream(), itoa).To("out")
	}, []in{kv("a", "x"), kv("b", "x"), kv("c", "y")}, []string{"x=1", "x=2", "y=1"}},
	{"reduce", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.GroupByKey().Reduce(func(agg, v string) string { return agg + "+" + v }).ToStream().To("out")
	}, []in{kv("a", "x"), kv("a", "y"), kv("b", "z")}, []string{"a=x", "a=x+y", "b=z"}},
	{"aggregate", func(b *streams.Builder, s streams.Stream[string, string]) {
		t := streams.Aggregate(s.GroupByKey(), func() int64 { return 100 },
			func(k, v string, agg int64) int64 { return agg + int64(len(v)) }, nil, streams.InMemory())
		streams.MapValues(t.ToStream(), itoa).To("out")
	}, []in{kv("a", "xy"), kv("a", "z")}, []string{"a=102", "a=103"}},
	{"table source", func(b *streams.Builder, _ streams.Stream[string, string]) {
		streams.TableFrom[string, string](b, "in2", nil, nil).ToStream().To("out")
	}, []in{{topic: "in2", key: "a", value: "1"}, {topic: "in2", key: "a", nullValue: true}}, []string{"a=1", "a=<nil>"}},
	{"table filter", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.ToTable().Filter(func(k, v string) bool { return v != "drop" }).ToStream().To("out")
	}, []in{kv("a", "keep"), kv("a", "drop"), kv("b", "drop")}, []string{"a=keep", "a=<nil>"}},
	{"table filter materialized", func(b *streams.Builder, s streams.Stream[string, string]) {
		s.ToTable().FilterNot(func(k, v string) bool { return v == "drop" }, streams.As("kept")).ToStream().To("out")
	}, []in{kv("a", "keep"), kv("a", "drop")}, []string{"a=keep", "a=<nil>"}},
	{"table mapValues", func(b *streams.Builder, s streams.Stream[string, string]) {
		t := streams.MapValuesTable(s.ToTable(), func(k, v string) int64 { return int64(len(v)) }, nil, streams.As("lens"))
		streams.MapValues(t.ToStream(), itoa).To("out")
	}, []in{kv("a", "abc"), del("a")}, []string{"a=3", "a=<nil>"}},
	{"table groupBy count", func(b *streams.Builder, s streams.Stream[string, string]) {
		// Users (key) by region (value): the count per region follows moves.
		g := streams.TableGroupBy(s.ToTable(), func(k, v string) streams.KeyValue[string, string] { return streams.KV(v, k) }, nil, nil)
		streams.MapValues(g.Count(streams.As("per-region")).ToStream(), itoa).To("out")
	}, []in{kv("alice", "eu"), kv("bob", "eu"), kv("alice", "us"), del("bob")}, []string{"eu=1", "eu=2", "eu=1", "us=1", "eu=0"}},
	{"table groupBy reduce", func(b *streams.Builder, s streams.Stream[string, string]) {
		t := streams.MapValuesTable(s.ToTable(), func(k, v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n }, nil)
		g := streams.TableGroupBy(t, func(k string, v int64) streams.KeyValue[string, int64] { return streams.KV("total", v) }, nil, nil)
		sum := g.Reduce(func(agg, v int64) int64 { return agg + v }, func(agg, v int64) int64 { return agg - v })
		streams.MapValues(sum.ToStream(), itoa).To("out")
	}, []in{kv("a", "5"), kv("b", "7"), kv("a", "1")}, []string{"total=5", "total=12", "total=8"}},
	{"table aggregate", func(b *streams.Builder, s streams.Stream[string, string]) {
		g := streams.TableGroupBy(s.ToTable(), func(k, v string) streams.KeyValue[string, string] { return streams.KV("all", k) }, nil, nil)
		t := streams.TableAggregate(g, func() string { return "" },
			func(k, v, agg string) string { return agg + "+" + v },
			func(k, v, agg string) string { return agg + "-" + v }, nil)
		t.ToStream().To("out")
	}, []in{kv("a", "1"), kv("a", "2")}, []string{"all=+a", "all=+a-a+a"}}, // both sides of an update coalesce in the cache
	{"mapValues keeps tombstones", func(b *streams.Builder, s streams.Stream[string, string]) {
		streams.FlatMapValues(streams.MapValues(s, func(k, v string) string { return v + "!" }),
			func(k, v string) []string { return []string{v} }).To("out")
	}, []in{kv("a", "x"), del("a")}, []string{"a=x!", "a=<nil>"}},
}

func TestOperators(t *testing.T) {
	for _, tc := range operatorCases {
		t.Run(tc.name, func(t *testing.T) {
			b := streams.NewBuilder()
			tc.build(b, streams.StreamFrom[string, string](b, "in", nil, nil))
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d := streamstest.New(t, topo)
			inputs := map[string]*streamstest.InputTopic[string, string]{}
			for _, r := range tc.input {
				it := inputs[r.topic]
				if it == nil {
					it = streamstest.NewInputTopic[string, string](d, r.topic, nil, nil)
					inputs[r.topic] = it
				}
				if r.nullValue {
					it.PipeTombstone(r.key)
				} else {
					it.PipeAt(r.key, r.value, r.ts)
				}
			}
			var got []string
			for _, r := range streamstest.NewOutputTopic[string, string](d, "out", nil, nil).ReadRecords() {
				if r.Tombstone {
					got = append(got, r.Key+"=<nil>")
				} else {
					got = append(got, r.Key+"="+r.Value)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Timestamps and headers travel with records; null keys stay null through sinks.
func TestRecordMetadata(t *testing.T) {
	b := streams.NewBuilder()
	s := streams.StreamFrom[string, string](b, "in", nil, nil)
	streams.MapValues(s, func(_ string, v string) string { return v + "!" }).To("out")
	d := streamstest.New(t, mustBuild(t, b))
	in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
	in.PipeRecord(streams.Record[string, string]{Key: "k", Value: "v", Timestamp: 42, Headers: []streams.Header{{Key: "h", Value: []byte("1")}}})
	in.PipeValue("nokey")
	d.Harness()
	out := d.Harness().Output("out")
	if len(out) != 2 || out[0].Timestamp != 42 || len(out[0].Headers) != 1 || string(out[0].Value) != "v!" {
		t.Fatalf("first record %+v", out)
	}
	if out[1].Key != nil || string(out[1].Value) != "nokey!" {
		t.Fatalf("null key lost: %+v", out[1])
	}
}

func mustBuild(t *testing.T, b *streams.Builder) *streams.Topology {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// summer is a Processor API processor: it sums values per key in a store, forwards
// every sum on each stream-time punctuation and counts wall-clock punctuations.
type summer struct {
	ctx  *streams.ProcessorContext[string, string]
	sums *streams.KeyValueStore[string, int64]
	wall *int
}

func (p *summer) Init(ctx *streams.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	if p.sums, err = streams.GetKeyValueStore[string, int64](ctx, "sums"); err != nil {
		return err
	}
	if _, err := ctx.Schedule(10*time.Millisecond, streams.StreamTime, p.emit); err != nil {
		return err
	}
	_, err = ctx.Schedule(time.Second, streams.WallClockTime, func(int64) error { *p.wall++; return nil })
	return err
}

func (p *summer) Process(r streams.Record[string, int64]) error {
	old, _, err := p.sums.Get(r.Key)
	if err != nil {
		return err
	}
	return p.sums.Put(r.Key, old+r.Value)
}

func (p *summer) emit(ts int64) error {
	it, err := p.sums.All()
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		if err := p.ctx.Forward(streams.Record[string, string]{Key: it.Key(), Value: fmt.Sprintf("%d@%d", it.Value(), ts), Timestamp: ts}); err != nil {
			return err
		}
	}
	return it.Err()
}

func (p *summer) Close() error { return nil }

func TestProcessorAPIPunctuation(t *testing.T) {
	wall := 0
	b := streams.NewBuilder()
	b.AddStore(streams.KeyValueStoreBuilder[string, int64]("sums", nil, nil))
	s := streams.StreamFrom[string, int64](b, "in", nil, nil)
	streams.Process(s, func() streams.Processor[string, int64, string, string] { return &summer{wall: &wall} },
		streams.WithStores("sums"), streams.Named("summer")).To("out")
	d := streamstest.New(t, mustBuild(t, b))
	in := streamstest.NewInputTopic[string, int64](d, "in", nil, nil)
	out := streamstest.NewOutputTopic[string, string](d, "out", nil, nil)
	in.PipeAt("a", 1, 100) // the first record is processed, then punctuates at stream time 100
	in.PipeAt("a", 2, 105) // not due
	in.PipeAt("b", 5, 111) // due: 110 passed
	var got []string
	for _, r := range out.ReadKeyValues() {
		got = append(got, r.Key+"="+r.Value)
	}
	if want := []string{"a=1@100", "a=3@111", "b=5@111"}; !slices.Equal(got, want) {
		t.Fatalf("stream-time punctuation: got %q want %q", got, want)
	}
	d.AdvanceWallClockTime(500 * time.Millisecond)
	if wall != 0 {
		t.Fatalf("wall-clock punctuation fired early")
	}
	d.AdvanceWallClockTime(2500 * time.Millisecond)
	if wall != 1 {
		t.Fatalf("wall-clock punctuations: %d, want 1 (missed intervals fire once)", wall)
	}
	if c := streamstest.StoreContents[string, int64](d, "sums"); c["a"] != 3 || c["b"] != 5 {
		t.Fatalf("store %v", c)
	}
}

func TestDeserializationHandler(t *testing.T) {
	build := func() *streams.Topology {
		b := streams.NewBuilder()
		streams.StreamFrom[string, int64](b, "in", nil, nil).To("out")
		return mustBuild(t, b)
	}
	d := streamstest.New(t, build(), streamstest.WithDeserializationHandler(streams.LogAndContinue))
	in := streamstest.NewInputTopic[string, int64](d, "in", nil, nil)
	in.PipeRaw([]byte("k"), []byte("bad"))
	in.Pipe("k", 7)
	if got := streamstest.NewOutputTopic[string, int64](d, "out", nil, nil).ReadKeyValues(); len(got) != 1 || got[0].Value != 7 {
		t.Fatalf("continue: %v", got)
	}
	h, err := streams.NewHarness(build(), streams.HarnessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Pipe("in", []byte("k"), []byte("bad"), 0, nil); !errors.Is(err, streams.ErrSerde) {
		t.Fatalf("fail handler: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	type custom struct{ A int }
	b := streams.NewBuilder()
	s := streams.StreamFrom[string, custom](b, "in", nil, streams.JSON[custom]())
	streams.MapValues(s, func(_ string, v custom) custom { return v }).To("out") // no value serde
	if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
		t.Fatalf("missing serde: %v", err)
	}
	b = streams.NewBuilder()
	streams.StreamFrom[string, string](b, "in", nil, nil)
	streams.StreamFrom[string, string](b, "in", nil, nil)
	if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
		t.Fatalf("topic read twice: %v", err)
	}
	b = streams.NewBuilder()
	streams.Process(streams.StreamFrom[string, string](b, "in", nil, nil),
		streams.NewProcessorFunc(func(*streams.ProcessorContext[string, string], streams.Record[string, string]) error { return nil }),
		streams.WithStores("nope"))
	if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
		t.Fatalf("unknown store: %v", err)
	}
}

func TestSerdes(t *testing.T) {
	type point struct{ X, Y int }
	check := func(name string, enc []byte, err error, want string) {
		t.Helper()
		if err != nil || fmt.Sprintf("%x", enc) != want {
			t.Fatalf("%s: %x %v, want %s", name, enc, err, want)
		}
	}
	b, err := streams.Int64().Serialize(258)
	check("int64", b, err, "0000000000000102")
	b, err = streams.Int32().Serialize(-1)
	check("int32", b, err, "ffffffff")
	b, err = streams.Float64().Serialize(1.5)
	check("float64", b, err, "3ff8000000000000")
	b, err = streams.JSON[point]().Serialize(point{1, 2})
	check("json", b, err, fmt.Sprintf("%x", `{"X":1,"Y":2}`))
	if p, err := streams.JSON[point]().Deserialize([]byte(`{"X":3}`)); err != nil || p.X != 3 {
		t.Fatalf("json decode %v %v", p, err)
	}
	if _, err := streams.Int64().Deserialize([]byte{1}); !errors.Is(err, streams.ErrSerde) {
		t.Fatalf("short int64: %v", err)
	}
}

func TestDescribeProcessorTopology(t *testing.T) {
	b := streams.NewBuilder()
	b.AddStore(streams.KeyValueStoreBuilder[string, int64]("Counts", nil, nil))
	s := streams.StreamFrom[string, string](b, "streams-plaintext-input", nil, nil, streams.Named("Source"))
	streams.Process(s, streams.NewProcessorFunc(func(*streams.ProcessorContext[string, string], streams.Record[string, string]) error { return nil }),
		streams.Named("Process"), streams.WithStores("Counts")).To("streams-wordcount-processor-output", streams.Named("Sink"))
	want := "Topologies:\n" +
		"   Sub-topology: 0\n" +
		"    Source: Source (topics: [streams-plaintext-input])\n" +
		"      --> Process\n" +
		"    Processor: Process (stores: [Counts])\n" +
		"      --> Sink\n" +
		"      <-- Source\n" +
		"    Sink: Sink (topic: streams-wordcount-processor-output)\n" +
		"      <-- Process\n\n"
	if got := mustBuild(t, b).Describe().String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
