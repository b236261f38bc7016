package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/gregorhq/gregor/connect/runtime"
)

// StatusStore runs the StatusStore conformance tests; open returns a new,
// empty store for each of them.
func StatusStore(t *testing.T, open func(t *testing.T) Opened[runtime.StatusStore]) {
	ctx := context.Background()
	running := runtime.Status{State: runtime.StateRunning, WorkerID: "w1:8083"}
	failed := runtime.Status{State: runtime.StateFailed, Trace: "boom", WorkerID: "w2:8083"}
	t.Run("Empty", func(t *testing.T) {
		s := open(t).Store
		if _, ok := s.Connector(ctx, "none"); ok {
			t.Fatal("Connector(none) found")
		}
		if got := s.Tasks(ctx, "none"); len(got) != 0 {
			t.Fatalf("Tasks(none) = %v", got)
		}
		if got := s.Topics(ctx, "none"); len(got) != 0 {
			t.Fatalf("Topics(none) = %v", got)
		}
	})
	t.Run("PutAndRead", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "PutConnector", s.PutConnector(ctx, "a", running))
		must(t, "PutTask 0", s.PutTask(ctx, runtime.TaskID{Connector: "a", Task: 0}, running))
		must(t, "PutTask 1", s.PutTask(ctx, runtime.TaskID{Connector: "a", Task: 1}, failed))
		must(t, "AddTopic z", s.AddTopic(ctx, "a", "z-topic"))
		must(t, "AddTopic a", s.AddTopic(ctx, "a", "a-topic"))
		must(t, "AddTopic a again", s.AddTopic(ctx, "a", "a-topic"))
		check := func(t *testing.T, s runtime.StatusStore) {
			t.Helper()
			if st, ok := s.Connector(ctx, "a"); !ok || st != running {
				t.Fatalf("Connector(a) = %+v, %v", st, ok)
			}
			if ts := s.Tasks(ctx, "a"); len(ts) != 2 || ts[0] != running || ts[1] != failed {
				t.Fatalf("Tasks(a) = %+v", ts)
			}
			if got := s.Topics(ctx, "a"); !slices.Equal(got, []string{"a-topic", "z-topic"}) {
				t.Fatalf("Topics(a) = %v, want [a-topic z-topic] (sorted, once each)", got)
			}
		}
		check(t, s)
		if o.Reopen != nil {
			check(t, o.Reopen(t))
		}
	})
	t.Run("Remove", func(t *testing.T) {
		o := open(t)
		s := o.Store
		for _, c := range []string{"b", "c"} {
			must(t, "PutConnector", s.PutConnector(ctx, c, running))
			must(t, "PutTask", s.PutTask(ctx, runtime.TaskID{Connector: c, Task: 0}, running))
			must(t, "AddTopic", s.AddTopic(ctx, c, c+"-topic"))
		}
		must(t, "RemoveTasks b", s.RemoveTasks(ctx, "b"))
		must(t, "ResetTopics b", s.ResetTopics(ctx, "b"))
		must(t, "Remove c", s.Remove(ctx, "c"))
		for _, st := range []runtime.StatusStore{s, reopened(t, o)} {
			if _, ok := st.Connector(ctx, "b"); !ok {
				t.Fatal("RemoveTasks and ResetTopics removed the connector's status")
			}
			if ts := st.Tasks(ctx, "b"); len(ts) != 0 {
				t.Fatalf("Tasks(b) after RemoveTasks = %v", ts)
			}
			if got := st.Topics(ctx, "b"); len(got) != 0 {
				t.Fatalf("Topics(b) after ResetTopics = %v", got)
			}
			if _, ok := st.Connector(ctx, "c"); ok {
				t.Fatal("Connector(c) found after Remove")
			}
			if ts, tp := st.Tasks(ctx, "c"), st.Topics(ctx, "c"); len(ts) != 0 || len(tp) != 0 {
				t.Fatalf("after Remove(c): Tasks = %v, Topics = %v", ts, tp)
			}
		}
	})
	t.Run("CancelledWrites", func(t *testing.T) {
		o := open(t)
		s := o.Store
		must(t, "PutConnector", s.PutConnector(ctx, "d", running))
		must(t, "PutTask", s.PutTask(ctx, runtime.TaskID{Connector: "d", Task: 0}, running))
		must(t, "AddTopic", s.AddTopic(ctx, "d", "d-topic"))
		done := cancelled()
		wantCancelled(t, "PutConnector", s.PutConnector(done, "d", failed))
		wantCancelled(t, "PutTask", s.PutTask(done, runtime.TaskID{Connector: "d", Task: 0}, failed))
		wantCancelled(t, "AddTopic", s.AddTopic(done, "d", "other-topic"))
		wantCancelled(t, "RemoveTasks", s.RemoveTasks(done, "d"))
		wantCancelled(t, "ResetTopics", s.ResetTopics(done, "d"))
		wantCancelled(t, "Remove", s.Remove(done, "d"))
		for _, st := range []runtime.StatusStore{s, reopened(t, o)} {
			if got, ok := st.Connector(ctx, "d"); !ok || got != running {
				t.Fatalf("Connector(d) after cancelled writes = %+v, %v", got, ok)
			}
			if ts := st.Tasks(ctx, "d"); len(ts) != 1 || ts[0] != running {
				t.Fatalf("Tasks(d) after cancelled writes = %v", ts)
			}
			if got := st.Topics(ctx, "d"); !slices.Equal(got, []string{"d-topic"}) {
				t.Fatalf("Topics(d) after cancelled writes = %v", got)
			}
		}
	})
}
