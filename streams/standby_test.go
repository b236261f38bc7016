package streams_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/streams"
)

// failoverRestores runs the word count on two instances with the given standby
// replicas, stops one as a crash would, and returns how many changelog records the
// survivor restored to take its tasks over.
func failoverRestores(t *testing.T, standbys int) int64 {
	b, prod := wordCountBroker(t, 4)
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[string]int64{}
	var dirs []string
	start := func(rl *restoreCount) *streams.App {
		dirs = append(dirs, t.TempDir())
		cfg := streams.Config{
			ApplicationID: "standbys", Brokers: []string{b.Addr()}, StateDir: dirs[len(dirs)-1],
			CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, NumStandbyReplicas: standbys,
			ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
		}
		cfg.RestoreListener = rl
		app, err := streams.New(wordCount(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = app.Close(context.Background()) })
		return app
	}
	counts := []*restoreCount{{}, {}}
	apps := []*streams.App{start(counts[0]), start(counts[1])}
	waitFor(t, "both instances running tasks", func() bool { return len(apps[0].Tasks()) > 0 && len(apps[0].Tasks()) < 8 })
	// Distinct words, so that the changelogs hold thousands of records.
	var recs []*kgo.Record
	for i := range 4000 {
		w := fmt.Sprintf("word%d", i)
		want[w]++
		recs = append(recs, &kgo.Record{Topic: inTopic, Value: []byte(w)})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := newOutputReader(t, b.Addr())
	out.waitFor(t, want, 60*time.Second)
	// Killed with uncommitted input, the victim's tasks would count it twice.
	waitCommitted(t, b.Addr(), "standbys", inTopic)
	if standbys > 0 {
		waitStandbysCaughtUp(t, b.Addr(), apps, dirs)
	}

	// The victim is the instance with more counting (stateful, subtopology 1)
	// tasks: only taking those over needs a restore.
	stateful := func(app *streams.App) int {
		n := 0
		for _, id := range app.Tasks() {
			if id.Subtopology == 1 {
				n++
			}
		}
		return n
	}
	v := 0
	if stateful(apps[1]) > stateful(apps[0]) {
		v = 1
	}
	victim, survivor, restored := apps[v], apps[1-v], counts[1-v]
	restored.mu.Lock()
	before := restored.n
	restored.mu.Unlock()
	victim.Kill()
	// The survivor takes every task over (after the session timeout), and lines on
	// every partition make each taken-over task restore before the output is whole.
	waitFor(t, "the survivor running every task", func() bool { return len(survivor.Tasks()) == 8 })
	produceLines(t, prod, rng, 200, want)
	out.waitFor(t, want, 60*time.Second)
	restored.mu.Lock()
	defer restored.mu.Unlock()
	return restored.n - before
}

// waitStandbysCaughtUp waits until, on each of two instances of the word count,
// the standby copy of every counting task the other instance runs has checkpointed
// the end of its changelog partition: a standby round (every second) has caught up
// with all the counting done. A fixed pause is not enough on a slow machine.
func waitStandbysCaughtUp(t *testing.T, addr string, apps []*streams.App, dirs []string) {
	t.Helper()
	const changelog = "standbys-counts-changelog"
	adm := kadm.NewClient(client(t, addr))
	var last string
	caughtUp := func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), changelog)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			last = err.Error()
			return false
		}
		for i, app := range apps {
			active := map[streams.TaskID]bool{}
			for _, id := range app.Tasks() {
				active[id] = true
			}
			ok := true
			ends.Each(func(end kadm.ListedOffset) {
				id := streams.TaskID{Subtopology: 1, Partition: end.Partition}
				if active[id] || !ok {
					return
				}
				ck, err := state.ReadCheckpoint(filepath.Join(dirs[i], "standbys", id.String(), state.CheckpointFileName))
				at := ck[state.TopicPartition{Topic: changelog, Partition: end.Partition}]
				if err != nil || at < end.Offset {
					last = fmt.Sprintf("instance %d: standby %s at %d of %d (%v)", i, id, at, end.Offset, err)
					ok = false
				}
			})
			if !ok {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(60 * time.Second); !caughtUp(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("standby tasks did not catch up: %s", last)
		}
	}
}

// With a standby replica the survivor has the victim's stores warm and restores
// (almost) nothing; without, it restores their whole changelogs.
func TestStandbyReplicasSpeedUpFailover(t *testing.T) {
	cold := failoverRestores(t, 0)
	warm := failoverRestores(t, 1)
	t.Logf("records restored on fail-over: %d without a standby replica, %d with one", cold, warm)
	if cold < 1000 {
		t.Fatalf("without standbys the survivor restored only %d records; the scenario is too small to tell", cold)
	}
	if warm*10 > cold {
		t.Fatalf("with a standby replica the survivor restored %d records, more than a tenth of %d", warm, cold)
	}
}

func TestNumStandbyReplicasConfig(t *testing.T) {
	_, err := streams.New(wordCount(t), streams.Config{ApplicationID: "a", Brokers: []string{"x:9092"}, NumStandbyReplicas: -1})
	if err == nil {
		t.Fatal("negative NumStandbyReplicas accepted")
	}
}
