package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every client family through a leader-kill loop: on three nodes, each
// family (franz-go, sarama, segmentio/kafka-go, librdkafka through kcat,
// kafka-python, kafkajs) produces unique values with acks=all (idempotent
// where the client can be) to its own topic — one partition, replication
// factor 3, min.insync.replicas 2, every topic's replicas in the same
// order, so that they share their leader — and consumes that partition
// from the start, all at once, while the partitions' leader is killed with
// kill -9 and restarted in a loop. Then the producers stop and flush, the
// consumers read up to the high watermark, and each family is checked:
// every acknowledged value was read (at the offset it was acknowledged
// at, where the client reports it), no offset was read with two values,
// nothing was read that was never sent, and duplicates (a value at two
// offsets) are counted — none is allowed from an idempotent producer.
//
// `make test` kills the leader three times (GREGOR_CHAOS_DURATION goes on
// killing for that long); GREGOR_FAILOVER_CLIENTS (say "kcat,kafka-python") runs only
// the families it names. A family whose runtime is missing (kcat,
// python3 with kafka-python, node with kafkajs) is skipped, saying so.

// failoverPace is how often each producer is handed a new value.
const failoverPace = 5 * time.Millisecond

// failoverFamily is one client family's producer and consumer.
type failoverFamily struct {
	name       string
	idempotent bool
	// missing says why the family cannot run here, "" when it can.
	missing func() string
	// produce hands values from r.next to the client until stop is
	// closed, then flushes: it returns once every value has been
	// acknowledged (r.acked) or failed (r.failed), or ctx ends.
	produce func(ctx context.Context, r *failoverRun, stop <-chan struct{}) error
	// consume reads the partition from its start (r.read) until ctx ends.
	consume func(ctx context.Context, r *failoverRun) error
}

// failoverFamilies are the families, in the order they are reported.
func failoverFamilies() []failoverFamily {
	return []failoverFamily{
		{name: "franz-go", idempotent: true, missing: func() string { return "" }, produce: franzProduce, consume: franzConsume},
		{name: "sarama", idempotent: true, missing: func() string { return "" }, produce: saramaProduce, consume: saramaConsume},
		{name: "kafka-go", missing: func() string { return "" }, produce: kafkaGoProduce, consume: kafkaGoConsume},
		{name: "kcat", idempotent: true, missing: kcatMissing, produce: kcatProduce, consume: kcatConsume},
		{name: "kafka-python", missing: kafkaPythonMissing, produce: kafkaPythonProduce, consume: kafkaPythonConsume},
		{name: "kafkajs", idempotent: true, missing: kafkajsMissing, produce: kafkajsProduce, consume: kafkajsConsume},
	}
}

// failoverAck is a value its producer acknowledged, with the offset it
// reported (-1 when the client does not say).
type failoverAck struct {
	value  string
	offset int64
}

// failoverRun is what one family did: the values handed to its producer,
// what came back, and what its consumer read.
type failoverRun struct {
	fam   failoverFamily
	topic string
	seeds []string

	mu        sync.Mutex
	sent      int
	acks      []failoverAck
	fails     int
	failErrs  map[string]int // error text -> count
	reads     map[int64]string
	conflicts []string // an offset read with two values
	kills     int      // leader kills that hit this family's partition
	readEarly int      // offsets read by the end of the faults
	logs      []string // what the client processes said, for a failure
}

func newFailoverRun(fam failoverFamily, topic string, seeds []string) *failoverRun {
	return &failoverRun{fam: fam, topic: topic, seeds: seeds, failErrs: map[string]int{}, reads: map[int64]string{}}
}

// next is the next value to produce: unique across families and runs.
func (r *failoverRun) next() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := fmt.Sprintf("%s-%06d", r.fam.name, r.sent)
	r.sent++
	return v
}

func (r *failoverRun) acked(v string, offset int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, failoverAck{v, offset})
}

func (r *failoverRun) failed(v string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fails++
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	if len(msg) > 80 {
		msg = msg[:80] + "..."
	}
	r.failErrs[msg]++
}

func (r *failoverRun) read(offset int64, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.reads[offset]; ok && prev != v {
		r.conflicts = append(r.conflicts, fmt.Sprintf("offset %d read as %q and as %q", offset, prev, v))
		return
	}
	r.reads[offset] = v
}

// readUpTo reports whether every offset below end has been read.
func (r *failoverRun) readUpTo(end int64) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for o := range r.reads {
		if o < end {
			n++
		}
	}
	return n, int64(n) >= end
}

// log keeps a line a client process wrote (the last 200).
func (r *failoverRun) log(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, line)
	if len(r.logs) > 200 {
		r.logs = r.logs[len(r.logs)-200:]
	}
}

