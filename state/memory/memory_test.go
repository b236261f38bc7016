package memory_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/memory"
	"github.com/gregorhq/gregor/state/statetest"
)

// Backend is the memory backend as the conformance suite sees it.
var Backend = statetest.Backend{
	Name:             "memory",
	NewKeyValueStore: func(_ testing.TB, name string) state.KeyValueStore { return memory.NewKeyValueStore(name) },
	NewSegments:      func(_ testing.TB, name string) state.Segments { return memory.Segments(name) },
}

func TestConformance(t *testing.T) { statetest.Run(t, Backend) }

// PutAll over sorted runs (the finger search) and unsorted entries, with deletes and
// repeated keys, leaves the same content as a map, in both directions.
func TestPutAllBatchesMatchModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	s := memory.NewKeyValueStore("m")
	model := map[string]string{}
	for round := range 200 {
		batch := make([]state.KeyValue, rnd.IntN(300))
		for i := range batch {
			k := []byte(fmt.Sprintf("k%04d", rnd.IntN(2000)))
			var v []byte
			if rnd.IntN(4) > 0 {
				v = []byte(fmt.Sprint(round, i))
			}
			batch[i] = state.KeyValue{Key: k, Value: v}
		}
		if round%3 > 0 { // mostly sorted batches, as restoration gives; stable for equal keys
			slices.SortStableFunc(batch, func(a, b state.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
		}
		if err := s.PutAll(batch); err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			if e.Value == nil {
				delete(model, string(e.Key))
			} else {
				model[string(e.Key)] = string(e.Value)
			}
		}
	}
	want := slices.Sorted(maps.Keys(model))
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	for _, dir := range []struct {
		name string
		open func() (state.KeyValueIterator, error)
		keys []string
	}{{"forward", s.All, want}, {"reverse", s.ReverseAll, reversed}} {
		it, err := dir.open()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for it.Next() {
			if model[string(it.Key())] != string(it.Value()) {
				t.Fatalf("%s: %s = %q, want %q", dir.name, it.Key(), it.Value(), model[string(it.Key())])
			}
			got = append(got, string(it.Key()))
		}
		_ = it.Close()
		if !slices.Equal(got, dir.keys) {
			t.Fatalf("%s: %d keys, want %d", dir.name, len(got), len(dir.keys))
		}
	}
	if n, _ := s.ApproximateNumEntries(); n != int64(len(model)) {
		t.Fatalf("%d entries, want %d", n, len(model))
	}
}
