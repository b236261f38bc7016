package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/internal/replicacheck"
)

// The nemeses of issue 18 (Cluster II) on replicated partitions: three
// combined nodes, a topic with replication factor 3 and
// min.insync.replicas=2, and the checker's workload (idempotent acks=all
// producers, consumers by assignment and by subscription; no
// transactional producers until transactions work across brokers) under
// one fault each:
//
//   - kill -9 of partition leaders in a loop;
//   - kill -9 of the active controller;
//   - kill -9 of two brokers at once: nothing is acknowledged while they
//     are down;
//   - SIGSTOP of a leader past the broker session: it acknowledges nothing
//     once it wakes, and truncates what it appended;
//   - the ISR shrunk to the leader (its followers' fetches cut), then that
//     leader killed: the partition goes offline and nothing is lost;
//   - a rolling SIGTERM restart (controlled shutdown): clients see only
//     retriable errors;
//   - replicas moved onto a fourth broker and around the cluster
//     (replication_reassign_chaos_test.go).
//
// Each test then heals the cluster, waits until every partition is fully
// in sync, compares every replica's segment files byte for byte below the
// high watermark, and runs the checker: every count must be 0. In `make
// test` each runs a fixed number of fault rounds (chaosRounds), enough for
// every kind of round to fire, whatever the machine's load;
// GREGOR_CHAOS_DURATION runs them for that long at least (make chaos).

// replPartitions is the partition count of the nemesis tests' topic.
const replPartitions = 6

// replProgress is what a nemesis test waits for after each fault.
var replProgress = Progress{Acked: 100, Reads: 50, GroupReads: 20, Commits: 5}

// replChaos is one nemesis test's cluster, topic and workload.
type replChaos struct {
	t     *testing.T
	c     *Cluster
	topic string
	w     *Workload
	errs  clientErrors
	// extra topics whose replicas finish compares too, with their
	// partition counts.
	extra map[string]int32
}

// newReplChaos starts three nodes with short sessions and lag times
// (broker.session.timeout.ms 3000, replica.lag.time.max.ms 4000), and
// creates the workload's topic with replication factor 3 and
// min.insync.replicas=2, fully in sync. Start the workload with start.
func newReplChaos(t *testing.T, prefix string) *replChaos {
	t.Helper()
	return startReplChaos(t, prefix, NewCluster(t, 3, replChaosOptions()...))
}

// replChaosOptions are the options of newReplChaos's cluster, then extra.
func replChaosOptions(extra ...ClusterOption) []ClusterOption {
	return append([]ClusterOption{WithBinary(gregorBin), WithFlags("--flush", "os"),
		WithSetting("broker.session.timeout.ms", "3000"),
		WithSetting("broker.heartbeat.interval.ms", "500"),
		WithSetting("replica.lag.time.max.ms", "4000"),
		WithSetting("default.replication.factor", "3"),
		WithSetting("min.insync.replicas", "2"),
		WithSetting("group.initial.rebalance.delay.ms", "0")}, extra...)
}

// startReplChaos waits until c is ready and creates the workload's topic
// on it.
func startReplChaos(t *testing.T, prefix string, c *Cluster) *replChaos {
	t.Helper()
	c.WaitReady()
	rc := &replChaos{t: t, c: c, topic: uniqueTopic(prefix), extra: map[string]int32{}}
	rc.createTopic(rc.topic, replPartitions)
	return rc
}

// createTopic creates topic with replication factor 3 and
// min.insync.replicas=2 and waits until every partition is fully in sync.
func (rc *replChaos) createTopic(topic string, partitions int32) {
	rc.t.Helper()
	adm := kadm.NewClient(rc.c.Client())
	defer adm.Close()
	two := "2"
	res, err := adm.CreateTopic(testCtx(rc.t, 30*time.Second), partitions, 3, map[string]*string{"min.insync.replicas": &two}, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		rc.t.Fatalf("create %s: %v", topic, err)
	}
	waitFullISR(rc.t, rc.c, topic, 3)
}

