package streams_test

import (
	"context"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/testcluster"
	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/streams"
)

func TestProcessingGuaranteeNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    streams.ProcessingGuarantee
		ok   bool
	}{
		{"at_least_once", streams.AtLeastOnce, true},
		{"exactly_once_v2", streams.ExactlyOnceV2, true},
		{"exactly_once", 0, false},
		{"", 0, false},
	} {
		g, err := streams.ParseProcessingGuarantee(tc.name)
		if (err == nil) != tc.ok || (tc.ok && (g != tc.g || g.String() != tc.name)) {
			t.Errorf("%q: got %v, %v", tc.name, g, err)
		}
	}
}

var debugOpts []kgo.Opt

func init() {
	if os.Getenv("KGO_DEBUG") != "" {
		debugOpts = []kgo.Opt{kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil))}
	}
}

func startEOSApp(t *testing.T, addr, dir string, threads int, rl state.RestoreListener) *streams.App {
	t.Helper()
	app, err := streams.New(wordCount(t), streams.Config{
		ApplicationID: "streams-wordcount", Brokers: []string{addr}, StateDir: dir,
		ProcessingGuarantee: streams.ExactlyOnceV2,
		NumStreamThreads:    threads, SessionTimeout: 6 * time.Second, TransactionTimeout: 5 * time.Second,
		RestoreListener: rl, ClientOptions: append([]kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)}, debugOpts...),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	return app
}

// committedReader follows the output topic with read_committed and checks that every
// word's count only grows: a count processed twice would show up as a repeated or
// smaller value after a larger one.
type committedReader struct {
	cl   *kgo.Client
	last map[string]int64
}

func newCommittedReader(t *testing.T, addr string) *committedReader {
	return &committedReader{cl: client(t, addr, kgo.ConsumeTopics(outTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())), last: map[string]int64{}}
}

func (o *committedReader) waitFor(t *testing.T, want func() map[string]int64, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !equalCounts(o.last, want()) {
		fs := o.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out: counts differ: %s", diffCounts(o.last, want()))
		}
		fs.EachRecord(func(r *kgo.Record) {
			n := int64(binary.BigEndian.Uint64(r.Value))
			if prev, ok := o.last[string(r.Key)]; ok && n <= prev {
				t.Errorf("count of %q went from %d to %d: input processed twice", r.Key, prev, n)
			}
			o.last[string(r.Key)] = n
		})
	}
}

// Under exactly-once, instances killed while input flows (their transactions
// aborted, their state lost or kept) leave committed output in which every input line
// counts once: counts only grow and end exact.
func TestAppExactlyOnceKills(t *testing.T) { testcluster.Run(t, testExactlyOnceKills) }

func testExactlyOnceKills(t *testing.T, addr string) {
	prod := wordCountTopics(t, addr, 4)
	feed := newLineFeed(t, prod, 7, 8)
	feed.produce(500)
	stopFeed := feed.flow()
	dir := t.TempDir()
	out := newCommittedReader(t, addr)
	for i := range 3 {
		app := startEOSApp(t, addr, dir, 2, nil)
		for deadline := time.Now().Add(20 * time.Second); len(app.Tasks()) == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no tasks assigned")
			}
		}
		time.Sleep(time.Duration(300+feed.intN(500)) * time.Millisecond)
		app.Kill()
		if i%2 == 1 { // lose the local state too
			if err := os.RemoveAll(filepath.Join(dir, "streams-wordcount")); err != nil {
				t.Fatal(err)
			}
		}
	}
	rc := &restoreCount{}
	app := startEOSApp(t, addr, dir, 2, rc)
	stopFeed()
	out.waitFor(t, feed.snapshot, 60*time.Second)
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A clean close wrote checkpoints: a restart restores nothing.
	rc2 := &restoreCount{}
	app = startEOSApp(t, addr, dir, 2, rc2)
	feed.produce(100)
	out.waitFor(t, feed.snapshot, 60*time.Second)
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rc2.n != 0 {
		t.Errorf("restored %d records after a clean close", rc2.n)
	}
}

// Under exactly-once, instances that join and leave while input flows hand tasks over
// through commits of the revoked tasks' transactions: the committed counts only grow and
// end exact.
func TestAppExactlyOnceRebalance(t *testing.T) { testcluster.Run(t, testExactlyOnceRebalance) }

func testExactlyOnceRebalance(t *testing.T, addr string) {
	prod := wordCountTopics(t, addr, 4)
	feed := newLineFeed(t, prod, 13, 14)
	stopFeed := feed.flow()
	out := newCommittedReader(t, addr)
	a1 := startEOSApp(t, addr, t.TempDir(), 2, nil)
	time.Sleep(500 * time.Millisecond)
	a2 := startEOSApp(t, addr, t.TempDir(), 1, nil)
	for deadline := time.Now().Add(30 * time.Second); len(a2.Tasks()) == 0 || len(a1.Tasks()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tasks not shared: %v and %v", a1.Tasks(), a2.Tasks())
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := a1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	stopFeed()
	out.waitFor(t, feed.snapshot, 60*time.Second)
	if err := a2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// lineFeed produces word-count lines, from the test and from a background
// goroutine, and keeps the counts they add up to.
type lineFeed struct {
	t    *testing.T
	prod *kgo.Client
	mu   sync.Mutex // guards rng and want
	rng  *rand.Rand
	want map[string]int64
}

func newLineFeed(t *testing.T, prod *kgo.Client, seed1, seed2 uint64) *lineFeed {
	return &lineFeed{t: t, prod: prod, rng: rand.New(rand.NewPCG(seed1, seed2)), want: map[string]int64{}}
}

// produce sends n lines and adds their words to the counts.
func (f *lineFeed) produce(n int) {
	f.mu.Lock()
	seed := f.rng.Uint64()
	f.mu.Unlock()
	local := map[string]int64{}
	produceLines(f.t, f.prod, rand.New(rand.NewPCG(seed, 1)), n, local)
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range local {
		f.want[k] += v
	}
}

// intN draws from the feed's random source.
func (f *lineFeed) intN(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

// snapshot copies the counts so far.
func (f *lineFeed) snapshot() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.want)
}

// flow produces 20 lines every 10ms until the returned stop, which waits for
// the last of them; a test that ends early stops it too, before its cluster.
func (f *lineFeed) flow() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			f.produce(20)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
	f.t.Cleanup(stop)
	return stop
}
