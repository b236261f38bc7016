package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/internal/replicacheck"
)

// TestChaosReplicationReassign grows the cluster by a fourth broker under
// the workload and then, round after round, moves replicas of a few
// partitions to three random brokers of the four (the leader's own
// replica among those that may go), sometimes throttled, sometimes
// cancelled half-way, sometimes with a broker killed (kill -9) and
// restarted in the middle, as an operator spreading topics over a grown
// cluster meets it. Each round waits for the moves to finish. Nothing
// acknowledged may be lost, every partition's replicas hold the same
// bytes, and the brokers a replica left hold no copy of it.
func TestChaosReplicationReassign(t *testing.T) {
	t.Parallel()
	rc := newReplChaos(t, "repl-reassign")
	rc.start(nil)
	nd := rc.c.AddBroker()
	t.Logf("added broker %d", nd.ID())
	adm := kadm.NewClient(rc.c.Client())
	defer adm.Close()
	brokers := rc.c.IDs()
	// Five rounds: one of each kind (plain, throttled, cancelled, a broker
	// killed in the middle).
	chaosRounds(t, 5, func(round int) {
		ctx := testCtx(t, 90*time.Second)
		req := kadm.AlterPartitionAssignmentsReq{}
		moves := map[int32][]int32{}
		for _, p := range rand.Perm(replPartitions)[:1+rand.IntN(3)] {
			var target []int32
			for _, i := range rand.Perm(len(brokers))[:3] {
				target = append(target, int32(brokers[i]))
			}
			moves[int32(p)] = target
			req.Assign(rc.topic, int32(p), target)
		}
		throttled := round%3 == 1
		if throttled {
			rc.throttle(ctx, adm, "1000000")
		}
		t.Logf("round %d: reassign %v (throttled %v)", round, moves, throttled)
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("round %d: reassign: %v", round, err)
		}
		if round%4 == 3 {
			// Cancel whatever has not finished yet: those partitions go
			// back to their original replicas.
			time.Sleep(jitter(0, 500*time.Millisecond))
			cancel := kadm.AlterPartitionAssignmentsReq{}
			for p := range moves {
				cancel.CancelAssign(rc.topic, p)
			}
			cres, err := adm.AlterPartitionAssignments(ctx, cancel)
			if err != nil {
				t.Fatalf("round %d: cancel: %v", round, err)
			}
			cres.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
				if r.Err != nil && !errors.Is(r.Err, kerr.NoReassignmentInProgress) {
					t.Errorf("round %d: cancel %s-%d: %v", round, r.Topic, r.Partition, r.Err)
				}
			})
			t.Logf("round %d: cancelled", round)
		}
		if round%5 == 4 {
			// A broker dies in the middle of the moves: a leader, an
			// adding replica or one being removed. The moves wait for it
			// or go on without it; it comes back and catches up, and a
			// copy moved off it meanwhile is deleted as it starts.
			victim := brokers[rand.IntN(len(brokers))]
			time.Sleep(jitter(0, time.Second))
			t.Logf("round %d: kill -9 node %d", round, victim)
			rc.c.Kill(victim)
			time.Sleep(jitter(time.Second, 4*time.Second))
			rc.c.Restart(victim)
		}
		rc.waitReassigned(round)
		if throttled {
			rc.throttle(ctx, adm, "")
		}
		rc.waitProgress(fmt.Sprintf("after reassignment round %d", round))
	})
	rc.finish()
	rc.checkNoStrayReplicas()
}

// throttle sets (rate non-empty) or removes the replication throttle of
// every replica of the workload's topic on every broker.
func (rc *replChaos) throttle(ctx context.Context, adm *kadm.Client, rate string) {
	rc.t.Helper()
	op, star := kadm.SetConfig, "*"
	if rate == "" {
		op = kadm.DeleteConfig
	}
	tres, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: op, Name: "leader.replication.throttled.replicas", Value: &star},
		{Op: op, Name: "follower.replication.throttled.replicas", Value: &star}}, rc.topic)
	if err == nil {
		for _, r := range tres {
			err = errors.Join(err, r.Err)
		}
	}
	for _, id := range rc.c.IDs() {
		bres, berr := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: op, Name: "leader.replication.throttled.rate", Value: &rate},
			{Op: op, Name: "follower.replication.throttled.rate", Value: &rate}}, int32(id))
		err = errors.Join(err, berr)
		for _, r := range bres {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		rc.t.Fatalf("throttle %q: %v", rate, err)
	}
}