// TestClientsLeaderKill runs every client family at once through a
// leader-kill loop on one three-node cluster, then checks each family in
// its own subtest.
func TestClientsLeaderKill(t *testing.T) {
	t.Parallel()
	var fams []failoverFamily
	only := os.Getenv("GREGOR_FAILOVER_CLIENTS")
	for _, f := range failoverFamilies() {
		if only == "" || slices.Contains(strings.Split(only, ","), f.name) {
			fams = append(fams, f)
		}
	}
	c := NewCluster(t, 3, WithBinary(gregorBin), WithFlags("--flush", "os"),
		WithSetting("broker.session.timeout.ms", "3000"),
		WithSetting("broker.heartbeat.interval.ms", "500"),
		WithSetting("replica.lag.time.max.ms", "4000"),
		WithSetting("default.replication.factor", "3"),
		WithSetting("min.insync.replicas", "2"),
		WithSetting("group.initial.rebalance.delay.ms", "0"))
	c.WaitReady()
	admCl := c.Client()
	adm := kadm.NewClient(admCl)

	var runs []*failoverRun
	skipped := map[string]string{}
	for _, f := range fams {
		if why := f.missing(); why != "" {
			skipped[f.name] = why
			continue
		}
		topic := uniqueTopic("failover-" + f.name)
		createReplicated(t, admCl, topic)
		runs = append(runs, newFailoverRun(f, topic, c.Seeds()))
	}
	for _, r := range runs {
		waitFullISR(t, c, r.topic, 3)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	closeStop := sync.OnceFunc(func() { close(stop) })
	var prodWG, consWG sync.WaitGroup
	prodErrs := make([]error, len(runs))
	consErrs := make([]error, len(runs))
	consCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	for i, r := range runs {
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			prodErrs[i] = r.fam.produce(ctx, r, stop)
		}()
		consWG.Add(1)
		go func() {
			defer consWG.Done()
			consErrs[i] = r.fam.consume(consCtx, r)
		}()
	}
	stopAll := sync.OnceFunc(func() {
		closeStop()
		stopConsumers()
		cancel()
		prodWG.Wait()
		consWG.Wait()
	})
	t.Cleanup(stopAll) // a failed wait below still stops every client

	if len(runs) > 0 {
		waitAcked(t, runs, 50, "before the first kill")
		chaosRounds(t, 3, func(round int) {
			l := failoverLeader(t, c, runs)
			time.Sleep(jitter(500*time.Millisecond, 1500*time.Millisecond))
			hit := failoverHit(t, c, runs, l)
			t.Logf("round %d: kill -9 node %d, leader of %d of %d families' partitions", round, l, hit, len(runs))
			c.Kill(l)
			time.Sleep(jitter(time.Second, 4*time.Second))
			c.Restart(l)
			for _, r := range runs {
				waitFullISR(t, c, r.topic, 3)
			}
			waitAcked(t, runs, 20, fmt.Sprintf("after kill %d", round))
		})
	}

	for _, r := range runs {
		r.mu.Lock()
		r.readEarly = len(r.reads)
		r.mu.Unlock()
	}
	// Stop producing; every producer flushes what it holds.
	closeStop()
	flushed := make(chan struct{})
	go func() { prodWG.Wait(); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(120 * time.Second):
		t.Errorf("producers still flushing after 120s")
	}
	for _, r := range runs {
		waitFullISR(t, c, r.topic, 3)
	}
	// The consumers read up to the high watermark.
	ends := map[string]int64{}
	for _, r := range runs {
		lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := settledEndOffsets(lctx, adm, r.topic)
		lcancel()
		if err != nil {
			t.Fatalf("end offsets of %s: %v", r.topic, err)
		}
		o, _ := res.Lookup(r.topic, 0)
		if o.Err != nil {
			t.Fatalf("end offset of %s: %v", r.topic, o.Err)
		}
		ends[r.topic] = o.Offset
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, r := range runs {
		for {
			n, ok := r.readUpTo(ends[r.topic])
			if ok || time.Now().After(deadline) {
				if !ok {
					t.Errorf("%s: consumer read %d of the %d offsets below the high watermark", r.fam.name, n, ends[r.topic])
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stopConsumers()
	consWG.Wait()
	stopAll()

	for i, r := range runs {
		t.Run(r.fam.name, func(t *testing.T) {
			if prodErrs[i] != nil {
				t.Errorf("producer: %v", prodErrs[i])
			}
			if consErrs[i] != nil && !errors.Is(consErrs[i], context.Canceled) {
				t.Errorf("consumer: %v", consErrs[i])
			}
			r.check(t, ends[r.topic])
		})
	}
	for _, f := range fams {
		if why, ok := skipped[f.name]; ok {
			t.Run(f.name, func(t *testing.T) { t.Skip(why) })
		}
	}
}

// check fails t for any acknowledged value not read back, any offset read
// with two values or holding a value never sent, and (for an idempotent
// producer) any duplicate.
func (r *failoverRun) check(t *testing.T, end int64) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	at := map[string][]int64{} // value -> offsets it was read at
	var foreign []string
	for o, v := range r.reads {
		if o >= end {
			continue // read past the high watermark taken at the end (none expected)
		}
		at[v] = append(at[v], o)
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(v, r.fam.name+"-"), "%d", &i); err != nil || !strings.HasPrefix(v, r.fam.name+"-") || i >= r.sent {
			foreign = append(foreign, fmt.Sprintf("%q at %d", v, o))
		}
	}
	var lost, misplaced []string
	for _, a := range r.acks {
		offs, ok := at[a.value]
		switch {
		case !ok:
			lost = append(lost, a.value)
		case a.offset >= 0 && !slices.Contains(offs, a.offset):
			misplaced = append(misplaced, fmt.Sprintf("%q acknowledged at %d, read at %v (offset %d holds %q)", a.value, a.offset, offs, a.offset, r.reads[a.offset]))
		}
	}
	var dups []string
	for v, offs := range at {
		if len(offs) > 1 {
			sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
			dups = append(dups, fmt.Sprintf("%q at %v", v, offs))
		}
	}
	sort.Strings(lost)
	sort.Strings(dups)
	var errs []string
	for k, n := range r.failErrs {
		errs = append(errs, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(errs)
	t.Logf("%s (idempotent %v): %d values sent, %d acknowledged, %d failed (%s), %d offsets read (%d during the faults), %d values duplicated; %d leader kills hit its partition",
		r.fam.name, r.fam.idempotent, r.sent, len(r.acks), r.fails, strings.Join(errs, ", "), len(r.reads), r.readEarly, len(dups), r.kills)
	bad := false
	report := func(what string, items []string) {
		if len(items) > 0 {
			bad = true
			t.Errorf("%d %s: %s", len(items), what, strings.Join(items[:min(len(items), 10)], "; "))
		}
	}
	report("acknowledged values lost", lost)
	report("acknowledged at an offset holding something else", misplaced)
	report("offsets read with two values", r.conflicts)
	report("values read that were never sent", foreign)
	if r.fam.idempotent {
		report("duplicates from an idempotent producer", dups)
	} else if len(dups) > 0 {
		t.Logf("duplicates (a producer without idempotence retried them): %s", strings.Join(dups[:min(len(dups), 10)], "; "))
	}
	if len(r.acks) == 0 {
		bad = true
		t.Errorf("nothing was acknowledged")
	}
	if r.readEarly == 0 {
		bad = true
		t.Errorf("the consumer read nothing while the faults ran")
	}
	if r.kills == 0 {
		bad = true
		t.Errorf("no leader kill hit the family's partition")
	}
	if bad && len(r.logs) > 0 {
		t.Logf("the client processes' last lines:\n%s", strings.Join(r.logs, "\n"))
	}
}

// createReplicated creates topic with one partition on nodes 1, 2, 3 in
// that order and min.insync.replicas 2: every such topic has the same
// leader (the first live in-sync replica), so one kill hits them all.
func createReplicated(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, []int32{1, 2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t, 30*time.Second), cl)
	if err == nil && len(resp.Topics) == 1 {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s on nodes 1, 2, 3: %v", topic, err)
	}
}

// failoverLeader waits until the first family's partition has a leader
// and returns it.
func failoverLeader(t *testing.T, c *Cluster, runs []*failoverRun) int {
	t.Helper()
	leader := -1
	c.WaitFor("a leader for "+runs[0].topic, func(ctx context.Context) error {
		l, err := c.PartitionLeader(ctx, runs[0].topic, 0)
		if err != nil {
			return err
		}
		if l < 0 {
			return fmt.Errorf("%s is offline", runs[0].topic)
		}
		leader = int(l)
		return nil
	})
	return leader
}

// failoverHit counts (in each run) a kill of node l when it leads the
// run's partition, and returns how many runs it hits.
func failoverHit(t *testing.T, c *Cluster, runs []*failoverRun, l int) int {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	hit := 0
	for _, r := range runs {
		if got, err := c.PartitionLeader(ctx, r.topic, 0); err == nil && int(got) == l {
			r.mu.Lock()
			r.kills++
			r.mu.Unlock()
			hit++
		}
	}
	return hit
}

// waitAcked waits (up to 60 s) until every run has n more acknowledged
// values; a family that makes no progress fails the test, which goes on.
func waitAcked(t *testing.T, runs []*failoverRun, n int, what string) {
	t.Helper()
	base := make([]int, len(runs))
	for i, r := range runs {
		r.mu.Lock()
		base[i] = len(r.acks)
		r.mu.Unlock()
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, r := range runs {
		for {
			r.mu.Lock()
			got := len(r.acks) - base[i]
			r.mu.Unlock()
			if got >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s acknowledged %d values in 60s, want %d", what, r.fam.name, got, n)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// paced calls fn every failoverPace until stop is closed or ctx ends.
func paced(ctx context.Context, stop <-chan struct{}, fn func()) {
	tick := time.NewTicker(failoverPace)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// franzProduce produces with franz-go: idempotent (its default) with
// acks=all, retrying each record until its delivery timeout.
func franzProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds...), kgo.DefaultProduceTopic(r.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	paced(ctx, stop, func() {
		v := r.next()
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(rec *kgo.Record, err error) {
			if err != nil {
				r.failed(v, err)
				return
			}
			r.acked(v, rec.Offset)
		})
	})
	return cl.Flush(ctx)
}

// franzConsume reads the partition with franz-go, by assignment.
func franzConsume(ctx context.Context, r *failoverRun) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) { r.read(rec.Offset, string(rec.Value)) })
	}
	return ctx.Err()
}
