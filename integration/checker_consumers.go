package integration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readOpts are the options of every reader: read_committed, control
// records kept (so a reader knows it has passed a transaction marker; they
// are not recorded as reads).
func readOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
}

// fromStart assigns every partition of the workload's topic from its start.
func (w *Workload) fromStart() kgo.Opt {
	offsets := map[int32]kgo.Offset{}
	for p := range w.cfg.Partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	return kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.Topic: offsets})
}

// record adds the data records of fs to the history as reads by consumer,
// with the session session(p) of their partition, and logs the first few
// errors. It returns the records, control records included.
func (w *Workload) record(consumer string, fs kgo.Fetches, session func(int32) int, errs *int) []*kgo.Record {
	fs.EachError(func(_ string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		w.cfg.OnError(consumer, err)
		if *errs++; *errs <= 3 {
			w.cfg.Logf("workload: %s: partition %d: %v", consumer, p, err)
		}
	})
	recs := fs.Records()
	for _, r := range recs {
		if r.Attrs.IsControl() {
			continue
		}
		w.h.AddRead(Read{Consumer: consumer, Session: session(r.Partition), Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
		if consumer != FinalConsumer {
			w.prog.reads.Add(1)
		}
		if strings.HasPrefix(consumer, groupPrefix) {
			w.prog.groupReads.Add(1)
		}
	}
	return recs
}

// runAssignConsumer is consumer "assign-I": every partition from the
// start, by assignment, until the workload stops.
func (w *Workload) runAssignConsumer(i int) {
	name := fmt.Sprintf("assign-%d", i)
	for p := range w.cfg.Partitions {
		w.h.AddAssignment(Assignment{Consumer: name, Partition: p})
	}
	cl, err := kgo.NewClient(w.clientOpts(append(readOpts(), w.fromStart())...)...)
	if err != nil {
		w.cfg.Logf("workload: %s: %v", name, err)
		return
	}
	defer cl.Close()
	errs := 0
	for w.consCtx.Err() == nil {
		w.record(name, cl.PollRecords(w.consCtx, 1000), func(int32) int { return 0 }, &errs)
	}
}

// groupPrefix starts the names of group members.
const groupPrefix = "group-"

// runGroup runs the group's members, replacing one every Churn, until the
// workload stops.
func (w *Workload) runGroup() {
	type member struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func() member {
		ctx, cancel := context.WithCancel(w.consCtx)
		m := member{cancel, make(chan struct{})}
		name := fmt.Sprintf("%s%d", groupPrefix, w.members.Add(1)-1)
		go func() {
			defer close(m.done)
			w.runMember(ctx, name)
		}()
		return m
	}
	members := make([]member, w.cfg.GroupConsumers)
	for i := range members {
		members[i] = start()
	}
	var churn <-chan time.Time
	if w.cfg.Churn > 0 {
		t := time.NewTicker(w.cfg.Churn)
		defer t.Stop()
		churn = t.C
	}
	for k := 0; ; k++ {
		select {
		case <-w.consCtx.Done():
			for _, m := range members {
				<-m.done
			}
			return
		case <-churn:
			i := k % len(members)
			members[i].cancel()
			<-members[i].done
			members[i] = start()
		}
	}
}

// runMember is one group member: it polls, records what it read, commits
// it, and only then lets a rebalance proceed (kgo.BlockRebalanceOnPoll), so
// a partition's next owner resumes where this one committed. Each
// assignment of a partition starts a new session of its stream.
func (w *Workload) runMember(ctx context.Context, name string) {
	var (
		mu       sync.Mutex
		sessions = map[int32]int{}
		next     int
	)
	assigned := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range m[w.cfg.Topic] {
			next++
			sessions[p] = next
			w.h.AddAssignment(Assignment{Consumer: name, Partition: p, Session: next, Group: true})
		}
	}
	gone := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range m[w.cfg.Topic] {
			delete(sessions, p)
		}
	}
	session := func(p int32) int {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := sessions[p]; ok {
			return s
		}
		return -1 // not assigned: Check only orders such reads
	}
	cl, err := kgo.NewClient(w.clientOpts(append(readOpts(),
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.ConsumeTopics(w.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(assigned),
		kgo.OnPartitionsRevoked(gone),
		kgo.OnPartitionsLost(gone),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
	)...)...)
	if err != nil {
		w.cfg.Logf("workload: %s: %v", name, err)
		return
	}
	defer w.closeMember(cl, name)
	errs := 0
	for ctx.Err() == nil {
		w.record(name, cl.PollRecords(ctx, 500), session, &errs)
		w.commit(cl, name)
		cl.AllowRebalance()
	}
}

// memberCloseTimeout bounds how long a group member's client may take to
// leave the group and close.
const memberCloseTimeout = 30 * time.Second

// closeMember closes a group member's client, giving up after
// memberCloseTimeout: franz-go's Close waits for the group to be left,
// which never happens while the group's coordinator cannot write, and the
// workload must stop so that the test can report why. The abandoned close
// goes on in the background until the cluster is torn down.
func (w *Workload) closeMember(cl *kgo.Client, name string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl.Close()
	}()
	select {
	case <-done:
	case <-time.After(memberCloseTimeout):
		w.cfg.Logf("workload: %s: its client did not leave the group within %v; abandoning the close", name, memberCloseTimeout)
		w.cfg.OnError(name, fmt.Errorf("leave group: no answer within %v", memberCloseTimeout))
	}
}

