package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
)

// The crash tests run examples/wordcount as a child process against a gregor broker,
// kill it with SIGKILL, delete its state directory and start it again: the counts come
// back from the changelog topic and go on from the last committed input offsets.

const (
	wcCommit  = 300 * time.Millisecond
	wcSession = 6 * time.Second // the broker's group.min.session.timeout.ms
	wcParts   = 4
)

// wordcountApp is examples/wordcount built once per test and run as a child process.
type wordcountApp struct {
	t        *testing.T
	bin      string
	stateDir string
	addr     string
	proc     *Process
	prev     []string // output of earlier processes, for diagnosis
	extra    []string // more flags, such as --processing-guarantee
}

func newWordcountApp(t *testing.T, addr string) *wordcountApp {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "wordcount")
	if err := BuildProgram(MainModule+"/examples/wordcount", bin); err != nil {
		t.Fatal(err)
	}
	a := &wordcountApp{t: t, bin: bin, stateDir: filepath.Join(dir, "state"), addr: addr}
	t.Cleanup(func() {
		if a.proc != nil {
			a.proc.Kill()
			a.prev = append(a.prev, a.proc.Output())
		}
		if t.Failed() {
			for i, out := range a.prev {
				t.Logf("wordcount run %d output:\n%s", i+1, out)
			}
		}
	})
	return a
}

// start runs the application and waits for its ready line.
func (a *wordcountApp) start() {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--brokers", a.addr, "--state-dir", a.stateDir,
		"--commit-interval", wcCommit.String(), "--session-timeout", wcSession.String(), "--threads", "2"}, a.extra...)
	p, err := Start(ctx, a.bin, args...)
	if err != nil {
		a.t.Fatalf("start wordcount: %v", err)
	}
	a.proc = p
}

// crash kills the application with SIGKILL and deletes its state directory.
func (a *wordcountApp) crash() { a.kill(true) }

// kill kills the application with SIGKILL and, with wipe, deletes its state directory.
func (a *wordcountApp) kill(wipe bool) {
	a.t.Helper()
	a.proc.Kill()
	a.prev = append(a.prev, a.proc.Output())
	a.proc = nil
	if !wipe {
		return
	}
	if err := os.RemoveAll(a.stateDir); err != nil {
		a.t.Fatal(err)
	}
}

// stop stops the application with SIGTERM and requires a clean exit.
func (a *wordcountApp) stop() {
	a.t.Helper()
	if err := a.proc.Stop(30 * time.Second); err != nil {
		a.t.Fatalf("stop wordcount: %v\noutput:\n%s", err, a.proc.Output())
	}
	a.prev = append(a.prev, a.proc.Output())
	a.proc = nil
}

// lineSource produces lines of random words to the input topic and remembers how
// often each word was sent.
type lineSource struct {
	t    *testing.T // for mustProduce only
	cl   *kgo.Client
	rng  *rand.Rand
	mu   sync.Mutex
	want map[string]int64
	sent int
}

func newLineSource(t *testing.T, addr string, seed uint64) *lineSource {
	return &lineSource{t: t, cl: newClient(t, addr, kgo.DefaultProduceTopic(wordcount.InputTopic)),
		rng: rand.New(rand.NewPCG(seed, 1)), want: map[string]int64{}}
}

// produce sends n lines (of 1 to 8 words from a 500-word vocabulary, mixed case and
// punctuation, so that the splitter's lowercasing matters) and waits for them.
func (s *lineSource) produce(ctx context.Context, n int) error {
	recs := make([]*kgo.Record, n)
	s.mu.Lock()
	for i := range recs {
		words := make([]string, 1+s.rng.IntN(8))
		for j := range words {
			w := "w" + strconv.Itoa(s.rng.IntN(500))
			s.want[w]++
			if s.rng.IntN(4) == 0 {
				w = strings.ToUpper(w)
			}
			words[j] = w
		}
		recs[i] = kgo.StringRecord(strings.Join(words, []string{" ", ", ", " - ", "! "}[s.rng.IntN(4)]))
	}
	s.sent += n
	s.mu.Unlock()
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce input: %w", err)
	}
	return nil
}

// flow produces n lines every interval on its own goroutine until the returned
// stop is called; stop returns the first failure.
func (s *lineSource) flow(ctx context.Context, n int, every time.Duration) (stop func() error) {
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-quit:
				done <- nil
				return
			case <-time.After(every):
			}
			if err := s.produce(ctx, n); err != nil {
				done <- err
				return
			}
		}
	}()
	return func() error {
		close(quit)
		return <-done
	}
}

