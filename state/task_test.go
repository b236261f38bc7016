package state_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
	"github.com/gregorhq/gregor/state/statetest"
)

var ctx = context.Background()

type backend struct {
	name string
	kv   state.KeyValueFactory
	segs state.SegmentsFactory
}

var backends = []backend{
	{"memory", memory.KeyValueFactory(), func(name, _ string) (state.Segments, error) { return memory.Segments(name), nil }},
	{"leveldb", leveldb.KeyValueFactory(nil), leveldb.SegmentsFactory(nil)},
}

func openTask(t *testing.T, dir string, cl *statetest.Changelog, mod func(*state.TaskConfig)) *state.Task {
	t.Helper()
	cfg := state.TaskConfig{ApplicationID: "app", TaskID: "0_1", Partition: 1, StateDir: dir, Writer: cl, Reader: cl}
	if mod != nil {
		mod(&cfg)
	}
	task, err := state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func dump(t *testing.T, kv state.KeyValueStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range statetest.Collect(t)(kv.All()) {
		out[string(e.Key)] = string(e.Value)
	}
	return out
}

func equal(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: key %q = %q, want %q", what, k, got[k], v)
		}
	}
}

type progress struct {
	start, end, next, total int64
	batches                 int
}

func (p *progress) OnRestoreStart(_ string, _ state.TopicPartition, start, end int64) {
	p.start, p.end = start, end
}
func (p *progress) OnBatchRestored(_ string, _ state.TopicPartition, next int64, n int) {
	p.next = next
	p.batches++
}
func (p *progress) OnRestoreEnd(_ string, _ state.TopicPartition, total int64) { p.total = total }

func TestTaskRestoreEqualsOriginal(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dir, cl := t.TempDir(), statetest.NewChangelog()
			task := openTask(t, dir, cl, func(c *state.TaskConfig) { c.CheckpointDelta = 100 })
			kv, err := task.KeyValueStore("counts", be.kv)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				k := fmt.Sprintf("k%03d", i%300)
				if i%7 == 0 {
					err = kv.Delete([]byte(k))
				} else {
					err = kv.Put([]byte(k), []byte(fmt.Sprint(i)))
				}
				if err != nil {
					t.Fatal(err)
				}
				if i%500 == 499 {
					if err := task.Commit(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := dump(t, kv)
			if err := task.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			tp := task.Changelog("counts")
			if tp.Topic != "app-counts-changelog" || tp.Partition != 1 {
				t.Fatalf("changelog %v", tp)
			}

			// A new instance restores the same content.
			p := &progress{}
			task2 := openTask(t, dir, cl, func(c *state.TaskConfig) { c.RestoreListener = p })
			defer task2.Close(ctx, false)
			kv2, err := task2.KeyValueStore("counts", be.kv)
			if err != nil {
				t.Fatal(err)
			}
			if err := task2.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			equal(t, "restored", dump(t, kv2), want)
			_, end, _ := cl.Offsets(ctx, tp)
			if got := task2.Offsets()[tp]; got != end {
				t.Fatalf("offset after restore %d, want %d", got, end)
			}
			if be.name == "leveldb" {
				// The clean close checkpointed the end: nothing to replay.
				if p.start != end || p.total != 0 {
					t.Fatalf("leveldb restore replayed from %d (%d records); want from checkpoint %d", p.start, p.total, end)
				}
				ck, err := state.ReadCheckpoint(filepath.Join(task.Dir(), state.CheckpointFileName))
				if err != nil || ck[tp] != end {
					t.Fatalf("checkpoint %v, %v; want %s at %d", ck, err, tp, end)
				}
			} else if p.start != 0 || p.total == 0 || p.batches < 2 {
				t.Fatalf("memory restore: %+v; want a full restore in batches", p)
			}
		})
	}
}

func TestRestoreEndsAtMarkersAndCompactedGaps(t *testing.T) {
	cl := statetest.NewChangelog()
	cl.MaxBatch = 7
	tp := state.TopicPartition{Topic: "app-s-changelog", Partition: 1}
	want := map[string]string{}
	for i := range 100 {
		k := fmt.Sprintf("k%d", i%10)
		_ = cl.Append(ctx, tp, state.ChangelogRecord{Key: []byte(k), Value: []byte(fmt.Sprint(i))})
		want[k] = fmt.Sprint(i)
		if i%10 == 9 {
			_, _ = cl.Flush(ctx)
			cl.Marker(tp, 1) // a commit marker after every transaction
		}
	}
	// A final key that is deleted: compaction keeps only the tombstone; then the log ends
	// with markers, never seen as records.
	_ = cl.Append(ctx, tp, state.ChangelogRecord{Key: []byte("gone"), Value: []byte("x")})
	_ = cl.Append(ctx, tp, state.ChangelogRecord{Key: []byte("gone")})
	_, _ = cl.Flush(ctx)
	cl.Marker(tp, 3)
	cl.Compact(tp)
	_, end, _ := cl.Offsets(ctx, tp)

	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			p := &progress{}
			task := openTask(t, t.TempDir(), cl, func(c *state.TaskConfig) { c.RestoreListener = p })
			defer task.Close(ctx, false)
			kv, err := task.KeyValueStore("s", be.kv)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			equal(t, "restored", dump(t, kv), want)
			if p.next != end || task.Offsets()[tp] != end || p.end != end {
				t.Fatalf("progress %+v, offset %d; want end %d", p, task.Offsets()[tp], end)
			}
		})
	}
}