// commit commits what member name has read and records each partition's
// commit with its outcome.
func (w *Workload) commit(cl *kgo.Client, name string) {
	offs := cl.UncommittedOffsets()[w.cfg.Topic]
	if len(offs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := w.h.Now()
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{w.cfg.Topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			end := w.h.Now()
			codes := map[int32]int16{}
			if resp != nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						codes[p.Partition] = p.ErrorCode
					}
				}
			}
			for p, eo := range offs {
				c := Commit{Consumer: name, Partition: p, Offset: eo.Offset, Start: start, End: end}
				code, answered := codes[p]
				var cerr error
				switch {
				case err != nil:
					cerr = err
				case !answered:
					cerr = errors.New("no answer for the partition")
				case code != 0:
					cerr = kerr.ErrorForCode(code)
				}
				if cerr != nil {
					c.Err = cerr.Error()
					w.cfg.OnError(name, fmt.Errorf("commit of partition %d: %w", p, cerr))
				}
				w.h.AddCommit(c)
				if c.Err == "" {
					w.prog.commits.Add(1)
				}
			}
		})
}

// FinalRead reads every partition read_committed from its start up to the
// end offset (high watermark) it has once the faults have healed; call it
// after Stop. It waits, up to ctx's end, for partitions to come back and
// open transactions to end. On success the history is complete.
func (w *Workload) FinalRead(ctx context.Context) error {
	admCl, err := kgo.NewClient(w.clientOpts()...)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	starts, err := allOffsets(ctx, w.cfg.Topic, w.cfg.Partitions, adm.ListStartOffsets)
	if err != nil {
		return fmt.Errorf("final read: start offsets: %w", err)
	}
	ends, err := allOffsets(ctx, w.cfg.Topic, w.cfg.Partitions, adm.ListEndOffsets)
	if err != nil {
		return fmt.Errorf("final read: end offsets: %w", err)
	}
	for p := range w.cfg.Partitions {
		w.h.AddAssignment(Assignment{Consumer: FinalConsumer, Partition: p})
	}
	cl, err := kgo.NewClient(w.clientOpts(append(readOpts(), w.fromStart())...)...)
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	defer cl.Close()
	pos := starts
	behind := func() []string {
		var s []string
		for p := range w.cfg.Partitions {
			if pos[p] < ends[p] {
				s = append(s, fmt.Sprintf("partition %d at %d of %d", p, pos[p], ends[p]))
			}
		}
		return s
	}
	errs := 0
	for len(behind()) > 0 {
		for _, r := range w.record(FinalConsumer, cl.PollRecords(ctx, 1000), func(int32) int { return 0 }, &errs) {
			pos[r.Partition] = max(pos[r.Partition], r.Offset+1)
		}
		if ctx.Err() != nil && len(behind()) > 0 {
			return fmt.Errorf("final read incomplete: %s: %w", strings.Join(behind(), ", "), ctx.Err())
		}
	}
	w.h.SetFinalDone()
	return nil
}

// allOffsets asks list for topic's offsets until every partition answers
// or ctx ends.
func allOffsets(ctx context.Context, topic string, partitions int32,
	list func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	for {
		listed, err := list(ctx, topic)
		got := map[int32]int64{}
		var missing []int
		if err == nil {
			listed.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					got[o.Partition] = o.Offset
				}
			})
			for p := range partitions {
				if _, ok := got[p]; !ok {
					missing = append(missing, int(p))
				}
			}
			if len(missing) == 0 {
				return got, nil
			}
			sort.Ints(missing)
			err = fmt.Errorf("no offset for partitions %v", missing)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
	}
}
