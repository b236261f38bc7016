package streams

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// orderFK extracts the product of an order "product:quantity"; ":quantity" has none.
func orderFK(_ string, v string) (string, bool) {
	p, _, _ := strings.Cut(v, ":")
	return p, p != ""
}

func TestForeignKeyJoin(t *testing.T) {
	steps := []step{
		put("products", "p1", "apple", 1),
		put("orders", "o1", "p1:2", 2),
		put("orders", "o2", "p2:1", 3),
		put("products", "p2", "pear", 4),
		put("products", "p1", "green-apple", 5),
		put("orders", "o1", "p2:5", 6),  // foreign key changes p1 -> p2
		put("products", "p1", "red", 7), // o1 no longer subscribes to p1
		tomb("products", "p2", 8),
		tomb("orders", "o2", 9),
		put("orders", "o3", "p1:1", 10),
		put("orders", "o3", ":1", 11), // no foreign key any more
		tomb("orders", "o3", 12),
		put("orders", "o4", ":7", 13), // no foreign key from the start
		put("products", "p3", "fig", 14),
		put("orders", "o5", "p3:1", 15),
		put("orders", "o5", "p3:2", 16), // same foreign key, new value
	}
	cases := []struct {
		name    string
		left    bool
		want    []string
		dropped int64
	}{
		{"inner", false, []string{
			"", "o1=p1:2/apple@2", "", "o2=p2:1/pear@4", "o1=p1:2/green-apple@5", "o1=p2:5/pear@6", "",
			"o1=<null>@8|o2=<null>@8", "", "o3=p1:1/red@10", "o3=<null>@11", "", "", "", "o5=p3:1/fig@15", "o5=p3:2/fig@16",
		}, 1},
		{"left", true, []string{
			"", "o1=p1:2/apple@2", "o2=p2:1/null@3", "o2=p2:1/pear@4", "o1=p1:2/green-apple@5", "o1=p2:5/pear@6", "",
			"o1=p2:5/null@8|o2=p2:1/null@8", "o2=<null>@9", "o3=p1:1/red@10", "o3=:1/null@11", "o3=<null>@12", "o4=:7/null@13", "", "o5=p3:1/fig@15", "o5=p3:2/fig@16",
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			orders := TableFrom[string, string](b, "orders", nil, nil)
			products := TableFrom[string, string](b, "products", nil, nil)
			var j Table[string, string]
			if tc.left {
				j = TableForeignKeyLeftJoin(orders, products, orderFK, func(_, o string, p *string) string { return o + "/" + orNull(p) }, nil, Named("fk"), As("orders-products"))
			} else {
				j = TableForeignKeyJoin(orders, products, orderFK, func(_, o, p string) string { return o + "/" + p }, nil, Named("fk"), As("orders-products"))
			}
			j.ToStream().To("out")
			h := newTestHarness(t, b)
			runSteps(t, h, steps, tc.want, "out", nil)
			if got := h.DroppedRecords(); got != tc.dropped {
				t.Errorf("dropped %d records, want %d", got, tc.dropped)
			}
			if len(h.Output("streamstest-fk-subscription-registration-topic")) == 0 || len(h.Output("streamstest-fk-subscription-response-topic")) == 0 {
				t.Error("no records went through the subscription topics")
			}
		})
	}
}

