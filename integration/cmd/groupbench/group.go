package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errGroup reports a group that did not settle in time.
var errGroup = errors.New("group did not settle")

// ownership is what the members' callbacks say each member owns.
type ownership struct {
	mu      sync.Mutex
	owned   []map[int32]bool // by member index
	changed chan struct{}    // signalled (never blocks) on every change
}

func newOwnership(n int) *ownership {
	o := &ownership{owned: make([]map[int32]bool, n), changed: make(chan struct{}, 1)}
	for i := range o.owned {
		o.owned[i] = map[int32]bool{}
	}
	return o
}

func (o *ownership) update(member int, ps map[string][]int32, own bool) {
	o.mu.Lock()
	for _, parts := range ps {
		for _, p := range parts {
			if own {
				o.owned[member][p] = true
			} else {
				delete(o.owned[member], p)
			}
		}
	}
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// complete reports whether the live members own every partition, each
// exactly once, and the closed ones own nothing.
func (o *ownership) complete(live []bool, partitions int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[int32]bool{}
	for m, owned := range o.owned {
		if !live[m] && len(owned) > 0 {
			return false
		}
		for p := range owned {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == partitions
}

// rebalancePhases starts the members, times the join, closes one member
// and times the rebalance, then closes the rest.
func rebalancePhases(ctx context.Context, addr, label string) (join, leave time.Duration, err error) {
	topic, group := "groupbench-"+label, "groupbench-"+label
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, 0, fmt.Errorf("admin client: %w", err)
	}
	defer adm.Close()
	ka := kadm.NewClient(adm)
	if err := createTopic(ctx, ka, topic, int32(*partitions)); err != nil {
		return 0, 0, err
	}
	defer ka.DeleteTopics(context.Background(), topic)
	defer ka.DeleteGroup(context.Background(), group)

	own := newOwnership(*members)
	live := make([]bool, *members)
	clients := make([]*kgo.Client, *members)
	var polls sync.WaitGroup
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
		polls.Wait()
	}()

	start := time.Now()
	for i := range clients {
		i := i
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.HeartbeatInterval(*heartbeat),
			kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.update(i, ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.update(i, ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.update(i, ps, false) }),
		)
		if err != nil {
			return 0, 0, fmt.Errorf("member %d: %w", i, err)
		}
		clients[i], live[i] = cl, true
		polls.Add(1)
		go func() { // members poll as consumers do; the topic stays empty
			defer polls.Done()
			for {
				if fs := cl.PollFetches(ctx); fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
			}
		}()
	}
	if err := settle(ctx, ka, group, own, live); err != nil {
		return 0, 0, fmt.Errorf("join: %w", err)
	}
	join = time.Since(start)

	start = time.Now()
	clients[0].Close() // revokes, then LeaveGroup
	live[0] = false
	if err := settle(ctx, ka, group, own, live); err != nil {
		return 0, 0, fmt.Errorf("leave: %w", err)
	}
	leave = time.Since(start)
	return join, leave, nil
}

// settle waits until the live members own every partition and the group
// is Stable with exactly the live members.
func settle(ctx context.Context, ka *kadm.Client, group string, own *ownership, live []bool) error {
	want := 0
	for _, l := range live {
		if l {
			want++
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last string
	for {
		if own.complete(live, *partitions) {
			gs, err := ka.DescribeGroups(ctx, group)
			if err == nil {
				g := gs[group]
				last = fmt.Sprintf("state %s, %d members, err %v", g.State, len(g.Members), g.Err)
				if g.Err == nil && g.State == "Stable" && len(g.Members) == want {
					return nil
				}
			}
			select { // poll the state while ownership is complete
			case <-ctx.Done():
				return fmt.Errorf("%w: %w (last: %s)", errGroup, ctx.Err(), last)
			case <-own.changed:
			case <-time.After(2 * time.Millisecond):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (ownership incomplete; last: %s)", errGroup, ctx.Err(), last)
		case <-own.changed:
		}
	}
}

// createTopic creates a topic with replication factor 1.
func createTopic(ctx context.Context, ka *kadm.Client, topic string, partitions int32) error {
	resp, err := ka.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// commitPhase runs the committers for -commit-secs and returns the rate of
// successful commits.
func commitPhase(ctx context.Context, addr, label string) (float64, error) {
	topic := "groupbench-commits-" + label
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, fmt.Errorf("admin client: %w", err)
	}
	defer adm.Close()
	ka := kadm.NewClient(adm)
	if err := createTopic(ctx, ka, topic, int32(*partitions)); err != nil {
		return 0, err
	}
	defer ka.DeleteTopics(context.Background(), topic)
	td, err := ka.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list topic %s: %w", topic, err)
	}
	topicID := td[topic].ID

	var (
		wg    sync.WaitGroup
		count atomic.Int64
		errMu sync.Mutex
		first error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if first == nil {
			first = err
		}
	}
	// A warm-up commit per group (coordinator lookup, connection) happens
	// before the clock starts.
	cls := make([]*kgo.Client, *committers)
	groups := make([]string, *committers)
	for i := range cls {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return 0, fmt.Errorf("committer %d: %w", i, err)
		}
		defer cl.Close()
		cls[i], groups[i] = cl, fmt.Sprintf("groupbench-commits-%s-%d", label, i)
		if err := commit(ctx, cl, groups[i], topic, topicID, int32(i%*partitions), 0); err != nil {
			return 0, fmt.Errorf("committer %d: warm-up: %w", i, err)
		}
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ka.DeleteGroups(dctx, groups...)
	}()
	pctx, cancel := context.WithTimeout(ctx, *commitTime)
	defer cancel()
	start := time.Now()
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(1); pctx.Err() == nil; off++ {
				if err := commit(pctx, cl, groups[i], topic, topicID, int32(i%*partitions), off); err != nil {
					if pctx.Err() == nil {
						fail(fmt.Errorf("committer %d: %w", i, err))
					}
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if first != nil {
		return 0, first
	}
	return float64(count.Load()) / secs, nil
}

// commit sends one OffsetCommit of one partition with generation -1 and no
// member, naming the topic both ways (the version kgo picks decides which
// field goes on the wire).
func commit(ctx context.Context, cl *kgo.Client, group, topic string, id [16]byte, part int32, off int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = part, off, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("offset commit: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("offset commit %s/%d: %w", topic, p.Partition, err)
			}
		}
	}
	return nil
}
