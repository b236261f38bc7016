package streams_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

// productOf derives an order's product ID from its value "product:quantity".
func productOf(_ string, order string) (string, bool) {
	p, _, _ := strings.Cut(order, ":")
	return p, p != ""
}

// globalJoinTopology joins orders with the global products table, inner to "named" and
// left to "all".
func globalJoinTopology(t *testing.T, opts ...streams.Option) *streams.Topology {
	t.Helper()
	b := streams.NewBuilder()
	products := streams.GlobalTableFrom[string, string](b, "products", nil, nil, opts...)
	orders := streams.StreamFrom[string, string](b, "orders", nil, nil)
	streams.StreamGlobalTableJoin(orders, products, productOf,
		func(_ string, o, p string) string { return o + "/" + p }).To("named")
	streams.StreamGlobalTableLeftJoin(orders, products, productOf,
		func(_ string, o string, p *string) string {
			if p == nil {
				return o + "/?"
			}
			return o + "/" + *p
		}).To("all")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestStreamGlobalTableJoin(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []streams.Option
	}{{"goleveldb", nil}, {"in-memory", []streams.Option{streams.InMemory()}}} {
		t.Run(tc.name, func(t *testing.T) {
			d := streamstest.New(t, globalJoinTopology(t, tc.opts...))
			products := streamstest.NewInputTopic[string, string](d, "products", nil, nil)
			orders := streamstest.NewInputTopic[string, string](d, "orders", nil, nil)
			named := streamstest.NewOutputTopic[string, string](d, "named", nil, nil)

			orders.PipeAt("o1", "p1:2", 10) // no product yet: inner drops, left keeps
			products.PipeAt("p1", "apple", 5)
			orders.PipeAt("o2", "p1:1", 11)
			products.PipeAt("p1", "green apple", 20) // updates emit nothing by themselves
			orders.PipeAt("o3", "p1:5", 12)          // sees the update whatever its timestamp
			orders.PipeAt("o4", ":7", 13)            // no key derived: inner drops, left keeps
			orders.PipeTombstone("o5")               // null values are dropped by both
			products.PipeTombstone("p1")
			orders.PipeAt("o6", "p1:1", 14)
			orders.PipeValue("p2:1") // a null stream key is fine: the join key comes from the value
			products.PipeAt("p2", "pear", 30)
			orders.PipeAt("o7", "p2:3", 15)

			wantNamed := []string{"o2=p1:1/apple", "o3=p1:5/green apple", "o7=p2:3/pear"}
			wantAll := []string{"o1=p1:2/?", "o2=p1:1/apple", "o3=p1:5/green apple", "o4=:7/?", "o6=p1:1/?", "<nil>=p2:1/?", "o7=p2:3/pear"}
			if got := kvStrings(named.ReadRecords()); !slices.Equal(got, wantNamed) {
				t.Fatalf("inner join:\n got  %q\n want %q", got, wantNamed)
			}
			if got := rawStrings(d.Harness().Output("all")); !slices.Equal(got, wantAll) {
				t.Fatalf("left join:\n got  %q\n want %q", got, wantAll)
			}
			if got := d.DroppedRecords(); got != 2 { // o5's tombstone, once per join
				t.Fatalf("dropped records: %d, want 2", got)
			}
		})
	}
}

// kvStrings renders records as "key=value".
func kvStrings(recs []streams.Record[string, string]) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key + "=" + r.Value
	}
	return out
}

// rawStrings renders produced records as "key=value", "<nil>" for a null key.
func rawStrings(recs []streams.ProducedRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		k := string(r.Key)
		if r.Key == nil {
			k = "<nil>"
		}
		out[i] = k + "=" + string(r.Value)
	}
	return out
}