// mustProduce is produce for the test's goroutine.
func (s *lineSource) mustProduce(ctx context.Context, n int) {
	s.t.Helper()
	if err := s.produce(ctx, n); err != nil {
		s.t.Fatal(err)
	}
}

// expected returns a copy of the counts sent so far.
func (s *lineSource) expected() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.want))
	for w, n := range s.want {
		out[w] = n
	}
	return out
}

// waitDrained waits until the application has committed every input record and every
// repartitioned word: all it produced so far is in its changelog and output topics.
func waitDrained(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	adm := newKadm(t, addr)
	topics := []string{wordcount.InputTopic, wordcount.ApplicationID + "-" + wordcount.StoreName + "-repartition"}
	for {
		// Committed offsets first: the input's end is fixed while nothing is produced,
		// and the repartition records of committed input are acknowledged before that
		// commit, so the repartition end read afterwards is final.
		committed, err := adm.FetchOffsets(ctx, wordcount.ApplicationID)
		if err == nil {
			err = committed.Error()
		}
		var ends map[string]map[int32]int64
		if err == nil {
			ends, err = listEndOffsets(ctx, adm, topics)
		}
		if err == nil {
			done := true
			for topic, ps := range ends {
				for p, end := range ps {
					if c, ok := committed.Lookup(topic, p); end > 0 && (!ok || c.At < end) {
						done = false
					}
				}
			}
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("wordcount did not commit all its input: %v (last error %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// outputCounts reads the output topic from the start to its current end and returns
// the latest count of each word, as a compacted view of the topic would.
func outputCounts(t *testing.T, ctx context.Context, addr string) map[string]int64 {
	t.Helper()
	ends, err := listEndOffsets(ctx, newKadm(t, addr), []string{wordcount.OutputTopic})
	if err != nil {
		t.Fatalf("output end offsets: %v", err)
	}
	offsets := map[int32]kgo.Offset{}
	remaining := 0
	for p, end := range ends[wordcount.OutputTopic] {
		if end > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
			remaining++
		}
	}
	last := map[string]int64{}
	if remaining == 0 {
		return last
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{wordcount.OutputTopic: offsets}))
	defer cl.Close()
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read output: %v", ctx.Err())
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("read output %s-%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Topic][r.Partition] {
				return
			}
			if len(r.Value) != 8 {
				t.Fatalf("output %q: value of %d bytes, want 8", r.Key, len(r.Value))
			}
			last[string(r.Key)] = int64(binary.BigEndian.Uint64(r.Value))
			if r.Offset == ends[r.Topic][r.Partition]-1 {
				remaining--
			}
		})
	}
	return last
}

// listEndOffsets returns the end offset of every partition of topics.
func listEndOffsets(ctx context.Context, adm *kadm.Client, topics []string) (map[string]map[int32]int64, error) {
	lo, err := settledEndOffsets(ctx, adm, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[string]map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, nil
}

// compareCounts checks got against want: every word counted at least as often as it
// was sent, and no word that was never sent. It returns the words counted too often
// and by how much in all.
func compareCounts(t *testing.T, got, want map[string]int64) (overWords int, overBy int64) {
	t.Helper()
	for w, n := range want {
		switch g := got[w]; {
		case g < n:
			t.Errorf("word %q counted %d times, sent %d times: input lost", w, g, n)
		case g > n:
			overWords++
			overBy += g - n
		}
	}
	for w, g := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("word %q counted %d times, never sent", w, g)
		}
	}
	return overWords, overBy
}

// setupWordcount starts a broker with the wordcount topics (the output compacted) and
// returns it with the application (not started) and a line source.
func setupWordcount(t *testing.T, seed uint64) (*testBroker, *wordcountApp, *lineSource) {
	t.Helper()
	b := startWordcountBroker(t)
	app, src := wordcountOn(t, b.addr(), seed)
	return b, app, src
}

// startWordcountBroker starts gregor with groups that form without the initial
// rebalance delay.
func startWordcountBroker(t testing.TB) *testBroker {
	t.Helper()
	return startBroker(t, "--set", "group.initial.rebalance.delay.ms=0")
}

// wordcountOn creates the word count's topics on the cluster at addr and returns the
// application (not started) and a source of input lines.
func wordcountOn(t *testing.T, addr string, seed uint64) (*wordcountApp, *lineSource) {
	t.Helper()
	createTopic(t, addr, wordcount.InputTopic, wcParts, nil)
	compact := "compact"
	createTopic(t, addr, wordcount.OutputTopic, wcParts, map[string]*string{"cleanup.policy": &compact})
	return newWordcountApp(t, addr), newLineSource(t, addr, seed)
}

