package state_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/statetest"
)

// hookedReader calls hook before each Fetch (from the restore's fetching goroutine).
type hookedReader struct {
	*statetest.Changelog
	hook func(n int, offset int64) error
	n    int
}

func (r *hookedReader) Fetch(ctx context.Context, tp state.TopicPartition, offset int64) ([]state.ChangelogRecord, int64, error) {
	r.n++
	if err := r.hook(r.n, offset); err != nil {
		return nil, 0, err
	}
	return r.Changelog.Fetch(ctx, tp, offset)
}

// fill writes n keys (k000..) through a fresh task on cl and returns the store's content.
func fill(t *testing.T, cl *statetest.Changelog, be backend, n int) map[string]string {
	t.Helper()
	task := openTask(t, t.TempDir(), cl, nil)
	kv, err := task.KeyValueStore("s", be.kv)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := kv.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	return want
}

// The log's start moves past the restore position while it runs: the store is wiped and
// restored again from the new start, the fetching goroutine restarted.
func TestRestoreStartsOverWhenOffsetOutOfRange(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			cl := statetest.NewChangelog()
			cl.MaxBatch = 10
			want := fill(t, cl, be, 100)
			r := &hookedReader{Changelog: cl, hook: func(n int, offset int64) error {
				if n == 4 {
					return fmt.Errorf("%w: fetch at %d", state.ErrOffsetOutOfRange, offset)
				}
				return nil
			}}
			p := &progress{}
			task := openTask(t, t.TempDir(), cl, func(c *state.TaskConfig) { c.Reader, c.RestoreListener = r, p })
			defer task.Close(ctx, false)
			kv, err := task.KeyValueStore("s", be.kv)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			equal(t, "restored", dump(t, kv), want)
			if p.total != 100 || p.next != 100 {
				t.Fatalf("restored %d records up to %d; want 100 up to 100", p.total, p.next)
			}
		})
	}
}

// A fetch error ends the restore with that error; a context cancelled mid-restore ends
// it with the context's error. Either way Restore returns only after its fetching
// goroutine has stopped (the race detector and the reader's counter would notice a
// straggler).
func TestRestoreErrorsStopTheFetcher(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		want error
		hook func(cancel context.CancelFunc) func(int, int64) error
	}{
		{"fetch error", boom, func(context.CancelFunc) func(int, int64) error {
			return func(n int, _ int64) error {
				if n == 3 {
					return boom
				}
				return nil
			}
		}},
		{"cancelled", context.Canceled, func(cancel context.CancelFunc) func(int, int64) error {
			return func(n int, _ int64) error {
				if n == 3 {
					cancel()
				}
				return nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := statetest.NewChangelog()
			cl.MaxBatch = 10
			fill(t, cl, backends[0], 100)
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			r := &hookedReader{Changelog: cl, hook: tc.hook(cancel)}
			task := openTask(t, t.TempDir(), cl, func(c *state.TaskConfig) { c.Reader = r })
			defer task.Close(ctx, false)
			if _, err := task.KeyValueStore("s", backends[1].kv); err != nil {
				t.Fatal(err)
			}
			err := task.Restore(rctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore: %v, want %v", err, tc.want)
			}
			// Restore has returned, so its fetching goroutine has too: reading r.n here
			// is no race, and no fetch came after the failing one.
			if r.n != 3 {
				t.Fatalf("%d fetches, want 3", r.n)
			}
		})
	}
}
