package kafkachangelog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
	"github.com/gregorhq/gregor/state/statetest"
)

func cluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func dump(t *testing.T, kv state.KeyValueStore) map[string]string {
	out := map[string]string{}
	for _, e := range statetest.Collect(t)(kv.All()) {
		out[string(e.Key)] = string(e.Value)
	}
	return out
}

func equal(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

type ends struct{ next int64 }

func (e *ends) OnRestoreStart(string, state.TopicPartition, int64, int64) {}
func (e *ends) OnBatchRestored(_ string, _ state.TopicPartition, next int64, _ int) {
	e.next = next
}
func (e *ends) OnRestoreEnd(string, state.TopicPartition, int64) {}

func TestCreateTopicConfigs(t *testing.T) {
	ctx := context.Background()
	c := cluster(t)
	adm := kadm.NewClient(client(t, c))
	if err := kafkachangelog.CreateTopic(ctx, adm, "app-w-changelog", 2, true, 60_000); err != nil {
		t.Fatal(err)
	}
	if err := kafkachangelog.CreateTopic(ctx, adm, "app-w-changelog", 2, true, 60_000); err != nil {
		t.Fatalf("second create: %v", err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "app-w-changelog")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cfg := range rc[0].Configs {
		if cfg.Value != nil {
			got[cfg.Key] = *cfg.Value
		}
	}
	if got["cleanup.policy"] != "compact,delete" || got["retention.ms"] != fmt.Sprint(60_000+state.DayMillis) {
		t.Fatalf("configs %v", got)
	}
}

// A store written through a task on a real broker, compacted, restores to an equal store.
func TestRestoreFromBroker(t *testing.T) {
	ctx := context.Background()
	c := cluster(t)
	prod, cons := client(t, c), client(t, c)
	topic := state.ChangelogTopic("app", "counts")
	if err := kafkachangelog.CreateTopic(ctx, kadm.NewClient(cons), topic, 3, false, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := state.TaskConfig{ApplicationID: "app", TaskID: "0_2", Partition: 2, StateDir: dir,
		Writer: kafkachangelog.NewWriter(prod), Reader: kafkachangelog.NewReader(cons, kafkachangelog.MaxFetchBytes(4096))}
	task, err := state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := task.KeyValueStore("counts", leveldb.KeyValueFactory(nil))
	if err := task.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		k := []byte(fmt.Sprintf("key-%04d", i%700))
		if i%11 == 0 {
			_ = kv.Delete(k)
		} else {
			_ = kv.Put(k, []byte(fmt.Sprint(i)))
		}
		if i%400 == 0 {
			if err := task.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := dump(t, kv)
	if err := task.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	c.Compact()

	// A fresh instance elsewhere (memory store: always a full restore) equals the original.
	cfg.StateDir = t.TempDir()
	e := &ends{}
	cfg.RestoreListener = e
	task2, err := state.OpenTask(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer task2.Close(ctx, false)
	kv2, _ := task2.KeyValueStore("counts", memory.KeyValueFactory())
	if err := task2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, "restored", dump(t, kv2), want)
	_, end, err := cfg.Reader.Offsets(ctx, task2.Changelog("counts"))
	if err != nil || e.next != end {
		t.Fatalf("restore ended at %d, end offset %d (%v)", e.next, end, err)
	}
}

// Under exactly-once a task crashes mid-commit: its transaction wrote changelog records
// but never committed. The next instance fences it, wipes the store (no checkpoint) and
// restores exactly the committed state, ending past the abort marker.
func TestKilledMidCommitRestoresCommittedState(t *testing.T) {
	ctx := context.Background()
	c := cluster(t)
	cons := client(t, c)
	topic := state.ChangelogTopic("app", "s")
	if err := kafkachangelog.CreateTopic(ctx, kadm.NewClient(cons), topic, 1, false, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	txnClient := func() *kgo.Client {
		return client(t, c, kgo.TransactionalID("app-0_0"), kgo.TransactionTimeout(time.Minute))
	}
	open := func(prod *kgo.Client, l state.RestoreListener) (*state.Task, state.KeyValueStore) {
		task, err := state.OpenTask(state.TaskConfig{ApplicationID: "app", TaskID: "0_0", StateDir: dir, ExactlyOnce: true,
			Writer: kafkachangelog.NewWriter(prod), Reader: kafkachangelog.NewReader(cons, kafkachangelog.ReadCommitted()), RestoreListener: l})
		if err != nil {
			t.Fatal(err)
		}
		kv, err := task.KeyValueStore("s", leveldb.KeyValueFactory(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		return task, kv
	}
	commitTxn := func(task *state.Task, prod *kgo.Client, commit bool) {
		if err := task.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}

	prod := txnClient()
	task, kv := open(prod, nil)
	want := map[string]string{}
	for round := range 3 {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("r%d", round)
			_ = kv.Put([]byte(k), []byte(v))
			want[k] = v
		}
		commitTxn(task, prod, true)
	}
	// The fourth transaction reaches the broker, then the process dies before EndTxn.
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 80 {
		_ = kv.Put([]byte(fmt.Sprintf("k%02d", i)), []byte("uncommitted"))
	}
	commitTxn(task, prod, false)
	_ = task.Close(ctx, false) // the store on disk now holds uncommitted data

	prod2 := txnClient() // a new instance: InitProducerID fences and aborts the old transaction
	e := &ends{}
	task2, kv2 := open(prod2, e)
	defer task2.Close(ctx, false)
	equal(t, "after crash", dump(t, kv2), want)
	_, end, _ := kafkachangelog.NewReader(cons, kafkachangelog.ReadCommitted()).Offsets(ctx, task2.Changelog("s"))
	if got := task2.Offsets()[task2.Changelog("s")]; got != end {
		t.Fatalf("restored to %d, end %d", got, end)
	}
}

func TestReaderOutOfRange(t *testing.T) {
	ctx := context.Background()
	c := cluster(t)
	cl := client(t, c)
	if err := kafkachangelog.CreateTopic(ctx, kadm.NewClient(cl), "t", 1, false, 0); err != nil {
		t.Fatal(err)
	}
	tp := state.TopicPartition{Topic: "t"}
	w := kafkachangelog.NewWriter(cl)
	for i := range 5 {
		_ = w.Append(ctx, tp, state.ChangelogRecord{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	offs, err := w.Flush(ctx)
	if err != nil || offs[tp] != 4 {
		t.Fatalf("flush: %v %v", offs, err)
	}
	r := kafkachangelog.NewReader(cl)
	recs, next, err := r.Fetch(ctx, tp, 2)
	if err != nil || len(recs) != 3 || recs[0].Offset != 2 || next != 5 {
		t.Fatalf("fetch from 2: %d records, next %d, %v", len(recs), next, err)
	}
	if _, _, err := r.Fetch(ctx, tp, 99); !errorsIs(err, state.ErrOffsetOutOfRange) {
		t.Fatalf("fetch past end: %v", err)
	}
}