func TestCacheCoalescesBetweenCommits(t *testing.T) {
	cl := statetest.NewChangelog()
	task := openTask(t, t.TempDir(), cl, nil)
	defer task.Close(ctx, false)
	kv, err := task.KeyValueStore("c", memory.KeyValueFactory())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := kv.Put([]byte(fmt.Sprintf("k%d", i%10)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := kv.Get([]byte("k3")); string(v) != "993" {
		t.Fatalf("store must see writes at once, got %q", v)
	}
	tp := task.Changelog("c")
	if n := len(cl.Records(tp)); n != 0 {
		t.Fatalf("%d records sent before commit", n)
	}
	if err := task.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	recs := cl.Records(tp)
	if len(recs) != 10 {
		t.Fatalf("commit sent %d records, want 10 coalesced", len(recs))
	}
	for _, r := range recs {
		if !strings.HasPrefix(string(r.Value), "99") {
			t.Fatalf("record %s=%s is not the last value", r.Key, r.Value)
		}
	}
}

func TestCacheEvictsWhenFull(t *testing.T) {
	cl := statetest.NewChangelog()
	task := openTask(t, t.TempDir(), cl, func(c *state.TaskConfig) { c.CacheMaxBytes = 1000 })
	defer task.Close(ctx, false)
	kv, err := task.KeyValueStore("c", memory.KeyValueFactory())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := kv.Put([]byte(fmt.Sprintf("key-%03d", i)), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = cl.Flush(ctx) // make evicted appends visible
	n := len(cl.Records(task.Changelog("c")))
	if n < 80 || n > 95 {
		t.Fatalf("%d records evicted; want all but the ~12 that fit in 1000 bytes", n)
	}
}

func TestExactlyOnceCrashWipesAndRestoresCommittedState(t *testing.T) {
	dir, cl := t.TempDir(), statetest.NewChangelog()
	eos := func(c *state.TaskConfig) { c.ExactlyOnce = true }
	task := openTask(t, dir, cl, eos)
	kv, err := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err != nil {
		t.Fatal(err)
	}
	_ = task.Restore(ctx)
	_ = kv.Put([]byte("a"), []byte("committed"))
	if err := task.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := task.Close(ctx, true); err != nil { // clean close writes the checkpoint
		t.Fatal(err)
	}

	task = openTask(t, dir, cl, eos) // loads the checkpoint, then deletes it
	if _, err := os.Stat(filepath.Join(task.Dir(), state.CheckpointFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint not deleted under exactly-once: %v", err)
	}
	kv, _ = task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	_ = task.Restore(ctx)
	_ = kv.Put([]byte("a"), []byte("uncommitted"))
	_ = kv.Put([]byte("b"), []byte("uncommitted"))
	_ = task.Close(ctx, false) // crash before the commit: the store holds writes the changelog lacks

	task = openTask(t, dir, cl, eos)
	defer task.Close(ctx, false)
	kv, _ = task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "after crash", dump(t, kv), map[string]string{"a": "committed"})
}

func TestCheckpointOutsideLogWipes(t *testing.T) {
	dir, cl := t.TempDir(), statetest.NewChangelog()
	task := openTask(t, dir, cl, nil)
	kv, _ := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	_ = task.Restore(ctx)
	_ = kv.Put([]byte("a"), []byte("1"))
	_ = task.Close(ctx, true)
	// The checkpoint claims an offset the changelog never reached: the log was recreated.
	tp := task.Changelog("s")
	if err := state.WriteCheckpoint(filepath.Join(task.Dir(), state.CheckpointFileName), map[state.TopicPartition]int64{tp: 50}); err != nil {
		t.Fatal(err)
	}
	task = openTask(t, dir, cl, nil)
	defer task.Close(ctx, false)
	kv, _ = task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "restored", dump(t, kv), map[string]string{"a": "1"})
	if got := task.Offsets()[tp]; got != 1 {
		t.Fatalf("offset %d, want 1", got)
	}
}

func TestCorruptStoreRebuiltFromChangelog(t *testing.T) {
	dir, cl := t.TempDir(), statetest.NewChangelog()
	task := openTask(t, dir, cl, nil)
	kv, _ := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	_ = task.Restore(ctx)
	for i := range 50 {
		_ = kv.Put([]byte(fmt.Sprint(i)), []byte("v"))
	}
	want := dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(task.StoreDir("s"), "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no MANIFEST file")
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("this is not a leveldb manifest"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leveldb.Open("s", task.StoreDir("s"), nil); !errors.Is(err, state.ErrCorrupt) {
		t.Fatalf("opening the corrupt store: %v, want ErrCorrupt", err)
	}
	task = openTask(t, dir, cl, nil)
	defer task.Close(ctx, false)
	kv, err := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "rebuilt", dump(t, kv), want)
}

func TestBadCheckpointFileMeansFullRestore(t *testing.T) {
	dir, cl := t.TempDir(), statetest.NewChangelog()
	task := openTask(t, dir, cl, nil)
	kv, _ := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	_ = task.Restore(ctx)
	_ = kv.Put([]byte("a"), []byte("1"))
	_ = task.Close(ctx, true)
	_ = os.WriteFile(filepath.Join(task.Dir(), state.CheckpointFileName), []byte("7\ngarbage"), 0o644)
	p := &progress{}
	task = openTask(t, dir, cl, func(c *state.TaskConfig) { c.RestoreListener = p })
	defer task.Close(ctx, false)
	kv, _ = task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "restored", dump(t, kv), map[string]string{"a": "1"})
	if p.start != 0 || p.total != 1 {
		t.Fatalf("progress %+v; want a full restore", p)
	}
}

func TestTaskDirectoryLocked(t *testing.T) {
	dir := t.TempDir()
	task := openTask(t, dir, nil, func(c *state.TaskConfig) { c.Writer, c.Reader = nil, nil })
	_, err := state.OpenTask(state.TaskConfig{ApplicationID: "app", TaskID: "0_1", StateDir: dir})
	if !errors.Is(err, state.ErrTaskLocked) {
		t.Fatalf("second open: %v, want ErrTaskLocked", err)
	}
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	task, err = state.OpenTask(state.TaskConfig{ApplicationID: "app", TaskID: "0_1", StateDir: dir})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = task.Close(ctx, true)
	if _, err := task.KeyValueStore("x", memory.KeyValueFactory()); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("register after close: %v", err)
	}
}

