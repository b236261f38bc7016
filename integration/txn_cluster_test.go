package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/coordtest"
)

// Cluster III: transactions across brokers. A consume-transform-produce
// job (franz-go's GroupTransactSession) runs on three brokers with every
// topic replicated three ways, internal ones included, while the broker
// coordinating its transactions is killed with SIGKILL and restarted: no
// committed transaction is lost, nothing aborted or uncommitted is read
// under read_committed, and every input is transformed exactly once.

func txnCluster(t *testing.T, opts ...ClusterOption) *Cluster {
	return newTestCluster(t, 3, append([]ClusterOption{
		WithSetting("broker.session.timeout.ms", "3000"),
		WithSetting("broker.heartbeat.interval.ms", "500"),
		WithSetting("replica.lag.time.max.ms", "4000"),
		WithSetting("default.replication.factor", "3"),
		WithSetting("offsets.topic.replication.factor", "3"),
		WithSetting("transaction.state.log.replication.factor", "3"),
		WithSetting("transaction.state.log.min.isr", "2"),
		WithSetting("offsets.topic.num.partitions", "6"),
		WithSetting("transaction.state.log.num.partitions", "6"),
		WithSetting("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500"),
		WithSetting("group.initial.rebalance.delay.ms", "0")}, opts...)...)
}

// etlOutcome is what the job saw of one of its transactions.
type etlOutcome struct {
	committed bool
	err       error // the outcome is unknown when End failed
	values    []string
}

// etlJob transforms every record of in into out ("value|attempt"), one
// transaction per poll, aborting every seventh on purpose, until stopped;
// it records each transaction's outcome by attempt number.
type etlJob struct {
	c             *Cluster
	in, out       string
	group, txnID  string
	mu            sync.Mutex
	outcomes      map[int]*etlOutcome
	done          map[string]bool // inputs in committed transactions
	sessions      int
	stop, stopped chan struct{}
}

func (j *etlJob) progress() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.done)
}

func (j *etlJob) run(ctx context.Context) {
	defer close(j.stopped)
	attempt := 0
	for {
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(j.c.Seeds()...),
			kgo.TransactionalID(j.txnID), kgo.TransactionTimeout(20*time.Second),
			kgo.ConsumerGroup(j.group), kgo.ConsumeTopics(j.in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(j.out),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.SessionTimeout(10*time.Second))
		if err != nil {
			return
		}
		j.mu.Lock()
		j.sessions++
		j.mu.Unlock()
		for broken := false; !broken; {
			select {
			case <-j.stop:
				sess.Close()
				return
			default:
			}
			if ctx.Err() != nil {
				sess.Close()
				return
			}
			if err := sess.Begin(); err != nil {
				break
			}
			attempt++
			o := &etlOutcome{}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			fs := sess.PollRecords(pctx, 100)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				o.values = append(o.values, v)
				sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: fmt.Appendf(nil, "%s|%d", v, attempt)}, nil)
			})
			end := kgo.TryCommit
			if attempt%7 == 0 {
				end = kgo.TryAbort // the session rewinds: these inputs come again
			}
			ectx, cancel := context.WithTimeout(ctx, 60*time.Second)
			o.committed, o.err = sess.End(ectx, end)
			cancel()
			j.mu.Lock()
			j.outcomes[attempt] = o
			if o.committed && o.err == nil {
				for _, v := range o.values {
					j.done[v] = true
				}
			}
			j.mu.Unlock()
			// A failed End leaves the session in doubt: start a new one,
			// which fences the old producer and aborts what it left open.
			broken = o.err != nil
		}
		sess.Close()
	}
}

