package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// groupBroker is a broker with quick group settings for tests.
func groupBroker(t *testing.T) *brokertest.Broker {
	return brokertest.Start(t,
		brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"),
		brokertest.WithProperty("group.min.session.timeout.ms", "100"),
		brokertest.WithProperty("offsets.topic.num.partitions", "5"),
	)
}

func groupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func makeTopic(t *testing.T, ctx context.Context, adm *kadm.Client, name string, parts int32) {
	t.Helper()
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, name); err != nil {
		t.Fatal(err)
	}
}

// produceN writes n records round-robin over parts partitions, values
// "<prefix>-<i>".
func produceN(t *testing.T, ctx context.Context, addr, topic, prefix string, parts, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// groupMember consumes in a group, committing after each poll, and
// records what it consumed.
type groupMember struct {
	cl   *kgo.Client
	mu   sync.Mutex
	seen map[string]int
	done chan struct{}
}

func startGroupMember(t *testing.T, ctx context.Context, addr, group, topic string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m := &groupMember{cl: cl, seen: map[string]int{}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				cl.AllowRebalance()
				return
			}
			m.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { m.seen[string(r.Value)]++ })
			m.mu.Unlock()
			cl.CommitUncommittedOffsets(ctx)
			cl.AllowRebalance()
		}
	}()
	return m
}

func (m *groupMember) close() { m.cl.Close(); <-m.done }

