package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// eosProcessor is the consume-transform-produce loop the EOS test runs in a
// child process (so it can be killed with SIGKILL mid-transaction): it
// copies every record of "eos-in" to "eos-out", exactly once, with a
// GroupTransactSession.
func eosProcessor(addr string) error {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(addr),
		kgo.TransactionalID("eos-copier"),
		kgo.TransactionTimeout(10*time.Second),
		kgo.ConsumerGroup("eos-group"),
		kgo.ConsumeTopics("eos-in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic("eos-out"),
		kgo.FetchMaxPartitionBytes(2000),  // small polls: many transactions
		kgo.SessionTimeout(6*time.Second), // the killed member leaves the group soon
		kgo.HeartbeatInterval(time.Second),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx := context.Background()
	for {
		fs := sess.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		if err := sess.Begin(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		})
		time.Sleep(20 * time.Millisecond) // give the test time to kill us mid-transaction
		if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
			return err
		}
	}
}

// TestEOSProcessorChild is not a test: it is the child process of
// TestExactlyOnceAcrossAKill.
func TestEOSProcessorChild(t *testing.T) {
	addr := os.Getenv("GREGOR_EOS_CHILD")
	if addr == "" {
		t.Skip("only runs as the child of TestExactlyOnceAcrossAKill")
	}
	if err := eosProcessor(addr); err != nil {
		fmt.Fprintln(os.Stderr, "processor:", err)
		os.Exit(1)
	}
}

func startEOSChild(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEOSProcessorChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GREGOR_EOS_CHILD="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestExactlyOnceAcrossAKill runs a transactional copier, kills it with
// SIGKILL while it is mid-stream, starts it again, and checks that the
// committed output holds every input exactly once.
func TestExactlyOnceAcrossAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("eos-in"))
	mustCreate(t, ctx, adm, "eos-in", 3, nil)
	mustCreate(t, ctx, adm, "eos-out", 3, nil)
	const n = 3000
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	committedOut := func() int64 {
		offs, err := adm.ListCommittedOffsets(ctx, "eos-out")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		offs.Each(func(o kadm.ListedOffset) { total += o.Offset })
		return total
	}
	first := startEOSChild(t, b.Addr())
	for committedOut() < 300 {
		if ctx.Err() != nil {
			first.Process.Kill()
			t.Fatal("the copier made no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Process.Kill() // SIGKILL: no abort, no leave
	first.Wait()

	second := startEOSChild(t, b.Addr())
	defer func() {
		second.Process.Kill()
		second.Wait()
	}()

	// Read the committed output until every input has shown up.
	rd, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("eos-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]int{}
	total := 0
	for total < n {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("only %d of %d inputs reached the output", total, n)
			}
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	// Nothing more may arrive: wait a little for stragglers (duplicates).
	qctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	fs := rd.PollFetches(qctx)
	cancel()
	fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++ })
	for i := 0; i < n; i++ {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Fatalf("input %d appears %d times in the committed output (total %d)", i, c, total)
		}
	}
	if total != n {
		t.Fatalf("output has %d records, want %d", total, n)
	}
}