// start starts the workload, with cfg's changes to the defaults, and
// waits for its first progress.
func (rc *replChaos) start(cfg func(*WorkloadConfig)) {
	rc.t.Helper()
	wc := WorkloadConfig{
		Seeds: rc.c.Seeds(), Topic: rc.topic, Partitions: replPartitions,
		Producers: 3, AssignConsumers: 2, GroupConsumers: 2,
		Churn: 4 * time.Second, DeliveryTimeout: 20 * time.Second,
		Logf: rc.t.Logf, OnError: rc.errs.add,
	}
	if cfg != nil {
		cfg(&wc)
	}
	w, err := StartWorkload(wc)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.w = w
	rc.t.Cleanup(w.Stop) // before the cluster's cleanup kills the nodes
	rc.waitProgress("before the faults")
}

// waitProgress waits for replProgress more of the workload.
func (rc *replChaos) waitProgress(what string) {
	rc.t.Helper()
	waitProgress(rc.t, rc.w, replProgress, what)
}

// now is the time on the workload history's clock.
func (rc *replChaos) now() time.Duration { return rc.w.History().Now() }

// partitions is the metadata of topic's partitions as a running node
// reports it.
func (rc *replChaos) partitions(ctx context.Context, topic string) ([]kmsg.MetadataResponseTopicPartition, error) {
	m, err := rc.c.anyMetadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	return topicPartitions(m, topic)
}

