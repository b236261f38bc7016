package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/gregorhq/gregor/connect/runtime"
)

// OffsetStore runs the OffsetStore conformance tests; open returns a new,
// empty store for each of them.
func OffsetStore(t *testing.T, open func(t *testing.T) Opened[runtime.OffsetStore]) {
	ctx := context.Background()
	k1, _ := runtime.OffsetKey("src", map[string]any{"filename": "/a"})
	k2, _ := runtime.OffsetKey("src", map[string]any{"filename": "/b"})
	k3, _ := runtime.OffsetKey("other", map[string]any{"filename": "/a"})
	t.Run("SetGetKeys", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "Set", s.Set(ctx, map[string][]byte{k1: []byte(`{"position":10}`), k2: []byte(`{"position":20}`)}))
		must(t, "Set again", s.Set(ctx, map[string][]byte{k2: []byte(`{"position":21}`), k3: []byte(`{"position":1}`)}))
		must(t, "Set delete", s.Set(ctx, map[string][]byte{k3: nil}))
		check := func(t *testing.T, s runtime.OffsetStore) {
			t.Helper()
			got, err := s.Get(ctx, []string{k1, k2, k3, "absent"})
			must(t, "Get", err)
			if len(got) != 2 || string(got[k1]) != `{"position":10}` || string(got[k2]) != `{"position":21}` {
				t.Fatalf("Get = %q, want k1 and k2 only (deleted and absent keys left out)", got)
			}
			keys, err := s.Keys(ctx)
			must(t, "Keys", err)
			if want := []string{k1, k2}; !slices.Equal(keys, slices.Sorted(slices.Values(want))) {
				t.Fatalf("Keys = %q, want %q sorted", keys, want)
			}
		}
		check(t, s)
		if o.Reopen != nil {
			check(t, o.Reopen(t))
		}
	})
	t.Run("GetReturnsCopies", func(t *testing.T) {
		s := open(t).Store
		v := []byte(`{"position":1}`)
		must(t, "Set", s.Set(ctx, map[string][]byte{k1: v}))
		v[2] = 'X'
		got, err := s.Get(ctx, []string{k1})
		must(t, "Get", err)
		if string(got[k1]) != `{"position":1}` {
			t.Fatalf("Get = %q after the caller changed its slice", got[k1])
		}
	})
	t.Run("CancelledWrites", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "Set", s.Set(ctx, map[string][]byte{k1: []byte(`{"position":1}`)}))
		wantCancelled(t, "Set", s.Set(cancelled(), map[string][]byte{k1: []byte(`{"position":2}`), k2: []byte(`{"position":2}`)}))
		for _, st := range []runtime.OffsetStore{s, reopened(t, o)} {
			got, err := st.Get(ctx, []string{k1, k2})
			must(t, "Get", err)
			if len(got) != 1 || string(got[k1]) != `{"position":1}` {
				t.Fatalf("Get after a cancelled Set = %q", got)
			}
		}
	})
}