func TestWindowAndSessionStoresRestore(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dir, cl := t.TempDir(), statetest.NewChangelog()
			wcfg := state.WindowConfig{Retention: 1000, WindowSize: 100, SegmentInterval: 200}
			scfg := state.SessionConfig{Retention: 1000, SegmentInterval: 200}
			task := openTask(t, dir, cl, nil)
			ws, err := task.WindowStore("w", be.segs, wcfg)
			if err != nil {
				t.Fatal(err)
			}
			ss, err := task.SessionStore("s", be.segs, scfg)
			if err != nil {
				t.Fatal(err)
			}
			_ = task.Restore(ctx)
			for i := range 40 {
				ts := int64(i * 50)
				_ = ws.Put([]byte(fmt.Sprintf("k%d", i%3)), []byte(fmt.Sprint(i)), ts)
				_ = ss.Put([]byte(fmt.Sprintf("k%d", i%3)), state.Window{Start: ts, End: ts + 10}, []byte(fmt.Sprint(i)))
			}
			_ = ws.Put([]byte("k0"), nil, 1800) // delete a k0 window
			wantW := statetest.CollectWindows(t)(ws.All())
			wantS := statetest.CollectWindows(t)(ss.All())
			if err := task.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			for _, tp := range []state.TopicPartition{task.Changelog("w"), task.Changelog("s")} {
				cl.Compact(tp)
			}
			task = openTask(t, dir, cl, func(c *state.TaskConfig) { c.ExactlyOnce = true })
			defer task.Close(ctx, false)
			ws, _ = task.WindowStore("w", be.segs, wcfg)
			ss, _ = task.SessionStore("s", be.segs, scfg)
			if err := task.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			gotW := statetest.CollectWindows(t)(ws.All())
			gotS := statetest.CollectWindows(t)(ss.All())
			if fmt.Sprint(gotW) != fmt.Sprint(wantW) || fmt.Sprint(gotS) != fmt.Sprint(wantS) {
				t.Fatalf("restored windows\n %v\nwant\n %v\nsessions\n %v\nwant\n %v", gotW, wantW, gotS, wantS)
			}
			if len(gotW) == 0 || len(gotW) >= 40 {
				t.Fatalf("retention should have kept some but not all windows: %d", len(gotW))
			}
		})
	}
}

func TestChangelogTopicConfigs(t *testing.T) {
	if c := state.ChangelogTopicConfigs(false, 0); c["cleanup.policy"] != "compact" || len(c) != 1 {
		t.Fatalf("kv configs %v", c)
	}
	c := state.ChangelogTopicConfigs(true, 3_600_000)
	if c["cleanup.policy"] != "compact,delete" || c["retention.ms"] != fmt.Sprint(3_600_000+state.DayMillis) {
		t.Fatalf("window configs %v", c)
	}
}