func TestClusterTxnCoordinatorKill(t *testing.T) {
	t.Parallel()
	c := txnCluster(t)
	chaos := chaosDuration(t, 0)
	ctx := testCtx(t, 5*time.Minute+2*chaos)
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	in, out := uniqueTopic("etl-in"), uniqueTopic("etl-out")
	two := "2"
	for _, topic := range []string{in, out} {
		if res, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &two}, topic); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, res.Err)
		}
		waitFullISR(t, c, topic, 3)
	}
	group, txnID := etlCoordinators(t, c, adm)
	offsetsReplicated := checkInternalReplication(t, ctx, c, adm)

	job := &etlJob{c: c, in: in, out: out, group: group, txnID: txnID, outcomes: map[int]*etlOutcome{},
		done: map[string]bool{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go job.run(ctx)
	defer func() {
		select {
		case <-job.stopped:
		default:
			close(job.stop)
			<-job.stopped
		}
	}()

	src := c.Client(kgo.DefaultProduceTopic(in), kgo.RequiredAcks(kgo.AllISRAcks()))
	total := 0
	produceInputs := func(n int) {
		t.Helper()
		var rs []*kgo.Record
		for i := total; i < total+n; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(strconv.Itoa(i % 17)), Value: fmt.Appendf(nil, "in-%06d", i)})
		}
		if err := src.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce inputs: %v", err)
		}
		total += n
	}
	waitProgress := func(want int, what string) {
		t.Helper()
		for job.progress() < want {
			if ctx.Err() != nil {
				t.Fatalf("%s: the job transformed %d of %d inputs", what, job.progress(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Each cycle: the coordinator is killed while the job is busy, the job
	// goes on with the new coordinator, the killed broker comes back, and
	// the preferred leaders of __transaction_state are elected again, so
	// coordinators move back to it while the job runs.
	preferred := func() {
		set := kadm.TopicsSet{}
		for p := range int32(6) {
			set.Add("__transaction_state", p)
		}
		if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set); err != nil {
			t.Logf("preferred election: %v", err)
		}
	}
	end := time.Now().Add(chaos)
	for cycle := 0; cycle == 0 || time.Now().Before(end); cycle++ {
		before := total
		produceInputs(1200)
		waitProgress(before+200, "before the kill")
		coords := adm.FindTxnCoordinators(ctx, txnID)
		victim := coords[txnID].NodeID
		if err := coords[txnID].Err; err != nil || victim < 0 {
			t.Fatalf("transaction coordinator: %v", err)
		}
		if g := adm.FindGroupCoordinators(ctx, group)[group]; !offsetsReplicated && g.NodeID == victim {
			// Its __consumer_offsets partition has one replica: killing
			// it would stall the group, not test the transactions. Move
			// the coordinator instead.
			t.Logf("cycle %d: broker %d coordinates the group too; electing preferred leaders instead", cycle, victim)
			preferred()
			waitProgress(total, "after moving the coordinator")
			continue
		}
		t.Logf("cycle %d: killing broker %d, the coordinator of %s, after %d of %d inputs", cycle, victim, txnID, job.progress(), total)
		c.Kill(int(victim))
		produceInputs(600)
		waitProgress(total, "with the coordinator dead")
		t.Logf("cycle %d: restarting broker %d after %d inputs", cycle, victim, job.progress())
		c.Restart(int(victim))
		produceInputs(600)
		waitFullISR(t, c, "__transaction_state", 3)
		preferred()
		waitProgress(total, "after the restart")
	}
	waitProgress(total, "after the restart")
	close(job.stop)
	<-job.stopped
	verifyETL(t, ctx, c, adm, job, total)
}

// etlCoordinators picks a group and a transactional ID whose coordinators
// are different brokers (killing the transaction coordinator must not take
// the group's away too).
func etlCoordinators(t *testing.T, c *Cluster, adm *kadm.Client) (string, string) {
	t.Helper()
	var p coordtest.Pair
	c.WaitFor("a group and a transactional ID on different coordinators", func(ctx context.Context) (err error) {
		p, err = coordtest.Split(ctx, adm, "etl", 12)
		return err
	})
	t.Log(p)
	return p.Group, p.TxnID
}

// checkInternalReplication checks that __transaction_state was created
// with transaction.state.log.replication.factor replicas, and reports
// whether __consumer_offsets was with offsets.topic.replication.factor.
func checkInternalReplication(t *testing.T, ctx context.Context, c *Cluster, adm *kadm.Client) bool {
	t.Helper()
	md, err := adm.Metadata(ctx, "__transaction_state", "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics["__transaction_state"].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("__transaction_state partition %d has replicas %v, want 3 (transaction.state.log.replication.factor)", p.Partition, p.Replicas)
		}
	}
	for _, p := range md.Topics["__consumer_offsets"].Partitions {
		if len(p.Replicas) != 3 {
			t.Logf("note: __consumer_offsets partition %d has replicas %v although offsets.topic.replication.factor=3", p.Partition, p.Replicas)
			return false
		}
	}
	return true
}

// verifyETL reads out under read_committed once no transaction is open
// and checks the job's record: every input transformed exactly once,
// every committed transaction's records there, no aborted one's.
func verifyETL(t *testing.T, ctx context.Context, c *Cluster, adm *kadm.Client, job *etlJob, inputs int) {
	t.Helper()
	c.WaitFor("no transaction left open on "+job.out, func(ctx context.Context) error {
		lso, err := adm.ListCommittedOffsets(ctx, job.out)
		if err == nil {
			err = lso.Error()
		}
		if err != nil {
			return err
		}
		hw, err := adm.ListEndOffsets(ctx, job.out)
		if err == nil {
			err = hw.Error() // a new leader catching up: OFFSET_NOT_AVAILABLE
		}
		if err != nil {
			return err
		}
		var open []string
		hw.Each(func(o kadm.ListedOffset) {
			if l, _ := lso.Lookup(o.Topic, o.Partition); l.Offset != o.Offset {
				open = append(open, fmt.Sprintf("p%d lso %d hw %d", o.Partition, l.Offset, o.Offset))
			}
		})
		if len(open) > 0 {
			return errors.New(strings.Join(open, ", "))
		}
		return nil
	})
	hw, err := settledEndOffsets(ctx, adm, job.out)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	hw.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	rd := c.Client(kgo.ConsumeTopics(job.out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	perInput := map[string]int{}
	reached := map[int32]bool{}
	for idle := 0; len(reached) < len(ends) && idle < 3; {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := rd.PollFetches(fctx)
		cancel()
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read %s: %v", job.out, err)
		}
		if fs.NumRecords() == 0 {
			idle++ // only markers may be left below the ends
			continue
		}
		idle = 0
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = true
			v, _, _ := strings.Cut(string(r.Value), "|")
			perInput[v]++
			if r.Offset+1 >= ends[r.Partition] {
				reached[r.Partition] = true
			}
		})
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	var committed, aborted, unknown, lost, visibleAborted int
	for attempt, o := range job.outcomes {
		switch {
		case o.err != nil:
			unknown++
		case o.committed:
			committed++
		default:
			aborted++
		}
		for _, v := range o.values {
			out := fmt.Sprintf("%s|%d", v, attempt)
			switch {
			case o.err == nil && o.committed && !seen[out]:
				lost++
				t.Errorf("committed transaction %d lost %s", attempt, out)
			case o.err == nil && !o.committed && seen[out]:
				visibleAborted++
				t.Errorf("aborted transaction %d visible: %s", attempt, out)
			}
		}
	}
	missing, dup := 0, 0
	for i := range inputs {
		switch n := perInput[fmt.Sprintf("in-%06d", i)]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		}
	}
	t.Logf("%d transactions: %d committed, %d aborted, %d in doubt; %d sessions; %d inputs, %d outputs read",
		len(job.outcomes), committed, aborted, unknown, job.sessions, inputs, len(seen))
	if lost > 0 || visibleAborted > 0 || missing > 0 || dup > 0 {
		t.Fatalf("lost committed %d, visible aborted %d, inputs never transformed %d, transformed more than once %d",
			lost, visibleAborted, missing, dup)
	}
}
