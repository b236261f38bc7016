package integration

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
	"github.com/gregorhq/gregor/internal/testcluster"
)

// committedCounts follows the output topic with read_committed: it keeps each word's
// latest count and reports a count that does not grow (a line counted twice shows up
// as a count repeated, or smaller than one seen before).
type committedCounts struct {
	cl    *kgo.Client
	last  map[string]int64
	dups  int
	first []string
}

func newCommittedCounts(t *testing.T, addr string) *committedCounts {
	return &committedCounts{last: map[string]int64{}, cl: newClient(t, addr, kgo.ConsumeTopics(wordcount.OutputTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))}
}

// poll reads what is committed now, waiting at most d for the first records.
func (c *committedCounts) poll(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := c.cl.PollFetches(ctx)
	for _, fe := range fs.Errors() {
		if fe.Err != context.DeadlineExceeded && fe.Err != context.Canceled {
			t.Fatalf("read output %s-%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
	}
	fs.EachRecord(func(r *kgo.Record) {
		if len(r.Value) != 8 {
			t.Fatalf("output %q: value of %d bytes, want 8", r.Key, len(r.Value))
		}
		n := int64(binary.BigEndian.Uint64(r.Value))
		if prev, ok := c.last[string(r.Key)]; ok && n <= prev {
			c.dups++
			if len(c.first) < 10 {
				c.first = append(c.first, string(r.Key)+": "+strconv.FormatInt(prev, 10)+" then "+strconv.FormatInt(n, 10))
			}
		}
		c.last[string(r.Key)] = n
	})
}

// TestWordcountExactlyOnceCrashes runs examples/wordcount with
// --processing-guarantee exactly_once_v2 and kills it with SIGKILL several times
// while input flows, at random moments (GREGOR_CRASH_SEED picks them; the test logs
// it), sometimes deleting its state directory too. The output read with read_committed
// must count every word exactly as often as it was sent, and no count may repeat or go
// back: no input line took effect twice, however the kills fell relative to the
// transactions. It runs on gregor and on franz-go's kfake (one and three brokers),
// which serves the newest versions of the transaction requests.
//
// It and its subtests run in parallel with other tests: most of each subtest is
// spent waiting for a killed member's session to expire, and each has its own
// broker, application and state directory.
func TestWordcountExactlyOnceCrashes(t *testing.T) {
	t.Parallel()
	gregor := testcluster.Cluster{Name: "gregor", Start: func(tb testing.TB) string { return startWordcountBroker(tb).addr() }}
	for _, c := range []testcluster.Cluster{gregor, testcluster.Kfake(1), testcluster.Kfake(3)} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			wordcountExactlyOnceCrashes(t, c.Start(t))
		})
	}
}

func wordcountExactlyOnceCrashes(t *testing.T, addr string) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("GREGOR_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("GREGOR_CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	app, src := wordcountOn(t, addr, seed)
	app.extra = []string{"--processing-guarantee", "exactly_once_v2"}
	ctx := testCtx(t, 5*time.Minute)
	out := newCommittedCounts(t, app.addr)

	stopSource := src.flow(ctx, 50, 20*time.Millisecond)
	adm := newKadm(t, app.addr)
	const kills = 4
	for i := range kills {
		base, err := committedInput(ctx, adm)
		if err != nil {
			t.Fatal(err)
		}
		app.start()
		waitCommit(t, ctx, app.addr, base)
		d := time.Duration(rng.Int64N(int64(3 * wcCommit)))
		time.Sleep(d)
		wipe := i%2 == 1
		t.Logf("kill %d: SIGKILL %v after its first commit (wipe state: %v), %d lines sent so far", i+1, d, wipe, src.lines())
		app.kill(wipe)
		out.poll(t, 100*time.Millisecond)
	}
	app.start()
	if err := stopSource(); err != nil {
		t.Fatal(err)
	}
	want := src.expected()
	sent := awaitExactCounts(t, ctx, out, want)
	t.Logf("exactly-once: %d lines, %d words sent (%d distinct); committed output exact after %d kills", src.lines(), sent, len(want), kills)
	app.stop()
}

// awaitExactCounts reads the committed output until every word's count equals want
// (what the source sent, which has stopped) and fails the test at once when a count
// passes want (counts only grow: it can never come right), when ctx ends first, or
// when a committed count did not grow. It returns how many words were sent.
func awaitExactCounts(t *testing.T, ctx context.Context, out *committedCounts, want map[string]int64) int64 {
	t.Helper()
	for !mapsEqual(out.last, want) {
		for w, n := range out.last {
			if n > want[w] {
				over, by := compareCounts(t, out.last, want)
				t.Fatalf("word %q committed with count %d, sent %d times: %d words over-counted by %d", w, n, want[w], over, by)
			}
		}
		if ctx.Err() != nil {
			over, by := compareCounts(t, out.last, want)
			t.Fatalf("committed counts never matched the input: %d words over-counted by %d", over, by)
		}
		out.poll(t, time.Second)
	}
	if out.dups > 0 {
		t.Errorf("%d committed counts did not grow (input counted twice), first: %v", out.dups, out.first)
	}
	var sent int64
	for _, n := range want {
		sent += n
	}
	return sent
}