// waitReassigned waits until no reassignment of the workload's topic is in
// progress and every partition is fully in sync on three replicas.
func (rc *replChaos) waitReassigned(round int) {
	rc.t.Helper()
	rc.c.WaitFor(fmt.Sprintf("round %d: reassignments done", round), func(ctx context.Context) error {
		resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, rc.c.Client())
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
		for _, t := range resp.Topics {
			if t.Topic == rc.topic && len(t.Partitions) > 0 {
				return fmt.Errorf("%d partitions still moving", len(t.Partitions))
			}
		}
		ps, err := rc.partitions(ctx, rc.topic)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if len(p.Replicas) != 3 || len(p.ISR) != 3 || p.Leader < 0 {
				return fmt.Errorf("partition %d: replicas %v, isr %v, leader %d", p.Partition, p.Replicas, p.ISR, p.Leader)
			}
		}
		return nil
	})
}

// checkNoStrayReplicas checks that no broker keeps a directory of a
// partition of the workload's topic it is not a replica of.
func (rc *replChaos) checkNoStrayReplicas() {
	rc.t.Helper()
	ps, err := rc.partitions(testCtx(rc.t, 30*time.Second), rc.topic)
	if err != nil {
		rc.t.Fatal(err)
	}
	for _, p := range ps {
		for _, id := range rc.c.IDs() {
			if slices.Contains(p.Replicas, int32(id)) {
				continue
			}
			dir := filepath.Join(rc.c.Node(id).DataDir(), rc.topic+"-"+strconv.Itoa(int(p.Partition)))
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				rc.t.Errorf("node %d is not a replica of partition %d (replicas %v) but keeps %s (%v)", id, p.Partition, p.Replicas, dir, err)
			}
		}
	}
}

// compareReplicas compares every replica of topic's partitions below the
// high watermark, byte for byte, on the data directories of the nodes the
// metadata names as its replicas. A follower may still be copying the
// last batches: each partition gets 30 s to match before the test fails
// with the first difference.
func (rc *replChaos) compareReplicas(topic string, partitions int32) {
	rc.t.Helper()
	adm := kadm.NewClient(rc.c.Client())
	defer adm.Close()
	ctx := testCtx(rc.t, 60*time.Second)
	hws, err := allOffsets(ctx, topic, partitions, adm.ListEndOffsets)
	if err != nil {
		rc.t.Errorf("compare replicas of %s: %v", topic, err)
		return
	}
	md, err := rc.partitions(ctx, topic)
	if err != nil {
		rc.t.Errorf("compare replicas of %s: %v", topic, err)
		return
	}
	replicas := map[int32][]int32{}
	for _, p := range md {
		replicas[p.Partition] = p.Replicas
	}
	batches := 0
	for p := range partitions {
		var dirs []string
		for _, id := range replicas[p] {
			dirs = append(dirs, rc.c.Node(int(id)).DataDir())
		}
		var m *replicacheck.Mismatch
		for deadline := time.Now().Add(30 * time.Second); ; {
			m, err = replicacheck.Compare(dirs, topic, p, hws[p])
			if (err == nil && m == nil) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		switch {
		case err != nil:
			rc.t.Errorf("compare replicas of %s-%d: %v", topic, p, err)
		case m != nil:
			rc.t.Errorf("replicas of %s-%d below the high watermark %d: %s", topic, p, hws[p], m)
		default:
			bs, _ := replicacheck.ReadBatches(dirs[0], topic, p)
			for _, b := range bs {
				if b.BaseOffset < hws[p] {
					batches++
				}
			}
		}
	}
	rc.t.Logf("replicas of %s: %d batches below the high watermarks %v compared on their replicas", topic, batches, hws)
}