// Answers to a value the left row no longer holds are dropped: the hash they carry is
// the old value's.
func TestForeignKeyJoinDropsStaleResponses(t *testing.T) {
	b := NewBuilder()
	orders := TableFrom[string, string](b, "orders", nil, nil)
	products := TableFrom[string, string](b, "products", nil, nil)
	TableForeignKeyLeftJoin(orders, products, orderFK, func(_, o string, p *string) string { return o + "/" + orNull(p) }, nil, Named("fk")).ToStream().To("out")
	h := newTestHarness(t, b)
	put("orders", "o1", "p1:1", 1).pipe(t, h)
	put("orders", "o1", "p2:1", 2).pipe(t, h)
	h.Output("out")
	rs := responseSerde[string]{vs: String()}
	respond := func(hashOf string, value string) []string {
		vb, err := rs.Serialize(response[string]{hash: valueHash([]byte(hashOf)), value: value, has: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Pipe("streamstest-fk-subscription-response-topic", []byte("o1"), vb, 3, nil); err != nil {
			t.Fatal(err)
		}
		return show(h.Output("out"))
	}
	if got := respond("p1:1", "late-apple"); len(got) != 0 {
		t.Errorf("a response for the old value was joined: %v", got)
	}
	if got := strings.Join(respond("p2:1", "pear"), "|"); got != "o1=p2:1/pear@3" {
		t.Errorf("a response for the current value gave %q", got)
	}
}

func TestForeignKeyJoinWireFormats(t *testing.T) {
	ss := subscriptionSerde[string]{ks: String()}
	for _, s := range []subscription[string]{
		{hash: valueHash([]byte("v")), instruction: propagateNullIfNoFKValAvailable, partition: 7, pk: "key"},
		{instruction: deleteKeyNoPropagate, partition: 0, pk: ""},
	} {
		b, err := ss.Serialize(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ss.Deserialize(b)
		if err != nil || string(got.hash) != string(s.hash) || (got.hash == nil) != (s.hash == nil) || got.instruction != s.instruction || got.partition != s.partition || got.pk != s.pk {
			t.Errorf("round trip of %+v: %+v, %v", s, got, err)
		}
	}
	rs := responseSerde[string]{vs: String()}
	for _, r := range []response[string]{{hash: valueHash([]byte("v")), value: "x", has: true}, {}} {
		b, err := rs.Serialize(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rs.Deserialize(b)
		if err != nil || string(got.hash) != string(r.hash) || got.value != r.value || got.has != r.has {
			t.Errorf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {0, 2, 1, 0}, {0, 0}} {
		if _, err := ss.Deserialize(bad); err == nil {
			t.Errorf("subscription %v deserialized", bad)
		}
		if _, err := rs.Deserialize(bad); err == nil && len(bad) < 3 {
			t.Errorf("response %v deserialized", bad)
		}
	}
	if got := prefixEnd([]byte{1, 0xff}); string(got) != string([]byte{2}) {
		t.Errorf("prefixEnd = %v", got)
	}
	if got := prefixEnd([]byte{0xff}); got != nil {
		t.Errorf("prefixEnd = %v", got)
	}
}

// Random updates and deletes on both sides: after every step the result equals the
// join of the two tables as they stand.
func TestForeignKeyJoinRandom(t *testing.T) {
	for _, left := range []bool{false, true} {
		b := NewBuilder()
		orders := TableFrom[string, string](b, "orders", nil, nil)
		products := TableFrom[string, string](b, "products", nil, nil)
		if left {
			TableForeignKeyLeftJoin(orders, products, orderFK, func(_, o string, p *string) string { return o + "/" + orNull(p) }, nil).ToStream().To("out")
		} else {
			TableForeignKeyJoin(orders, products, orderFK, func(_, o, p string) string { return o + "/" + p }, nil).ToStream().To("out")
		}
		h := newTestHarness(t, b)
		rng := rand.New(rand.NewPCG(7, uint64(len(orders.n.name))))
		ot, pt, result := map[string]string{}, map[string]string{}, map[string]string{}
		for i := range 600 {
			var s step
			if rng.IntN(2) == 0 {
				k := fmt.Sprintf("o%d", rng.IntN(8))
				if rng.IntN(4) == 0 {
					s = tomb("orders", k, int64(i))
					delete(ot, k)
				} else {
					fk := ""
					if rng.IntN(6) > 0 {
						fk = fmt.Sprintf("p%d", rng.IntN(4))
					}
					s = put("orders", k, fmt.Sprintf("%s:%d", fk, rng.IntN(3)), int64(i))
					ot[k] = s.value
				}
			} else {
				k := fmt.Sprintf("p%d", rng.IntN(4))
				if rng.IntN(3) == 0 {
					s = tomb("products", k, int64(i))
					delete(pt, k)
				} else {
					s = put("products", k, fmt.Sprintf("name%d", rng.IntN(3)), int64(i))
					pt[k] = s.value
				}
			}
			s.pipe(t, h)
			for _, r := range h.Output("out") {
				if r.Value == nil {
					delete(result, string(r.Key))
				} else {
					result[string(r.Key)] = string(r.Value)
				}
			}
			want := map[string]string{}
			for k, o := range ot {
				fk, ok := orderFK(k, o)
				p, found := pt[fk]
				switch {
				case ok && found:
					want[k] = o + "/" + p
				case left:
					want[k] = o + "/null"
				}
			}
			if !maps.Equal(result, want) {
				t.Fatalf("left=%v step %d %+v:\n got  %v\n want %v", left, i, s, result, want)
			}
		}
	}
}
