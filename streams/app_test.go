package streams_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/streams"
)

const (
	inTopic  = "streams-plaintext-input"
	outTopic = "streams-wordcount-output"
)

func startBroker(t *testing.T) *brokertest.Broker {
	return brokertest.Start(t, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
}

// wordCountBroker starts a broker with the word count's input and output
// topics of the given partitions, and returns it with a producing client.
func wordCountBroker(t *testing.T, partitions int32) (*brokertest.Broker, *kgo.Client) {
	t.Helper()
	b := startBroker(t)
	return b, wordCountTopics(t, b.Addr(), partitions)
}

// wordCountTopics creates the word count's input and output topics of the given
// partitions on the cluster at addr and returns a producing client.
func wordCountTopics(t *testing.T, addr string, partitions int32) *kgo.Client {
	t.Helper()
	createTopic(t, addr, inTopic, partitions)
	createTopic(t, addr, outTopic, partitions)
	return client(t, addr)
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	resp, err := kadm.NewClient(client(t, addr)).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

var vocabulary = strings.Fields("the quick brown fox jumps over the lazy dog Kafka streams Gregor broker " +
	"table stream state store changelog repartition commit offset partition task topology")

// produceLines writes n random lines and adds their word counts to want.
func produceLines(t *testing.T, cl *kgo.Client, rng *rand.Rand, n int, want map[string]int64) {
	t.Helper()
	recs := make([]*kgo.Record, 0, n)
	for range n {
		words := make([]string, 1+rng.IntN(8))
		for i := range words {
			words[i] = vocabulary[rng.IntN(len(vocabulary))]
			want[strings.ToLower(words[i])]++
		}
		recs = append(recs, &kgo.Record{Topic: inTopic, Value: []byte(strings.Join(words, " ") + "!")})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// outputReader follows the output topic, keeping each word's latest count.
type outputReader struct {
	cl   *kgo.Client
	last map[string]int64
}

func newOutputReader(t *testing.T, addr string) *outputReader {
	return &outputReader{cl: client(t, addr, kgo.ConsumeTopics(outTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), last: map[string]int64{}}
}

// waitFor reads until the latest counts equal want.
func (o *outputReader) waitFor(t *testing.T, want map[string]int64, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !equalCounts(o.last, want) {
		fs := o.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out: counts differ: %s", diffCounts(o.last, want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != 8 {
				t.Errorf("count of %q has %d bytes", r.Key, len(r.Value))
				return
			}
			o.last[string(r.Key)] = int64(binary.BigEndian.Uint64(r.Value))
		})
	}
}

// diffCounts describes how got differs from want, a few words at most (the
// maps can hold thousands of words).
func diffCounts(got, want map[string]int64) string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			diffs = append(diffs, fmt.Sprintf("%s: got %d, want %d", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: got %d, want none", k, g))
		}
	}
	slices.Sort(diffs)
	n := len(diffs)
	if n > 10 {
		diffs = append(diffs[:10], "...")
	}
	return fmt.Sprintf("%d of %d words differ: %s", n, len(want), strings.Join(diffs, "; "))
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

type restoreCount struct {
	mu sync.Mutex
	n  int64
}

func (r *restoreCount) OnRestoreStart(string, state.TopicPartition, int64, int64) {}
func (r *restoreCount) OnBatchRestored(string, state.TopicPartition, int64, int)  {}
func (r *restoreCount) OnRestoreEnd(_ string, _ state.TopicPartition, total int64) {
	r.mu.Lock()
	r.n += total
	r.mu.Unlock()
}

func startApp(t *testing.T, addr, dir string, threads int, rl state.RestoreListener) *streams.App {
	t.Helper()
	app, err := streams.New(wordCount(t), streams.Config{
		ApplicationID: "streams-wordcount", Brokers: []string{addr}, StateDir: dir,
		NumStreamThreads: threads, CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RestoreListener: rl, ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
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

func TestAppWordCount(t *testing.T) {
	b, prod := wordCountBroker(t, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]int64{}
	produceLines(t, prod, rng, 2000, want)
	start := time.Now()
	app := startApp(t, b.Addr(), t.TempDir(), 2, nil)
	out := newOutputReader(t, b.Addr())
	out.waitFor(t, want, 30*time.Second)
	t.Logf("first output after %v", time.Since(start))
	produceLines(t, prod, rng, 500, want)
	out.waitFor(t, want, 30*time.Second)
	t.Logf("second output after %v", time.Since(start))
	defer func() { t.Logf("closed after %v", time.Since(start)) }()
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Internal topics: the changelog is compacted and has one partition per task.
	adm := kadm.NewClient(client(t, b.Addr()))
	cl := "streams-wordcount-counts-changelog"
	details, err := adm.ListTopics(context.Background(), cl, "streams-wordcount-counts-repartition")
	if err != nil || len(details) != 2 || len(details[cl].Partitions) != 4 {
		t.Fatalf("internal topics %v %v", details, err)
	}
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs[0].Configs {
		if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
			t.Fatalf("changelog cleanup.policy %v", c.Value)
		}
	}
}

// A crash loses the local state; the restarted application restores it from the
// changelog and continues the counts.
func TestAppKillRestore(t *testing.T) {
	b, prod := wordCountBroker(t, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string]int64{}
	produceLines(t, prod, rng, 1000, want)
	dir := t.TempDir()
	app := startApp(t, b.Addr(), dir, 1, nil)
	out := newOutputReader(t, b.Addr())
	out.waitFor(t, want, 30*time.Second)
	waitCommitted(t, b.Addr(), "streams-wordcount", inTopic)
	app.Kill()
	if err := os.RemoveAll(filepath.Join(dir, "streams-wordcount")); err != nil {
		t.Fatal(err)
	}
	rc := &restoreCount{}
	startApp(t, b.Addr(), dir, 1, rc)
	produceLines(t, prod, rng, 1000, want)
	out.waitFor(t, want, 30*time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.n == 0 {
		t.Fatal("nothing restored from the changelog")
	}
}

// Two instances share the tasks; instances join and leave while input flows, and the
// counts stay exact.
func TestAppTwoInstancesRebalance(t *testing.T) {
	b, prod := wordCountBroker(t, 4)
	rng := rand.New(rand.NewPCG(5, 6))
	want := map[string]int64{}
	a1 := startApp(t, b.Addr(), t.TempDir(), 2, nil)
	produceLines(t, prod, rng, 500, want)
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan struct{})
	var mu sync.Mutex
	go func() { // keep input flowing through the rebalances
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			local := map[string]int64{}
			produceLines(t, prod, rand.New(rand.NewPCG(rng.Uint64(), 1)), 50, local)
			mu.Lock()
			for k, v := range local {
				want[k] += v
			}
			mu.Unlock()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	a2 := startApp(t, b.Addr(), t.TempDir(), 1, nil)
	for deadline := time.Now().Add(60 * time.Second); len(a2.Tasks()) == 0 || len(a1.Tasks()) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("tasks not shared: %v and %v", a1.Tasks(), a2.Tasks())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("shared: %v and %v", a1.Tasks(), a2.Tasks())
	if err := a1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(done)
	wg.Wait()
	produceLines(t, prod, rng, 200, want)
	out := newOutputReader(t, b.Addr())
	out.waitFor(t, want, 40*time.Second)
	t.Logf("tasks at end: %v", a2.Tasks())
}

// waitCommitted waits until the application's consumer group has committed the
// end of every partition of its source topics and of its repartition topics
// (the topics named app-...-repartition), so that an instance killed next
// reprocesses nothing. A fixed pause after the output is not enough: a slow
// machine can take longer than a commit interval to commit.
func waitCommitted(t *testing.T, addr, app string, sources ...string) {
	t.Helper()
	adm := kadm.NewClient(client(t, addr))
	var last string
	caughtUp := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		names := append([]string(nil), sources...)
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, app+"-") && strings.HasSuffix(name, "-repartition") {
				names = append(names, name)
			}
		}
		ends, err := adm.ListEndOffsets(ctx, names...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			last = err.Error()
			return false
		}
		committed, err := adm.FetchOffsets(ctx, app)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			last = err.Error()
			return false
		}
		ok := true
		ends.Each(func(end kadm.ListedOffset) {
			c, _ := committed.Lookup(end.Topic, end.Partition)
			if end.Offset > 0 && c.At < end.Offset {
				last = fmt.Sprintf("%s-%d committed at %d, end %d", end.Topic, end.Partition, c.At, end.Offset)
				ok = false
			}
		})
		return ok
	}
	deadline := time.Now().Add(60 * time.Second)
	for !caughtUp() {
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not commit its inputs' ends: %s", app, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