// TestWordcountCrashAfterCommitIsExact kills the application once it has committed
// everything it consumed (so nothing uncommitted was processed), deletes its state and
// restarts it: the counts are restored from the changelog and, with more input, stay
// exact: nothing is lost and nothing counted twice.
func TestWordcountCrashAfterCommitIsExact(t *testing.T) {
	t.Parallel()
	_, app, src := setupWordcount(t, 1)
	ctx := testCtx(t, 3*time.Minute)
	src.mustProduce(ctx, 2000)
	app.start()
	waitDrained(t, ctx, app.addr)
	if got, want := outputCounts(t, ctx, app.addr), src.expected(); !mapsEqual(got, want) {
		over, by := compareCounts(t, got, want)
		t.Fatalf("before the crash: counts differ from the input (%d words over-counted by %d)", over, by)
	}
	app.crash()
	src.mustProduce(ctx, 2000) // while the application is down
	app.start()
	src.mustProduce(ctx, 2000) // and after it came back
	waitDrained(t, ctx, app.addr)
	got, want := outputCounts(t, ctx, app.addr), src.expected()
	if over, by := compareCounts(t, got, want); over > 0 {
		t.Errorf("%d words over-counted by %d in all after a crash that followed a commit", over, by)
	}
	app.stop()
}

// TestWordcountCrashMidStream kills the application several times while input flows,
// at random moments relative to its commits (GREGOR_CRASH_SEED picks the random
// sequence; the test logs it), deleting its state directory each time. Under
// at-least-once every word is counted at least as often as it was sent once the last
// run has drained the input; words counted again (input processed after the last
// commit before a kill) are reported, not failed.
func TestWordcountCrashMidStream(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("GREGOR_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("GREGOR_CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	_, app, src := setupWordcount(t, seed)
	ctx := testCtx(t, 4*time.Minute)

	// The source produces in small steps for as long as the kills go on.
	stopSource := src.flow(ctx, 50, 20*time.Millisecond)
	adm := newKadm(t, app.addr)
	for i := range 3 {
		base, err := committedInput(ctx, adm)
		if err != nil {
			t.Fatal(err)
		}
		app.start()
		// Let it join (after a SIGKILL the old member holds the group until its session
		// times out) and commit once, then kill it at a random moment: before or after
		// its next commits, with uncommitted input processed or not.
		waitCommit(t, ctx, app.addr, base)
		d := time.Duration(rng.Int64N(int64(3 * wcCommit)))
		time.Sleep(d)
		t.Logf("crash %d: SIGKILL %v after its first commit (commit interval %v), %d lines sent so far", i+1, d, wcCommit, src.lines())
		app.crash()
	}
	app.start()
	if err := stopSource(); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, ctx, app.addr)
	got, want := outputCounts(t, ctx, app.addr), src.expected()
	over, by := compareCounts(t, got, want)
	var sent int64
	for _, n := range want {
		sent += n
	}
	t.Logf("at-least-once: %d lines, %d words sent (%d distinct); %d words counted again, %d extra counts (%.2f%%)",
		src.lines(), sent, len(want), over, by, 100*float64(by)/float64(sent))
	app.stop()
}

// committedInput returns the sum of the application's committed input offsets (0
// before its group exists).
func committedInput(ctx context.Context, adm *kadm.Client) (int64, error) {
	committed, err := adm.FetchOffsets(ctx, wordcount.ApplicationID)
	if err == nil {
		err = committed.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		// kfake's OffsetFetch answers so for a group that does not exist yet;
		// Gregor answers with no offsets.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fetch committed offsets: %w", err)
	}
	var sum int64
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == wordcount.InputTopic {
			sum += o.At
		}
	})
	return sum, nil
}

// waitCommit waits until the application commits input offsets beyond base.
func waitCommit(t *testing.T, ctx context.Context, addr string, base int64) {
	t.Helper()
	for {
		n, err := freshCommittedInput(ctx, addr)
		if err == nil && n > base {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no commit past input offset %d: %v (last error %v)", base, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freshCommittedInput is committedInput through a client of its own, for the
// brokers at addr (comma-separated). A new client each time, because
// franz-go (v1.22) keeps a group's coordinator cached after a dial to it
// fails when the request is sharded, as OffsetFetch is: once the
// coordinator's broker dies, a long-lived client asks the dead broker again
// and again, long after another took the group over.
func freshCommittedInput(ctx context.Context, addr string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...))
	if err != nil {
		return 0, fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	return committedInput(ctx, kadm.NewClient(cl))
}

func (s *lineSource) lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