func TestGlobalTableDeserializationErrors(t *testing.T) {
	build := func() *streams.Topology {
		b := streams.NewBuilder()
		prices := streams.GlobalTableFrom[string, int64](b, "prices", nil, nil)
		orders := streams.StreamFrom[string, string](b, "orders", nil, nil)
		streams.StreamGlobalTableJoin(orders, prices, func(_, o string) (string, bool) { return o, true },
			func(_ string, o string, p int64) string { return fmt.Sprintf("%s@%d", o, p) }).To("priced")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	// LogAndContinue: the bad row is skipped, the good one is used.
	d := streamstest.New(t, build(), streamstest.WithDeserializationHandler(streams.LogAndContinue))
	prices := streamstest.NewInputTopic[string, int64](d, "prices", nil, nil)
	prices.PipeRaw([]byte("pen"), []byte("not eight bytes"))
	prices.PipeAt("ink", 7, 1)
	orders := streamstest.NewInputTopic[string, string](d, "orders", nil, nil)
	orders.PipeAt("a", "pen", 2)
	orders.PipeAt("b", "ink", 3)
	if got, want := kvStrings(streamstest.NewOutputTopic[string, string](d, "priced", nil, nil).ReadRecords()), []string{"b=ink@7"}; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}

	// LogAndFail (the default): the bad row stops the pipeline.
	h, err := streams.NewHarness(build(), streams.HarnessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Pipe("prices", []byte("pen"), []byte("bad"), 1, nil); !errors.Is(err, streams.ErrSerde) {
		t.Fatalf("bad global row with LogAndFail: %v, want ErrSerde", err)
	}
}

func TestGlobalTableTopology(t *testing.T) {
	desc := globalJoinTopology(t).Describe().String()
	for _, want := range []string{
		"Sub-topology: 1 for global store (will not generate tasks)",
		"Source: KSTREAM-SOURCE-0000000000 (topics: [products])",
		"Processor: KTABLE-SOURCE-0000000001 (stores: [products-STATE-STORE-0000000002])",
	} {
		if !strings.Contains(desc, want) {
			t.Fatalf("description lacks %q:\n%s", want, desc)
		}
	}

	cases := []struct {
		name  string
		build func(b *streams.Builder)
	}{
		{"topic also a stream source", func(b *streams.Builder) {
			streams.GlobalTableFrom[string, string](b, "t", nil, nil)
			streams.StreamFrom[string, string](b, "t", nil, nil).To("out")
		}},
		{"two global tables on one topic", func(b *streams.Builder) {
			streams.GlobalTableFrom[string, string](b, "t", nil, nil)
			streams.GlobalTableFrom[string, string](b, "t", nil, nil)
		}},
		{"store name taken", func(b *streams.Builder) {
			streams.GlobalTableFrom[string, string](b, "t", nil, nil, streams.As("s"))
			streams.TableFrom[string, string](b, "u", nil, nil, streams.As("s"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := streams.NewBuilder()
			tc.build(b)
			if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
				t.Fatalf("Build: %v, want ErrTopology", err)
			}
		})
	}
}

// A running application: the global table is read in full before the first order is
// processed (so the inner join drops nothing, although the orders topic has a different
// partition count), follows later updates, and a restart resumes from the checkpoint.
func TestAppGlobalTable(t *testing.T) {
	b := startBroker(t)
	for topic, n := range map[string]int32{"orders": 4, "products": 3, "named": 1, "all": 1} {
		createTopic(t, b.Addr(), topic, n)
	}
	prod := client(t, b.Addr())
	var products, orders []string
	want := map[string]string{}
	for i := range 300 {
		products = append(products, fmt.Sprintf("p%d", i), fmt.Sprintf("product-%d", i))
	}
	for i := range 200 {
		o, p := fmt.Sprintf("o%d", i), fmt.Sprintf("p%d", i%300)
		orders = append(orders, o, p+":1")
		want[o] = p + ":1/product-" + p[1:]
	}
	produceKV(t, prod, "products", products...)
	produceKV(t, prod, "orders", orders...)

	dir := t.TempDir()
	start := func() *streams.App {
		app, err := streams.New(globalJoinTopology(t), streams.Config{
			ApplicationID: "globals", Brokers: []string{b.Addr()}, StateDir: dir,
			CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
			ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return app
	}
	app := start()
	readUntil(t, b.Addr(), "named", want)

	// Updates reach the running global consumer.
	produceKV(t, prod, "products", "p7", "renamed", "p999", "new")
	waitFor(t, "product updates in the global store", func() bool {
		v, found, err := streams.GlobalStoreGet[string, string](app, "products-STATE-STORE-0000000002", "p999", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return found && v == "new"
	})
	produceKV(t, prod, "orders", "o1000", "p7:2", "o1001", "p999:3")
	want["o1000"], want["o1001"] = "p7:2/renamed", "p999:3/new"
	readUntil(t, b.Addr(), "named", want)
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The clean close checkpointed every products partition at its end.
	ckpt, err := state.ReadCheckpoint(filepath.Join(dir, "globals", "global", state.CheckpointFileName))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for p := range int32(3) {
		off, ok := ckpt[state.TopicPartition{Topic: "products", Partition: p}]
		if !ok {
			t.Fatalf("checkpoint lacks products-%d: %v", p, ckpt)
		}
		total += off
	}
	if total != 302 {
		t.Fatalf("checkpointed offsets sum to %d, want 302 (every product record)", total)
	}

	// A restart with the store on disk reads only what came after the checkpoint.
	produceKV(t, prod, "products", "p8", "restocked")
	produceKV(t, prod, "orders", "o1002", "p8:1")
	want["o1002"] = "p8:1/restocked"
	app = start()
	defer app.Close(context.Background())
	readUntil(t, b.Addr(), "named", want)
	if _, err := os.Stat(filepath.Join(dir, "globals", "global", "products-STATE-STORE-0000000002")); err != nil {
		t.Fatalf("persistent global store directory: %v", err)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