// topicPartitions is the partitions of topic in m, a metadata response
// for that one topic, or why it has none.
func topicPartitions(m *kmsg.MetadataResponse, topic string) ([]kmsg.MetadataResponseTopicPartition, error) {
	if len(m.Topics) != 1 {
		return nil, fmt.Errorf("metadata for %s has %d topics", topic, len(m.Topics))
	}
	if err := kerr.ErrorForCode(m.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	return m.Topics[0].Partitions, nil
}

// leaderOf waits until partition p of topic has a leader and returns it.
func (rc *replChaos) leaderOf(topic string, p int32) int {
	rc.t.Helper()
	leader := -1
	rc.c.WaitFor(fmt.Sprintf("a leader for %s-%d", topic, p), func(ctx context.Context) error {
		l, err := rc.c.PartitionLeader(ctx, topic, p)
		if err != nil {
			return err
		}
		if l < 0 {
			return fmt.Errorf("%s-%d is offline", topic, p)
		}
		leader = int(l)
		return nil
	})
	return leader
}

// ledBy lists the partitions of the workload's topic that node id leads.
func (rc *replChaos) ledBy(id int) []int32 {
	rc.t.Helper()
	var out []int32
	rc.c.WaitFor("the metadata of "+rc.topic, func(ctx context.Context) error {
		ps, err := rc.partitions(ctx, rc.topic)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, p := range ps {
			if int(p.Leader) == id {
				out = append(out, p.Partition)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// waitLeadersOff waits until no partition of topic is led by node id (it
// is fenced or shut down); offline partitions count as moved off.
func (rc *replChaos) waitLeadersOff(topic string, id int) {
	rc.t.Helper()
	rc.c.WaitFor(fmt.Sprintf("leadership of %s off node %d", topic, id), func(ctx context.Context) error {
		ps, err := rc.partitions(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if int(p.Leader) == id {
				return fmt.Errorf("node %d still leads partition %d", id, p.Partition)
			}
		}
		return nil
	})
}

// others lists the nodes other than ids.
func (rc *replChaos) others(ids ...int) []int {
	return slices.DeleteFunc(rc.c.IDs(), func(id int) bool { return slices.Contains(ids, id) })
}

// waitAllInSync waits until every partition of every topic (internal
// ones too) has a leader and all its replicas in sync, as a rolling
// restart does before it takes the next node down.
func (rc *replChaos) waitAllInSync() {
	rc.t.Helper()
	waitAllInSync(rc.t, rc.c)
}

// waitAllInSync waits until every partition of every topic of c (internal
// ones too) has a leader and all its replicas in sync.
func waitAllInSync(t *testing.T, c *Cluster) {
	t.Helper()
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	c.WaitFor("every partition of every topic in sync", func(ctx context.Context) error {
		m, err := adm.Metadata(ctx)
		if err != nil {
			return err
		}
		for _, td := range m.Topics {
			if td.Err != nil {
				return fmt.Errorf("%s: %w", td.Topic, td.Err)
			}
			for _, pd := range td.Partitions {
				if pd.Leader < 0 || len(pd.ISR) != len(pd.Replicas) {
					return fmt.Errorf("%s-%d: leader %d, replicas %v, isr %v", td.Topic, pd.Partition, pd.Leader, pd.Replicas, pd.ISR)
				}
			}
		}
		return nil
	})
}

// ackedDuring lists the writes to partitions parts (every partition when
// nil) that started at or after from and were acknowledged at or before
// to, on the history's clock.
func ackedDuring(h *History, from, to time.Duration, parts []int32) []Write {
	var out []Write
	for _, w := range h.snapshot().Writes {
		if w.Acked && w.Start >= from && w.End <= to && (parts == nil || slices.Contains(parts, w.Partition)) {
			out = append(out, w)
		}
	}
	return out
}

// attemptedDuring counts the writes to partitions parts (all when nil)
// that started between from and to.
func attemptedDuring(h *History, from, to time.Duration, parts []int32) int {
	n := 0
	for _, w := range h.snapshot().Writes {
		if w.Start >= from && w.Start <= to && (parts == nil || slices.Contains(parts, w.Partition)) {
			n++
		}
	}
	return n
}

// checkNoAcks fails the test if a write to parts (all when nil) that
// started in [from, to] was acknowledged by to.
func (rc *replChaos) checkNoAcks(why string, from, to time.Duration, parts []int32) {
	rc.t.Helper()
	acked := ackedDuring(rc.w.History(), from, to, parts)
	n := attemptedDuring(rc.w.History(), from, to, parts)
	if len(acked) == 0 {
		rc.t.Logf("%s: %d writes attempted between %s and %s, none acknowledged", why, n, at(from), at(to))
		return
	}
	var ex []string
	for _, w := range acked[:min(len(acked), 10)] {
		ex = append(ex, fmt.Sprintf("%q at %d/%d (%s..%s)", w.Value, w.Partition, w.Offset, at(w.Start), at(w.End)))
	}
	rc.t.Errorf("%s: %d of the %d writes attempted between %s and %s were acknowledged: %s",
		why, len(acked), n, at(from), at(to), strings.Join(ex, ", "))
}

// replicaEnds is, for each partition of parts, the highest log end among
// the replicas on nodes ids, from their segment files.
func (rc *replChaos) replicaEnds(ids []int, parts []int32) map[int32]int64 {
	rc.t.Helper()
	ends := map[int32]int64{}
	for _, p := range parts {
		for _, id := range ids {
			bs, err := replicacheck.ReadBatches(rc.c.Node(id).DataDir(), rc.topic, p)
			if err != nil {
				rc.t.Fatalf("node %d: %v", id, err)
			}
			if len(bs) > 0 {
				ends[p] = max(ends[p], bs[len(bs)-1].LastOffset+1)
			}
		}
	}
	return ends
}

// checkAckedOnOne fails the test if a write to a partition of ends was
// acknowledged by to at an offset at or past ends[partition]: the other
// replicas never had it, so it was acknowledged with the ISR below
// min.insync.replicas.
func (rc *replChaos) checkAckedOnOne(why string, to time.Duration, ends map[int32]int64) {
	rc.t.Helper()
	var bad []string
	n := 0
	for _, w := range rc.w.History().snapshot().Writes {
		end, ok := ends[w.Partition]
		if !ok || !w.Acked || w.End > to || w.Offset < end {
			continue
		}
		if n++; n <= 10 {
			bad = append(bad, fmt.Sprintf("%q at %d/%d (%s..%s)", w.Value, w.Partition, w.Offset, at(w.Start), at(w.End)))
		}
	}
	if n == 0 {
		rc.t.Logf("%s: the followers' logs end at %v; no write acknowledged past them", why, ends)
		return
	}
	rc.t.Errorf("%s: %d writes acknowledged past the followers' log ends %v, held by the leader alone: %s",
		why, n, ends, strings.Join(bad, ", "))
}

// finish heals the cluster, brings every node back, stops the workload,
// waits until every partition is fully in sync, compares the replicas of
// the workload's topic (and the extra topics) below the high watermark,
// and runs the final read and the checker. A node that is not running
// here exited on its own, which fails the test.
func (rc *replChaos) finish() {
	rc.t.Helper()
	c := rc.c
	c.Heal()
	for _, id := range c.IDs() {
		nd := c.Node(id)
		if nd.Paused() {
			c.Resume(id)
		}
		if !nd.Running() {
			rc.t.Errorf("node %d is not running: it exited on its own", id)
			c.Restart(id)
		}
	}
	c.WaitReady()
	rc.w.Stop()
	waitFullISR(rc.t, c, rc.topic, 3)
	rc.compareReplicas(rc.topic, replPartitions)
	for topic, n := range rc.extra {
		waitFullISR(rc.t, c, topic, 3)
		rc.compareReplicas(topic, n)
	}
	finishWorkload(rc.t, rc.w)
	if nr := rc.errs.nonRetriable(isDataClient); len(nr) > 0 {
		rc.t.Logf("non-retriable errors the producers and consumers saw (%d): %s", len(nr), strings.Join(nr[:min(len(nr), 10)], "; "))
	}
	rc.t.Logf("client errors: %s", rc.errs.summary())
}

// clientErrors gathers the errors the workload's clients saw.
type clientErrors struct {
	mu   sync.Mutex
	errs []clientError
}

type clientError struct {
	client string
	err    error
}

func (e *clientErrors) add(client string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, clientError{client, err})
}

// isDataClient reports whether a workload client name is a producer or a
// consumer's fetches (commits are the group's business).
func isDataClient(client string, err error) bool {
	return !strings.HasPrefix(err.Error(), "commit of partition")
}

// nonRetriable lists the errors of the clients keep selects that are not
// retriable.
func (e *clientErrors) nonRetriable(keep func(client string, err error) bool) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ce := range e.errs {
		if keep(ce.client, ce.err) && !retriableErr(ce.err) {
			out = append(out, ce.client+": "+ce.err.Error())
		}
	}
	return out
}

// summary counts the errors by kind.
func (e *clientErrors) summary() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return "none"
	}
	counts := map[string]int{}
	for _, ce := range e.errs {
		kind := ce.err.Error()
		var ke *kerr.Error
		switch {
		case errors.As(ce.err, &ke):
			kind = ke.Message
		case errors.Is(ce.err, kgo.ErrRecordTimeout):
			kind = "record timeout"
		case len(kind) > 60:
			kind = kind[:60] + "..."
		}
		if strings.HasPrefix(ce.err.Error(), "commit of partition") {
			kind = "commit: " + kind
		}
		counts[kind]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// retriableErr reports whether a client error is one a client retries: a
// retriable Kafka error, a record timeout (what the client gives up on
// after retrying), an error franz-go retries on a broker, or a broken
// connection.
func retriableErr(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	var ne net.Error
	return errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) || kgo.IsRetryableBrokerErr(err) ||
		errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// chaosRounds runs round rounds times in `make test`; with
// GREGOR_CHAOS_DURATION it goes on until that duration has passed too. It
// runs at least one round and stops early once the test has failed.
//
// A fixed count rather than a duration keeps the short run's schedule the
// same on a loaded machine, where a round (a fault, then the wait for the
// workload to recover) takes several times longer: a duration there cut
// tests down to one or two rounds, so that round kinds which come later in
// a test's rotation (the group coordinator isolated, a reassignment
// cancelled) sometimes never ran, and on an idle machine it ran more
// rounds than the short run needs.
func chaosRounds(t *testing.T, rounds int, round func(i int)) {
	t.Helper()
	deadline := time.Now().Add(chaosDuration(t, 0))
	i := 0
	for ; i == 0 || (i < rounds || time.Now().Before(deadline)) && !t.Failed(); i++ {
		round(i)
	}
	t.Logf("%d rounds", i)
}

// jitter is a random duration in [lo, hi).
func jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rand.Int64N(int64(hi-lo)))
}

// TestChaosReplicationLeaderKill kills the leader of a partition with
// SIGKILL, again and again, and restarts it after up to a few seconds
// (sometimes past the broker session, so it is fenced first). A new
// leader comes from the ISR each time; nothing acknowledged is lost, and
// the returning leader truncates what it alone had.
func TestChaosReplicationLeaderKill(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-leader-kill")
	rc.start(nil)
	chaosRounds(t, 3, func(round int) {
		p := int32(rand.IntN(replPartitions))
		l := rc.leaderOf(rc.topic, p)
		time.Sleep(jitter(0, time.Second))
		t.Logf("round %d: kill -9 node %d, leader of partition %d", round, l, p)
		rc.c.Kill(l)
		time.Sleep(jitter(time.Second, 5*time.Second))
		rc.c.Restart(l)
		rc.waitProgress(fmt.Sprintf("after kill %d", round))
	})
	rc.finish()
}

// TestChaosReplicationControllerKill kills the active controller (on
// combined nodes, a broker too, leading partitions) with SIGKILL in a
// loop and restarts it: the quorum elects another, which fences the dead
// broker and moves its partitions' leadership within their ISRs.
func TestChaosReplicationControllerKill(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-controller-kill")
	rc.start(nil)
	chaosRounds(t, 3, func(round int) {
		// The quorum's own view: Metadata's ControllerID names some live
		// broker when the active controller is fenced.
		ctrl := waitController(t, rc.c, rc.c.IDs()...)
		time.Sleep(jitter(0, time.Second))
		t.Logf("round %d: kill -9 node %d, the active controller, leader of partitions %v", round, ctrl, rc.ledBy(ctrl))
		rc.c.Kill(ctrl)
		time.Sleep(jitter(500*time.Millisecond, 5*time.Second))
		rc.c.Restart(ctrl)
		rc.waitProgress(fmt.Sprintf("after kill %d", round))
	})
	rc.finish()
}

// TestChaosReplicationTwoBrokersKill kills two of the three brokers at
// once with SIGKILL, for a few seconds, and restarts them together. With
// two replicas and two controllers gone no write can reach
// min.insync.replicas and the quorum cannot act: produce fails or waits,
// and no write made while they are down is acknowledged before they are
// back; none acknowledged before is lost.
func TestChaosReplicationTwoBrokersKill(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-two-kill")
	rc.start(nil)
	chaosRounds(t, 3, func(round int) {
		ids := rand.Perm(3)[:2]
		a, b := ids[0]+1, ids[1]+1
		time.Sleep(jitter(0, time.Second))
		t.Logf("round %d: kill -9 nodes %d and %d", round, a, b)
		rc.c.Kill(a, b)
		from := rc.now()
		time.Sleep(jitter(2*time.Second, 6*time.Second))
		to := rc.now()
		rc.c.Restart(a, b)
		rc.checkNoAcks(fmt.Sprintf("round %d, nodes %d and %d down", round, a, b), from, to, nil)
		rc.waitProgress(fmt.Sprintf("after kill %d", round))
	})
	rc.finish()
}

// rawOutcome is the answer to a hand-built produce request.
type rawOutcome struct {
	code   int16
	offset int64
	err    error
}

// TestChaosReplicationPausedLeader stops the leader of a partition with
// SIGSTOP until the controller has fenced it and moved its leadership
// away, then continues it. A produce request (acks=all) sent to it while
// it was stopped is answered with an error once it wakes, never
// acknowledged; whatever it appended then is truncated when it follows
// the new leader, so its values never appear and every replica holds the
// same batches. The workload's writes to its partitions move on to the
// new leaders; the checker finds nothing lost or duplicated.
func TestChaosReplicationPausedLeader(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-paused")
	// A side topic only this test writes, through markers (acks=all, from
	// an ordinary client) and requests sent to the paused leader, which
	// answers them only once woken.
	side := rc.newStaleSide("repl-paused-side")
	side.produceTimeout, side.answerWait = 10*time.Second, 60*time.Second
	rc.start(nil)
	chaosRounds(t, 3, func(round int) {
		side.marker(fmt.Sprintf("marker-%d", round))
		l := rc.leaderOf(side.topic, 0)
		conn := dialRaw(t, rc.c.Node(l).Addr()) // connected before the pause
		led := rc.ledBy(l)
		t.Logf("round %d: SIGSTOP node %d, leader of %s-0 and of partitions %v", round, l, side.topic, led)
		rc.c.Pause(l)
		check := side.send(conn, l, fmt.Sprintf("round %d, node %d woken after it was fenced", round, l),
			fmt.Sprintf("paused-%d-a", round), fmt.Sprintf("paused-%d-b", round))
		// Past the session: the controller fences it and moves every
		// partition it led.
		rc.waitLeadersOff(side.topic, l)
		rc.waitLeadersOff(rc.topic, l)
		time.Sleep(jitter(0, 1500*time.Millisecond))
		rc.c.Resume(l)
		t.Logf("round %d: SIGCONT node %d", round, l)
		check()
		rc.waitProgress(fmt.Sprintf("after pause %d", round))
	})
	// A last marker lands where the woken leaders' appends did: the
	// replica comparison covers those offsets.
	side.finish()
}

// TestChaosReplicationISRShrinkLeaderKill cuts a leader's followers off
// its client port (replica fetches stop; the quorum's traffic flows) until
// the ISR of its partitions has shrunk to the leader alone, then kills
// that leader. With unclean.leader.election.enable off the partitions go
// offline, since no other replica is in sync; the leader comes back, its
// followers catch up, and nothing is lost. No write made after the cut is
// acknowledged before then: one replica is below min.insync.replicas.
// Needs netns mode (root) for the cut; skipped elsewhere.
func TestChaosReplicationISRShrinkLeaderKill(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-isr-shrink")
	if err := rc.c.CanCut(); err != nil {
		t.Skipf("cluster: %v", err)
	}
	rc.start(nil)
	chaosRounds(t, 3, func(round int) {
		l := rc.leaderOf(rc.topic, int32(round%replPartitions))
		parts := rc.ledBy(l)
		fs := rc.others(l)
		t.Logf("round %d: cut nodes %v from node %d's client port; node %d leads partitions %v", round, fs, l, l, parts)
		for _, f := range fs {
			rc.c.CutPort(f, l, NetnsClientPort)
		}
		cut := rc.now()
		rc.c.WaitFor(fmt.Sprintf("the ISR of node %d's partitions shrunk to it", l), func(ctx context.Context) error {
			ps, err := rc.partitions(ctx, rc.topic)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if slices.Contains(parts, p.Partition) && (int(p.Leader) != l || !slices.Equal(p.ISR, []int32{int32(l)})) {
					return fmt.Errorf("partition %d: leader %d, isr %v", p.Partition, p.Leader, p.ISR)
				}
			}
			return nil
		})
		t.Logf("round %d: ISR of partitions %v is [%d]; kill -9 node %d", round, parts, l, l)
		rc.c.Kill(l)
		rc.c.WaitFor(fmt.Sprintf("partitions %v offline", parts), func(ctx context.Context) error {
			ps, err := rc.partitions(ctx, rc.topic)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if slices.Contains(parts, p.Partition) && p.Leader >= 0 {
					return fmt.Errorf("partition %d: leader %d, isr %v", p.Partition, p.Leader, p.ISR)
				}
			}
			return nil
		})
		time.Sleep(jitter(time.Second, 3*time.Second))
		// Still offline: no out-of-sync replica was elected meanwhile.
		ps, err := rc.partitions(testCtx(t, 10*time.Second), rc.topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if slices.Contains(parts, p.Partition) && p.Leader >= 0 {
				t.Errorf("round %d: partition %d, whose only in-sync replica (node %d) is down, has leader %d (isr %v)", round, p.Partition, l, p.Leader, p.ISR)
			}
		}
		// What the followers hold now is all they will hold until the
		// leader is back: a write acknowledged at or past the end of both
		// was only ever on the leader.
		ends := rc.replicaEnds(fs, parts)
		rc.c.Heal()
		back := rc.now()
		rc.c.Restart(l)
		rc.checkNoAcks(fmt.Sprintf("round %d, node %d's followers cut off", round, l), cut, back, parts)
		rc.checkAckedOnOne(fmt.Sprintf("round %d, node %d's followers cut off", round, l), back, ends)
		waitFullISR(t, rc.c, rc.topic, 3)
		rc.waitProgress(fmt.Sprintf("after round %d", round))
	})
	rc.finish()
}

// TestChaosReplicationRollingRestart restarts the three nodes one after
// another with SIGTERM (a controlled shutdown: leadership moves off the
// node before it stops), waiting for every partition of every topic to be
// back in sync before the next, as an operator's rolling restart does.
// Clients see only retriable errors; nothing is lost.
func TestChaosReplicationRollingRestart(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-rolling")
	rc.start(func(wc *WorkloadConfig) { wc.DeliveryTimeout = 60 * time.Second })
	chaosRounds(t, 1, func(round int) {
		for _, i := range rand.Perm(rc.c.N()) {
			id := i + 1
			t.Logf("round %d: SIGTERM node %d, leader of partitions %v", round, id, rc.ledBy(id))
			rc.c.Stop(id)
			rc.c.Restart(id)
			rc.waitAllInSync()
			rc.waitProgress(fmt.Sprintf("round %d, after restarting node %d", round, id))
		}
	})
	rc.finish()
	if nr := rc.errs.nonRetriable(isDataClient); len(nr) > 0 {
		t.Errorf("clients saw %d non-retriable errors in a rolling restart: %s", len(nr), strings.Join(nr[:min(len(nr), 10)], "; "))
	}
}
