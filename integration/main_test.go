package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// gregorBin is the broker binary the tests run.
var gregorBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	gregorBin = os.Getenv("GREGOR_BIN")
	if gregorBin == "" {
		dir, err := os.MkdirTemp("", "gregor-integration-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		gregorBin = filepath.Join(dir, "gregor")
		if err := BuildProgram(MainModule+"/cmd/gregor", gregorBin); err != nil {
			fmt.Fprintln(os.Stderr, "integration: building gregor:", err)
			return 1
		}
	}
	return m.Run()
}

// testBroker is a gregor process for one test.
type testBroker struct {
	t       testing.TB
	dataDir string
	flags   []string
	p       *Process
}

// startBroker starts gregor with a fresh data directory and the given extra
// flags; the process is killed when the test ends (and its output logged if
// the test failed).
func startBroker(t testing.TB, flags ...string) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), flags...)
}

// startBrokerIn is startBroker with its data in dataDir.
func startBrokerIn(t testing.TB, dataDir string, flags ...string) *testBroker {
	t.Helper()
	b := &testBroker{t: t, dataDir: dataDir, flags: flags}
	b.start()
	t.Cleanup(func() {
		if b.p == nil {
			return
		}
		b.p.Kill()
		if t.Failed() {
			t.Logf("broker output:\n%s", b.p.Output())
		}
	})
	return b
}

func (b *testBroker) start() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := StartGregor(ctx, gregorBin, b.dataDir, b.flags...)
	if err != nil {
		b.t.Fatalf("start broker: %v", err)
	}
	b.p = p
}

// addr is the broker's current address (it changes on restart).
func (b *testBroker) addr() string { return b.p.Addr() }

// stop stops the broker with SIGTERM and requires a clean exit.
func (b *testBroker) stop() {
	b.t.Helper()
	if err := b.p.Stop(30 * time.Second); err != nil {
		b.t.Fatalf("stop broker: %v\noutput:\n%s", err, b.p.Output())
	}
}

// kill kills the broker with SIGKILL.
func (b *testBroker) kill() { b.p.Kill() }

// restart starts the broker again on the same data directory.
func (b *testBroker) restart() {
	b.t.Helper()
	prev := b.p
	b.p = nil
	b.start()
	if b.t.Failed() {
		b.t.Logf("previous broker output:\n%s", prev.Output())
	}
}

// newClient returns a franz-go client for the broker at addr (or the
// brokers of a comma-separated list, a cluster's seeds), closed when the
// test ends.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...)}, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

var topicSeq atomic.Int64

// uniqueTopic returns a topic name unique within this test binary.
func uniqueTopic(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), topicSeq.Add(1))
}

// createTopic creates a topic through the admin API and fails the test on
// any error.
func createTopic(t testing.TB, addr, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// testCtx returns a context that ends after d or when the test ends.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// consumeAll reads partition p of topic from offset 0 until it has n
// records, failing on any fetch error or on ctx's end.
func consumeAll(t testing.TB, ctx context.Context, addr, topic string, p int32, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {p: kgo.NewOffset().At(0)},
	})}, opts...)...)
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s/%d: got %d of %d records: %v", topic, p, len(out), n, err)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("consume %s/%d after %d records: %v", topic, p, len(out), fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	if len(out) > n {
		t.Fatalf("consume %s/%d: got %d records, want %d", topic, p, len(out), n)
	}
	return out
}

// newKadm returns an admin client for the broker, closed when the test ends.
func newKadm(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, addr))
}

// settledEndOffsets lists the end offsets of topics, retrying retriable
// errors for up to a minute: just after a leader election, the new leader
// answers OFFSET_NOT_AVAILABLE until its high watermark has caught up.
func settledEndOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return ends, err
		}
		select {
		case <-ctx.Done():
			return ends, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
