package kafkachangelog_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// Tests against a real Gregor broker (broker/brokertest): real on-disk logs, real
// transactions and markers.

func gregorClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// A store written through a task on a Gregor broker restores, into fresh leveldb and
// memory stores and from the checkpoint into the original directory, to an equal store,
// in many small fetches (so the restore pipeline runs ahead of the store).
func TestGregorRestoreEqualsOriginal(t *testing.T) {
	ctx := context.Background()
	b := brokertest.Start(t)
	prod, cons := gregorClient(t, b.Addr()), gregorClient(t, b.Addr())
	topic := state.ChangelogTopic("app", "counts")
	if err := kafkachangelog.CreateTopic(ctx, kadm.NewClient(cons), topic, 2, false, 0); err != nil {
		t.Fatal(err)
	}
	rd := kafkachangelog.NewReader(cons, kafkachangelog.MaxFetchBytes(8<<10))
	cfg := state.TaskConfig{ApplicationID: "app", TaskID: "0_1", Partition: 1, StateDir: t.TempDir(),
		Writer: kafkachangelog.NewWriter(prod), Reader: rd, CheckpointDelta: 1 << 40}
	write := func(task *state.Task, kv state.KeyValueStore, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			k := []byte(fmt.Sprintf("key-%05d", i%2500))
			var err error
			if i%13 == 0 {
				err = kv.Delete(k)
			} else {
				err = kv.Put(k, []byte(strconv.Itoa(i)))
			}
			if err != nil {
				t.Fatal(err)
			}
			if i%997 == 0 {
				if err := task.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	task, err := state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := task.KeyValueStore("counts", leveldb.KeyValueFactory(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(task, kv, 0, 12_000)
	want := dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	tp := state.TopicPartition{Topic: topic, Partition: 1}
	_, end, err := rd.Offsets(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}

	for _, be := range []struct {
		name string
		kv   state.KeyValueFactory
	}{{"leveldb", leveldb.KeyValueFactory(nil)}, {"memory", memory.KeyValueFactory()}} {
		t.Run(be.name, func(t *testing.T) {
			cfg := cfg
			cfg.StateDir = t.TempDir()
			e := &ends{}
			cfg.RestoreListener = e
			task, err := state.OpenTask(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer task.Close(ctx, false)
			kv, err := task.KeyValueStore("counts", be.kv)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Restore(ctx); err != nil {
				t.Fatal(err)
			}
			equal(t, "restored", dump(t, kv), want)
			if e.next != end || task.Offsets()[tp] != end {
				t.Fatalf("restore ended at %d (task offset %d), end offset %d", e.next, task.Offsets()[tp], end)
			}
			// At-least-once: the restored offset is checkpointed at once (persistent
			// stores only).
			ckpt, err := state.ReadCheckpoint(filepath.Join(task.Dir(), state.CheckpointFileName))
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := ckpt[tp]; be.name == "leveldb" && (!ok || got != end) || be.name == "memory" && ok {
				t.Fatalf("checkpoint after restore: %v, end %d", ckpt, end)
			}
		})
	}

	// The original directory restores from its checkpoint only what came after it.
	task, err = state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kv, err = task.KeyValueStore("counts", leveldb.KeyValueFactory(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(task, kv, 12_000, 15_000)
	want = dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	// Someone else's writes land in the changelog (a task that moved away and back).
	other := cfg
	other.StateDir = t.TempDir()
	task, err = state.OpenTask(other)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ = task.KeyValueStore("counts", memory.KeyValueFactory())
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	write(task, kv, 15_000, 16_500)
	want = dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	c := &counting{}
	cfg.RestoreListener = c
	task, err = state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close(ctx, false)
	kv, _ = task.KeyValueStore("counts", leveldb.KeyValueFactory(nil))
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "restored from checkpoint", dump(t, kv), want)
	if c.total == 0 || c.total > 1500 {
		t.Fatalf("restored %d records from the checkpoint; want the other instance's (at most 1500)", c.total)
	}
}

type counting struct{ total int64 }

func (c *counting) OnRestoreStart(string, state.TopicPartition, int64, int64)  {}
func (c *counting) OnBatchRestored(string, state.TopicPartition, int64, int)   {}
func (c *counting) OnRestoreEnd(_ string, _ state.TopicPartition, total int64) { c.total += total }

// Environment of the child process of TestGregorProcessKilledMidCommit.
const (
	childEnv      = "GREGOR_STATE_KILL_CHILD"
	childAddrEnv  = "GREGOR_STATE_KILL_ADDR"
	childDirEnv   = "GREGOR_STATE_KILL_DIR"
	childRounds   = 4
	childKeys     = 60
	childTxnID    = "app-0_0"
	committedLine = "committed round "
	midCommitLine = "mid-commit"
)

// childValue is what round r writes to key i; round r writes keys (7r + i) % childKeys for
// i < 40 and deletes key (5r) % childKeys.
func childRound(r int, apply func(k string, v []byte)) {
	for i := range 40 {
		k := fmt.Sprintf("k%02d", (7*r+i)%childKeys)
		apply(k, []byte(fmt.Sprintf("r%d-%d", r, i)))
	}
	apply(fmt.Sprintf("k%02d", (5*r)%childKeys), nil)
}

func childTask(t *testing.T, addr, dir string, prod *kgo.Client) (*state.Task, state.KeyValueStore) {
	t.Helper()
	cons := gregorClient(t, addr)
	task, err := state.OpenTask(state.TaskConfig{ApplicationID: "app", TaskID: "0_0", StateDir: dir, ExactlyOnce: true,
		Writer: kafkachangelog.NewWriter(prod), Reader: kafkachangelog.NewReader(cons, kafkachangelog.ReadCommitted(), kafkachangelog.MaxFetchBytes(1024))})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return task, kv
}

// TestGregorKillChild is the process TestGregorProcessKilledMidCommit kills: it commits
// childRounds transactions through an exactly-once task, then writes a further round,
// flushes it to the changelog and the store (Task.Commit) and, before committing the
// transaction, says so and waits to be killed.
func TestGregorKillChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("run by TestGregorProcessKilledMidCommit")
	}
	ctx := context.Background()
	addr, dir := os.Getenv(childAddrEnv), os.Getenv(childDirEnv)
	prod := gregorClient(t, addr, kgo.TransactionalID(childTxnID), kgo.TransactionTimeout(time.Minute))
	task, kv := childTask(t, addr, dir, prod)
	put := func(k string, v []byte) {
		if err := kv.Put([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	for r := 0; ; r++ {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		childRound(r, put)
		if err := task.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if r == childRounds {
			fmt.Println(midCommitLine)
			select {} // killed here, between the changelog flush and EndTransaction
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s%d\n", committedLine, r)
	}
}

// A process writing through an exactly-once task is killed (SIGKILL) mid-commit: its last
// transaction's records are in the changelog and its store, uncommitted. The next instance
// fences the transaction, wipes the store (no checkpoint) and restores exactly the
// committed state.
func TestGregorProcessKilledMidCommit(t *testing.T) {
	ctx := context.Background()
	b := brokertest.Start(t)
	adm := kadm.NewClient(gregorClient(t, b.Addr()))
	if err := kafkachangelog.CreateTopic(ctx, adm, state.ChangelogTopic("app", "s"), 1, false, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGregorKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", childAddrEnv+"="+b.Addr(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A guard against a child that hangs before the kill point (not a timing assertion):
	// killing it ends its output, and the test fails below with what it printed.
	guard := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()
	committed, killed := -1, false
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if n, ok := strings.CutPrefix(line, committedLine); ok {
			committed, _ = strconv.Atoi(n)
		}
		if line == midCommitLine {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	_ = cmd.Wait()
	if !killed || committed != childRounds-1 {
		t.Fatalf("child did not reach the kill point (committed %d rounds):\n%s", committed+1, strings.Join(lines, "\n"))
	}

	want := map[string]string{}
	for r := 0; r <= committed; r++ {
		childRound(r, func(k string, v []byte) {
			if v == nil {
				delete(want, k)
			} else {
				want[k] = string(v)
			}
		})
	}
	// The store the killed process left on disk holds the uncommitted round.
	uncommitted := fmt.Sprintf("r%d-0", childRounds)
	raw, err := leveldb.Open("s", filepath.Join(dir, "app", "0_0", "leveldb", "s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := raw.Get([]byte(fmt.Sprintf("k%02d", (7*childRounds)%childKeys)))
	if cerr := raw.Close(); err != nil || cerr != nil || string(v) != uncommitted {
		t.Fatalf("killed store: %q, %v, %v; want the uncommitted %q", v, err, cerr, uncommitted)
	}

	// The restarted instance wipes the store (no checkpoint under exactly-once) and
	// restores the committed rounds only, up to the last stable offset.
	prod := gregorClient(t, b.Addr(), kgo.TransactionalID(childTxnID), kgo.TransactionTimeout(time.Minute))
	task, kv := childTask(t, b.Addr(), dir, prod)
	equal(t, "after kill", dump(t, kv), want)
	tp := task.Changelog("s")
	_, end, err := kafkachangelog.NewReader(gregorClient(t, b.Addr()), kafkachangelog.ReadCommitted()).Offsets(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if got := task.Offsets()[tp]; got != end {
		t.Fatalf("restored to %d, last stable offset %d", got, end)
	}
	// Its first transaction fences the killed producer, whose open transaction is
	// aborted: a later full restore sees the committed rounds and this one, never the
	// killed round.
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	childRound(childRounds+1, func(k string, v []byte) {
		if err := kv.Put([]byte(k), v); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(want, k)
		} else {
			want[k] = string(v)
		}
	})
	if err := task.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	task, kv = childTask(t, b.Addr(), t.TempDir(), prod)
	defer task.Close(ctx, false)
	equal(t, "after the next commit", dump(t, kv), want)
}