// waitConsumed waits until the members together consumed want distinct
// values, and fails on any duplicate.
func waitConsumed(t *testing.T, ctx context.Context, want int, ms ...*groupMember) {
	t.Helper()
	for {
		all := map[string]int{}
		for _, m := range ms {
			m.mu.Lock()
			for v, n := range m.seen {
				all[v] += n
			}
			m.mu.Unlock()
		}
		for v, n := range all {
			if n > 1 {
				t.Fatalf("%s consumed %d times", v, n)
			}
		}
		if len(all) >= want {
			if len(all) > want {
				t.Fatalf("consumed %d distinct records, want %d", len(all), want)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumed %d of %d: %v", len(all), want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func checkCommittedEnd(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) {
	t.Helper()
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		or, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		ends.Each(func(lo kadm.ListedOffset) {
			if c, _ := or.Lookup(topic, lo.Partition); c.At != lo.Offset {
				ok = false
			}
		})
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed offsets never reached the end offsets: %v", or)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestFranzGroupsShareAndResume: two members (eager range, then
// cooperative-sticky) share partitions, consume everything once and commit;
// after a broker restart new members resume from the committed offsets.
func TestFranzGroupsShareAndResume(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"eager-range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			b := groupBroker(t)
			ctx := groupCtx(t)
			adm := kadm.NewClient(mustClient(t, b.Addr()))
			topic, group := "t-"+bal.name, "g-"+bal.name
			makeTopic(t, ctx, adm, topic, 4)
			produceN(t, ctx, b.Addr(), topic, "a", 4, 200)
			m1 := startGroupMember(t, ctx, b.Addr(), group, topic, kgo.Balancers(bal.b))
			m2 := startGroupMember(t, ctx, b.Addr(), group, topic, kgo.Balancers(bal.b))
			waitConsumed(t, ctx, 200, m1, m2)
			checkCommittedEnd(t, ctx, adm, group, topic)
			m1.close()
			m2.close()

			b.Restart()
			adm = kadm.NewClient(mustClient(t, b.Addr()))
			produceN(t, ctx, b.Addr(), topic, "b", 4, 100)
			m3 := startGroupMember(t, ctx, b.Addr(), group, topic, kgo.Balancers(bal.b))
			m4 := startGroupMember(t, ctx, b.Addr(), group, topic, kgo.Balancers(bal.b))
			waitConsumed(t, ctx, 100, m3, m4)
			for _, m := range []*groupMember{m3, m4} {
				for v := range m.seen {
					if v[0] != 'b' {
						t.Fatalf("re-consumed %s after restart", v)
					}
				}
			}
			checkCommittedEnd(t, ctx, adm, group, topic)
			m3.close()
			m4.close()
		})
	}
}

func mustClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestStaticMemberPartitionsMoveAfterSession: a static member that goes
// away without leaving keeps its partitions until its session times out;
// then the other member gets them.
func TestStaticMemberPartitionsMoveAfterSession(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	adm := kadm.NewClient(mustClient(t, b.Addr()))
	makeTopic(t, ctx, adm, "static", 2)
	opts := []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
	m1 := startGroupMember(t, ctx, b.Addr(), "gs", "static", append(opts, kgo.InstanceID("one"))...)
	m2 := startGroupMember(t, ctx, b.Addr(), "gs", "static", append(opts, kgo.InstanceID("two"))...)
	waitMembers(t, ctx, adm, "gs", 2)
	m1.close() // a static member does not send LeaveGroup
	produceN(t, ctx, b.Addr(), "static", "s", 2, 20)
	waitConsumed(t, ctx, 20, m2)
	m2.close()
}

func waitMembers(t *testing.T, ctx context.Context, adm *kadm.Client, group string, n int) {
	t.Helper()
	for {
		dg, err := adm.DescribeGroups(ctx, group)
		if err == nil && dg[group].State == "Stable" && len(dg[group].Members) == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never had %d stable members: %v %+v", group, n, err, dg[group])
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestAdminGroupAPIs: ListGroups, DescribeGroups, Lag, OffsetDelete and
// DeleteGroups, with kadm, over a live and then an empty group.
func TestAdminGroupAPIs(t *testing.T) {
	b := groupBroker(t)
	ctx := groupCtx(t)
	adm := kadm.NewClient(mustClient(t, b.Addr()))
	makeTopic(t, ctx, adm, "adm", 2)
	makeTopic(t, ctx, adm, "other", 1)
	produceN(t, ctx, b.Addr(), "adm", "x", 2, 10)
	m := startGroupMember(t, ctx, b.Addr(), "ga", "adm", kgo.ClientID("admin-test"))
	waitConsumed(t, ctx, 10, m)
	checkCommittedEnd(t, ctx, adm, "ga", "adm")

	lg, err := adm.ListGroups(ctx)
	if err != nil || lg["ga"].State != "Stable" || lg["ga"].ProtocolType != "consumer" {
		t.Fatalf("ListGroups: %v %+v", err, lg)
	}
	dg, err := adm.DescribeGroups(ctx, "ga")
	if d := dg["ga"]; err != nil || d.State != "Stable" || len(d.Members) != 1 || d.Members[0].ClientID != "admin-test" || len(d.AssignedPartitions()["adm"]) != 2 {
		t.Fatalf("DescribeGroups: %v %+v", err, dg["ga"])
	}
	lag, err := adm.Lag(ctx, "ga")
	if err != nil || lag.Error() != nil {
		t.Fatalf("Lag: %v %v", err, lag.Error())
	}
	if l, _ := lag["ga"].Lag.Lookup("adm", 1); l.Lag != 0 || l.Member == nil {
		t.Fatalf("lag %+v", l)
	}
	// A generation -1 commit for another topic, as admin clients do, is
	// refused while the group has members... (UNKNOWN_MEMBER_ID)
	os := kadm.Offsets{}
	os.AddOffset("other", 0, 3, -1)
	if r, err := adm.CommitOffsets(ctx, "ga", os); err == nil && r.Error() == nil {
		t.Fatal("admin commit to a live group was accepted")
	}
	if _, err := adm.DeleteGroup(ctx, "ga"); err == nil {
		t.Fatal("deleted a live group")
	}
	m.close()
	waitState(t, ctx, adm, "ga", "Empty")
	// ... and accepted once it is empty, metadata and all.
	if r, err := adm.CommitOffsets(ctx, "ga", os); err != nil || r.Error() != nil {
		t.Fatalf("admin commit to empty group: %v %v", err, r.Error())
	}
	ds, err := adm.DeleteOffsets(ctx, "ga", kadm.TopicsSet{"other": {0: {}}})
	if err != nil || ds.Error() != nil {
		t.Fatalf("OffsetDelete: %v %v", err, ds.Error())
	}
	or, _ := adm.FetchOffsets(ctx, "ga")
	if _, ok := or.Lookup("other", 0); ok {
		t.Fatal("deleted offset still committed")
	}
	if o, _ := or.Lookup("adm", 0); o.At != 5 {
		t.Fatalf("adm-0 committed %d, want 5", o.At)
	}
	if r, err := adm.DeleteGroup(ctx, "ga"); err != nil || r.Err != nil {
		t.Fatalf("DeleteGroup: %v %v", err, r.Err)
	}
	if lg, _ := adm.ListGroups(ctx); len(lg) != 0 {
		t.Fatalf("groups after delete: %+v", lg)
	}
}

func waitState(t *testing.T, ctx context.Context, adm *kadm.Client, group, state string) {
	t.Helper()
	for {
		dg, err := adm.DescribeGroups(ctx, group)
		if err == nil && dg[group].State == state {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never became %s: %+v", group, state, dg[group])
		case <-time.After(20 * time.Millisecond):
		}
	}
}
