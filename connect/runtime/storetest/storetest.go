package storetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/gregorhq/gregor/connect/runtime"
)

// Opened is a store under test and, for a store that keeps its data, how
// to open another store over the same data.
type Opened[S any] struct {
	// Store is an empty store. The backend closes it (t.Cleanup).
	Store S
	// Reopen opens a second store that sees what Store wrote; nil for a
	// store that keeps nothing beyond itself (the memory stores).
	Reopen func(t *testing.T) S
}

// cancelled returns a context that is already done.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// wantCancelled fails t unless err is what a write under a done context
// returns.
func wantCancelled(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, runtime.ErrStoreWrite) || !errors.Is(err, context.Canceled) {
		t.Fatalf("%s under a cancelled context: err = %v, want one wrapping ErrStoreWrite and context.Canceled", what, err)
	}
}

// must fails t on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ConfigStore runs the ConfigStore conformance tests; open returns a new,
// empty store for each of them.
func ConfigStore(t *testing.T, open func(t *testing.T) Opened[runtime.ConfigStore]) {
	ctx := context.Background()
	t.Run("Empty", func(t *testing.T) {
		s := open(t).Store
		if got := s.Connectors(ctx); len(got) != 0 {
			t.Fatalf("Connectors = %v, want none", got)
		}
		if _, ok := s.Connector(ctx, "none"); ok {
			t.Fatal("Connector(none) found")
		}
	})
	t.Run("PutAndRead", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "PutConnector b", s.PutConnector(ctx, "b", map[string]string{"connector.class": "B"}, runtime.TargetStarted))
		must(t, "PutConnector a", s.PutConnector(ctx, "a", map[string]string{"connector.class": "A", "k": "v"}, runtime.TargetPaused))
		must(t, "PutTaskConfigs", s.PutTaskConfigs(ctx, "a", []map[string]string{{"t": "0"}, {"t": "1"}}))
		must(t, "PutTargetState", s.PutTargetState(ctx, "b", runtime.TargetStopped))
		check := func(t *testing.T, s runtime.ConfigStore) {
			t.Helper()
			if got := s.Connectors(ctx); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("Connectors = %v, want [a b] (sorted)", got)
			}
			a, ok := s.Connector(ctx, "a")
			if !ok || !maps.Equal(a.Config, map[string]string{"connector.class": "A", "k": "v"}) || a.Target != runtime.TargetPaused ||
				len(a.Tasks) != 2 || a.Tasks[0]["t"] != "0" || a.Tasks[1]["t"] != "1" {
				t.Fatalf("Connector(a) = %+v, %v", a, ok)
			}
			b, ok := s.Connector(ctx, "b")
			if !ok || b.Config["connector.class"] != "B" || b.Target != runtime.TargetStopped || len(b.Tasks) != 0 {
				t.Fatalf("Connector(b) = %+v, %v", b, ok)
			}
		}
		check(t, s)
		if o.Reopen != nil {
			check(t, o.Reopen(t))
		}
	})
	t.Run("ReplaceAndRemove", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "PutConnector", s.PutConnector(ctx, "c", map[string]string{"v": "1"}, runtime.TargetStarted))
		must(t, "PutTaskConfigs", s.PutTaskConfigs(ctx, "c", []map[string]string{{"t": "0"}, {"t": "1"}}))
		must(t, "PutTaskConfigs again", s.PutTaskConfigs(ctx, "c", []map[string]string{{"t": "x"}}))
		must(t, "PutConnector again", s.PutConnector(ctx, "c", map[string]string{"v": "2"}, runtime.TargetStarted))
		c, ok := s.Connector(ctx, "c")
		if !ok || c.Config["v"] != "2" || len(c.Tasks) != 1 || c.Tasks[0]["t"] != "x" {
			t.Fatalf("Connector(c) after replacing = %+v, %v", c, ok)
		}
		must(t, "PutConnector d", s.PutConnector(ctx, "d", map[string]string{"v": "1"}, runtime.TargetStarted))
		must(t, "RemoveConnector", s.RemoveConnector(ctx, "d"))
		for _, st := range []runtime.ConfigStore{s, reopened(t, o)} {
			if _, ok := st.Connector(ctx, "d"); ok {
				t.Fatal("removed connector d still found")
			}
			if got := st.Connectors(ctx); !slices.Equal(got, []string{"c"}) {
				t.Fatalf("Connectors = %v, want [c]", got)
			}
		}
	})
	t.Run("ReadsReturnCopies", func(t *testing.T) {
		s := open(t).Store
		cfg := map[string]string{"k": "v"}
		must(t, "PutConnector", s.PutConnector(ctx, "e", cfg, runtime.TargetStarted))
		cfg["k"] = "changed by the caller"
		got, _ := s.Connector(ctx, "e")
		got.Config["k"] = "changed by a reader"
		if again, _ := s.Connector(ctx, "e"); again.Config["k"] != "v" {
			t.Fatalf("Connector(e).Config[k] = %q, want v", again.Config["k"])
		}
	})
	t.Run("CancelledWrites", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "PutConnector", s.PutConnector(ctx, "f", map[string]string{"v": "1"}, runtime.TargetStarted))
		done := cancelled()
		wantCancelled(t, "PutConnector", s.PutConnector(done, "g", map[string]string{"v": "1"}, runtime.TargetStarted))
		wantCancelled(t, "PutTaskConfigs", s.PutTaskConfigs(done, "f", []map[string]string{{"t": "0"}}))
		wantCancelled(t, "PutTargetState", s.PutTargetState(done, "f", runtime.TargetPaused))
		wantCancelled(t, "RemoveConnector", s.RemoveConnector(done, "f"))
		for _, st := range []runtime.ConfigStore{s, reopened(t, o)} {
			f, ok := st.Connector(ctx, "f")
			if !ok || f.Target != runtime.TargetStarted || len(f.Tasks) != 0 {
				t.Fatalf("Connector(f) after cancelled writes = %+v, %v", f, ok)
			}
			if got := st.Connectors(ctx); !slices.Equal(got, []string{"f"}) {
				t.Fatalf("Connectors after cancelled writes = %v, want [f]", got)
			}
		}
	})
}

// reopened returns o.Reopen(t), or o.Store for a store that keeps
// nothing beyond itself.
func reopened[S any](t *testing.T, o Opened[S]) S {
	if o.Reopen == nil {
		return o.Store
	}
	return o.Reopen(t)
}
