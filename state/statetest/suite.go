package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gregorhq/gregor/state"
)

// Backend describes the backend under test.
type Backend struct {
	// Name labels the subtests.
	Name string
	// NewKeyValueStore returns a new, empty key-value store. The suite closes it.
	NewKeyValueStore func(t testing.TB, name string) state.KeyValueStore
	// NewSegments returns new, empty segment storage for window and session stores.
	NewSegments func(t testing.TB, name string) state.Segments
}

// Run runs the conformance suite against b.
func Run(t *testing.T, b Backend) {
	t.Run(b.Name, func(t *testing.T) {
		for _, tc := range kvTests {
			t.Run("kv/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s := b.NewKeyValueStore(t, "kv")
				t.Cleanup(func() { _ = s.Close() })
				tc.fn(t, s)
			})
		}
		for _, tc := range windowTests {
			t.Run("window/"+tc.name, func(t *testing.T) {
				t.Parallel()
				cfg := tc.cfg
				s, err := state.NewWindowStore("win", b.NewSegments(t, "win"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				tc.fn(t, s)
			})
		}
		for _, tc := range sessionTests {
			t.Run("session/"+tc.name, func(t *testing.T) {
				t.Parallel()
				s, err := state.NewSessionStore("sess", b.NewSegments(t, "sess"), tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				tc.fn(t, s)
			})
		}
	})
}

func b(s string) []byte { return []byte(s) }

// Collect returns a function that reads an iterator to the end, closes it and returns its
// entries with copied bytes, failing t on errors: Collect(t)(store.All()).
func Collect(t testing.TB) func(state.KeyValueIterator, error) []state.KeyValue {
	return func(it state.KeyValueIterator, err error) []state.KeyValue {
		t.Helper()
		return collect(t, it, err)
	}
}

func collect(t testing.TB, it state.KeyValueIterator, err error) []state.KeyValue {
	t.Helper()
	if err != nil {
		t.Fatalf("open iterator: %v", err)
	}
	defer it.Close()
	var out []state.KeyValue
	for it.Next() {
		out = append(out, state.KeyValue{Key: bytes.Clone(it.Key()), Value: bytes.Clone(it.Value())})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func keys(kvs []state.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

func mustPut(t testing.TB, s state.KeyValueStore, kvs ...string) {
	t.Helper()
	for i := 0; i+1 < len(kvs); i += 2 {
		if err := s.Put(b(kvs[i]), b(kvs[i+1])); err != nil {
			t.Fatalf("put %q: %v", kvs[i], err)
		}
	}
}

func wantKeys(t testing.TB, what string, got []state.KeyValue, want ...string) {
	t.Helper()
	if g := keys(got); !slices.Equal(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Fatalf("%s: got keys %q, want %q", what, g, want)
	}
}

var kvTests = []struct {
	name string
	fn   func(t *testing.T, s state.KeyValueStore)
}{
	{"get-put-overwrite", func(t *testing.T, s state.KeyValueStore) {
		if _, err := s.Get(b("a")); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("get missing: err %v, want ErrNotFound", err)
		}
		mustPut(t, s, "a", "1", "a", "2")
		if v, err := s.Get(b("a")); err != nil || string(v) != "2" {
			t.Fatalf("get a = %q, %v; want 2", v, err)
		}
	}},
	{"empty-value-is-not-missing", func(t *testing.T, s state.KeyValueStore) {
		if err := s.Put(b("e"), []byte{}); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(b("e")); err != nil || len(v) != 0 {
			t.Fatalf("get empty = %q, %v", v, err)
		}
	}},
	{"put-copies-input", func(t *testing.T, s state.KeyValueStore) {
		k, v := b("key"), b("val")
		if err := s.Put(k, v); err != nil {
			t.Fatal(err)
		}
		k[0], v[0] = 'X', 'X'
		if got, err := s.Get(b("key")); err != nil || string(got) != "val" {
			t.Fatalf("after mutating inputs: %q, %v", got, err)
		}
	}},
	{"nil-key", func(t *testing.T, s state.KeyValueStore) {
		if err := s.Put(nil, b("x")); !errors.Is(err, state.ErrNilKey) {
			t.Fatalf("put nil key: %v", err)
		}
	}},
	{"delete-and-put-nil", func(t *testing.T, s state.KeyValueStore) {
		mustPut(t, s, "a", "1", "b", "2")
		if err := s.Delete(b("a")); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(b("b"), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(b("never")); err != nil {
			t.Fatalf("delete absent: %v", err)
		}
		wantKeys(t, "all", Collect(t)(s.All()))
	}},
	{"put-if-absent", func(t *testing.T, s state.KeyValueStore) {
		old, err := s.PutIfAbsent(b("a"), b("1"))
		if err != nil || old != nil {
			t.Fatalf("first: %q, %v", old, err)
		}
		old, err = s.PutIfAbsent(b("a"), b("2"))
		if err != nil || string(old) != "1" {
			t.Fatalf("second: %q, %v; want 1", old, err)
		}
		if v, _ := s.Get(b("a")); string(v) != "1" {
			t.Fatalf("value changed to %q", v)
		}
	}},
	{"put-all", func(t *testing.T, s state.KeyValueStore) {
		mustPut(t, s, "gone", "x")
		err := s.PutAll([]state.KeyValue{{Key: b("c"), Value: b("3")}, {Key: b("a"), Value: b("1")}, {Key: b("gone")}, {Key: b("a"), Value: b("11")}})
		if err != nil {
			t.Fatal(err)
		}
		got := Collect(t)(s.All())
		wantKeys(t, "all", got, "a", "c")
		if string(got[0].Value) != "11" {
			t.Fatalf("later entry must win: %q", got[0].Value)
		}
	}},
	{"ranges", func(t *testing.T, s state.KeyValueStore) {
		mustPut(t, s, "d", "4", "a", "1", "c", "3", "b", "2", "e", "5", "bb", "22")
		wantKeys(t, "range b..d", Collect(t)(s.Range(b("b"), b("d"))), "b", "bb", "c", "d")
		wantKeys(t, "reverse b..d", Collect(t)(s.ReverseRange(b("b"), b("d"))), "d", "c", "bb", "b")
		wantKeys(t, "range nil..b", Collect(t)(s.Range(nil, b("b"))), "a", "b")
		wantKeys(t, "range c..nil", Collect(t)(s.Range(b("c"), nil)), "c", "d", "e")
		wantKeys(t, "reverse nil..bb", Collect(t)(s.ReverseRange(nil, b("bb"))), "bb", "b", "a")
		wantKeys(t, "reverse ca..nil", Collect(t)(s.ReverseRange(b("ca"), nil)), "e", "d")
		wantKeys(t, "range between keys", Collect(t)(s.Range(b("ba"), b("bz"))), "bb")
		wantKeys(t, "range from > to", Collect(t)(s.Range(b("d"), b("b"))))
		wantKeys(t, "reverse from > to", Collect(t)(s.ReverseRange(b("d"), b("b"))))
		wantKeys(t, "all", Collect(t)(s.All()), "a", "b", "bb", "c", "d", "e")
		wantKeys(t, "reverse all", Collect(t)(s.ReverseAll()), "e", "d", "c", "bb", "b", "a")
	}},
	{"unsigned-byte-order", func(t *testing.T, s state.KeyValueStore) {
		for _, k := range [][]byte{{0xff}, {0x00}, {0x7f}, {0x80}, {0x00, 0x00}, {0xff, 0xff}} {
			if err := s.Put(k, b("v")); err != nil {
				t.Fatal(err)
			}
		}
		got := Collect(t)(s.All())
		want := [][]byte{{0x00}, {0x00, 0x00}, {0x7f}, {0x80}, {0xff}, {0xff, 0xff}}
		for i := range want {
			if i >= len(got) || !bytes.Equal(got[i].Key, want[i]) {
				t.Fatalf("order: got %x, want %x", keys(got), want)
			}
		}
	}},
	{"prefix-scan", func(t *testing.T, s state.KeyValueStore) {
		mustPut(t, s, "ab", "1", "abc", "2", "abd", "3", "ac", "4", "a", "5", "b", "6")
		wantKeys(t, "prefix ab", Collect(t)(s.PrefixScan(b("ab"))), "ab", "abc", "abd")
		wantKeys(t, "prefix zz", Collect(t)(s.PrefixScan(b("zz"))))
		if err := s.Put([]byte{0xff, 0xff, 1}, b("x")); err != nil {
			t.Fatal(err)
		}
		wantKeys(t, "prefix ff ff", Collect(t)(s.PrefixScan([]byte{0xff, 0xff})), "\xff\xff\x01")
	}},
	{"approximate-count", func(t *testing.T, s state.KeyValueStore) {
		for i := range 100 {
			mustPut(t, s, fmt.Sprintf("k%03d", i), "v")
		}
		mustPut(t, s, "k000", "again")
		if err := s.Delete(b("k001")); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ApproximateNumEntries(); err != nil || n < 90 || n > 110 {
			t.Fatalf("count = %d, %v; want about 99", n, err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}},
	{"iterator-early-close-and-double-close", func(t *testing.T, s state.KeyValueStore) {
		for i := range 1000 {
			mustPut(t, s, fmt.Sprintf("k%04d", i), "v")
		}
		it, err := s.All()
		if err != nil {
			t.Fatal(err)
		}
		if !it.Next() || string(it.Key()) != "k0000" {
			t.Fatal("first key")
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if err := it.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if it.Next() {
			t.Fatal("Next after Close")
		}
	}},
	{"long-iteration-sees-every-key", func(t *testing.T, s state.KeyValueStore) {
		const n = 3000
		for i := range n {
			mustPut(t, s, fmt.Sprintf("k%05d", i), fmt.Sprint(i))
		}
		if got := Collect(t)(s.All()); len(got) != n || string(got[n-1].Key) != fmt.Sprintf("k%05d", n-1) {
			t.Fatalf("all: %d entries", len(got))
		}
		if got := Collect(t)(s.ReverseAll()); len(got) != n || string(got[0].Key) != fmt.Sprintf("k%05d", n-1) {
			t.Fatalf("reverse all: %d entries", len(got))
		}
	}},
	{"closed", func(t *testing.T, s state.KeyValueStore) {
		mustPut(t, s, "a", "1")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(b("a")); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("get after close: %v", err)
		}
		if err := s.Put(b("a"), b("2")); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("put after close: %v", err)
		}
		if _, err := s.All(); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("all after close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	}},
	{"random-against-model", func(t *testing.T, s state.KeyValueStore) {
		rng := rand.New(rand.NewPCG(1, 2))
		model := map[string]string{}
		key := func() string { return fmt.Sprintf("%c%c", 'a'+rng.IntN(12), 'a'+rng.IntN(12)) }
		for i := range 3000 {
			k := key()
			switch rng.IntN(10) {
			case 0, 1:
				if err := s.Delete(b(k)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
			case 2:
				old, err := s.PutIfAbsent(b(k), b(fmt.Sprint(i)))
				if err != nil {
					t.Fatal(err)
				}
				if mv, ok := model[k]; ok != (old != nil) || ok && mv != string(old) {
					t.Fatalf("put-if-absent %q: got %q, model %q", k, old, mv)
				} else if !ok {
					model[k] = fmt.Sprint(i)
				}
			default:
				mustPut(t, s, k, fmt.Sprint(i))
				model[k] = fmt.Sprint(i)
			}
		}
		sorted := slices.Sorted(func(yield func(string) bool) {
			for k := range model {
				if !yield(k) {
					return
				}
			}
		})
		got := Collect(t)(s.All())
		wantKeys(t, "all", got, sorted...)
		for i, kv := range got {
			if model[sorted[i]] != string(kv.Value) {
				t.Fatalf("value of %q: got %q, want %q", kv.Key, kv.Value, model[sorted[i]])
			}
		}
		for range 200 {
			from, to := key(), key()
			var want, rev []string
			for _, k := range sorted {
				if k >= from && k <= to {
					want = append(want, k)
				}
			}
			rev = slices.Clone(want)
			slices.Reverse(rev)
			wantKeys(t, "range "+from+".."+to, Collect(t)(s.Range(b(from), b(to))), want...)
			wantKeys(t, "reverse "+from+".."+to, Collect(t)(s.ReverseRange(b(from), b(to))), rev...)
			p := from[:1]
			want = want[:0]
			for _, k := range sorted {
				if k[:1] == p {
					want = append(want, k)
				}
			}
			wantKeys(t, "prefix "+p, Collect(t)(s.PrefixScan(b(p))), want...)
		}
	}},
}
