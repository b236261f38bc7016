package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Network faults of issue 19 (Cluster III) on three combined nodes, every
// topic replicated three ways with min.insync.replicas 2, internal topics
// included, while the checker's whole workload runs: idempotent acks=all
// producers, transactional producers that commit and deliberately abort
// transactions spanning partitions, a consumer by assignment, and a
// churning consumer group that commits what it reads, with the group's
// committed offsets sampled all along. Links are cut with iptables in the
// nodes' network namespaces (netns mode, root); the tests skip elsewhere.
//
//   - TestChaosNetQuorumPartition cuts one voter's controller links to
//     the other two (its replica fetches and clients flow), a follower
//     voter or the active controller in turn, and heals.
//   - TestChaosNetOneWay cuts one direction only: between the active
//     controller and a follower voter on the controller links, or between
//     a partition's leader and a follower on every link.
//   - TestChaosNetIsolatedLeader cuts a leader (of a partition, of the
//     group's offsets or of the transactions' state) off from every other
//     node while clients still reach it: it must not acknowledge an
//     acks=all write, clients move on to the new leader, and once healed
//     it truncates what it alone appended.
//
// Each ends as the replication nemeses do (replChaos.finish): heal, wait
// for every replica in sync, compare replicas byte for byte below the
// high watermark, final read, and the checker with every count 0.

// netProgress is what a network-fault test waits for after each fault.
var netProgress = Progress{Acked: 100, Reads: 50, GroupReads: 20, Commits: 5, Txns: 3}

// How many rounds of faults each test runs in `make test`
// (GREGOR_CHAOS_DURATION runs them for that long at least, in make chaos):
// every kind of round once. Two quorum partitions (a follower voter alone,
// then the active controller), four one-way cuts (each direction of a
// controller link and of a leader's data links), three isolated leaders
// (the side topic's, the group's coordinator, a transaction coordinator).
const (
	netQuorumRounds   = 2
	netOneWayRounds   = 4
	netIsolatedRounds = 3
)

// newNetChaos starts three nodes as newReplChaos does, with the internal
// topics replicated three ways (min.insync.replicas 2) on six partitions
// each, and creates the workload's topic; it skips the test where links
// cannot be cut.
func newNetChaos(t *testing.T, prefix string) *replChaos {
	t.Helper()
	c := NewCluster(t, 3, replChaosOptions(
		WithSetting("offsets.topic.replication.factor", "3"),
		WithSetting("offsets.topic.num.partitions", "6"),
		WithSetting("transaction.state.log.replication.factor", "3"),
		WithSetting("transaction.state.log.min.isr", "2"),
		WithSetting("transaction.state.log.num.partitions", "6"),
		WithSetting("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500"))...)
	if err := c.CanCut(); err != nil {
		t.Skipf("cluster: %v", err)
	}
	return startReplChaos(t, prefix, c)
}

// startNet starts the whole workload: two idempotent producers, two
// transactional ones, a consumer by assignment and two group members.
func (rc *replChaos) startNet() {
	rc.t.Helper()
	rc.start(func(wc *WorkloadConfig) {
		wc.Producers, wc.TxnProducers = 2, 2
		wc.AssignConsumers, wc.GroupConsumers = 1, 2
		wc.OffsetSampling = 250 * time.Millisecond
		wc.TxnTimeout = 10 * time.Second
	})
	waitProgress(rc.t, rc.w, netProgress, "before the faults")
}

// netRound waits for the workload to make progress after a fault; once
// healed (healed true) it first waits for every partition of every topic,
// internal ones included, to have all its replicas back in sync.
func (rc *replChaos) netRound(what string, healed bool) {
	rc.t.Helper()
	if healed {
		rc.waitAllInSync()
	}
	waitProgress(rc.t, rc.w, netProgress, what)
}

// partitionsSeenBy is the metadata of topic's partitions as node id sees
// it.
func (rc *replChaos) partitionsSeenBy(ctx context.Context, id int, topic string) ([]kmsg.MetadataResponseTopicPartition, error) {
	m, err := rc.c.Metadata(ctx, id, topic)
	if err != nil {
		return nil, err
	}
	return topicPartitions(m, topic)
}

// waitMovedOff waits until node seer sees every partition of topics led
// by a node other than id.
func (rc *replChaos) waitMovedOff(seer, id int, topics ...string) {
	rc.t.Helper()
	rc.c.WaitFor(fmt.Sprintf("node %d sees leadership of %v off node %d", seer, topics, id), func(ctx context.Context) error {
		for _, topic := range topics {
			ps, err := rc.partitionsSeenBy(ctx, seer, topic)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if int(p.Leader) == id || p.Leader < 0 {
					return fmt.Errorf("%s-%d: leader %d", topic, p.Partition, p.Leader)
				}
			}
		}
		return nil
	})
}

// waitConverged waits until every node has applied the same metadata.
func (rc *replChaos) waitConverged() {
	rc.t.Helper()
	rc.c.WaitFor("every node on the same metadata", func(ctx context.Context) error {
		var hashes []string
		for _, id := range rc.c.IDs() {
			st, err := nodeStatus(ctx, rc.c, id)
			if err != nil {
				return err
			}
			hashes = append(hashes, st.MetadataHash)
		}
		if len(slices.Compact(slices.Clone(hashes))) != 1 {
			return fmt.Errorf("metadata digests %v", hashes)
		}
		return nil
	})
}

// TestChaosNetQuorumPartition partitions the controller quorum: one
// voter's controller links to the other two are cut both ways, a
// follower voter's in even rounds and the active controller's in odd ones
// (a 1|2 split with the active controller alone), held past the broker
// session now and then, and healed. The majority elects a controller if
// it must; the lone one stops acting as one; the lone broker, fenced
// without knowing it, acknowledges nothing; every node converges on the
// same metadata after the heal.
func TestChaosNetQuorumPartition(t *testing.T) {
	t.Parallel()
	rc := newNetChaos(t, "net-quorum")
	side := rc.newStaleSide("net-quorum-side")
	rc.startNet()
	chaosRounds(t, netQuorumRounds, func(round int) {
		side.marker(fmt.Sprintf("marker-%d", round))
		ctrl := waitController(t, rc.c, rc.c.IDs()...)
		lone := ctrl
		if round%2 == 0 {
			// A follower voter, the side topic's leader when it is one.
			lone = rc.others(ctrl)[rand.IntN(2)]
			if sl := rc.leaderOf(side.topic, 0); sl != ctrl {
				lone = sl
			}
		}
		rest := rc.others(lone)
		var conn *rawConn
		if rc.leaderOf(side.topic, 0) == lone {
			conn = dialRaw(t, rc.c.Node(lone).Addr())
		}
		t.Logf("round %d: cut node %d's controller links to nodes %v (active controller %d); it leads partitions %v", round, lone, rest, ctrl, rc.ledBy(lone))
		for _, o := range rest {
			rc.c.CutLink(lone, o, NetnsControllerPort)
		}
		if lone == ctrl {
			got := waitController(t, rc.c, rest...)
			rc.c.WaitFor(fmt.Sprintf("node %d stops acting as controller", lone), func(ctx context.Context) error {
				if len(activeControllers(ctx, rc.c, lone)) != 0 {
					return errors.New("still the active controller")
				}
				return nil
			})
			t.Logf("round %d: node %d is the active controller of the majority", round, got)
		}
		if conn != nil {
			// Fenced and replaced, the lone node still believes it leads
			// the side topic, and its replica fetches and clients flow.
			rc.waitMovedOff(rest[0], lone, side.topic)
			check := side.send(conn, lone, fmt.Sprintf("round %d, node %d fenced", round, lone),
				fmt.Sprintf("lone-%d-a", round), fmt.Sprintf("lone-%d-b", round))
			rc.netRound(fmt.Sprintf("round %d, node %d's controller links cut", round, lone), false)
			check()
		} else {
			time.Sleep(jitter(2*time.Second, 7*time.Second))
		}
		rc.c.Heal()
		rc.waitConverged()
		rc.netRound(fmt.Sprintf("after round %d", round), true)
	})
	side.finish()
}

// TestChaosNetOneWay cuts one direction of a link and heals it, in turn:
// the active controller's controller links to a follower voter, that
// voter's to the active controller, everything a partition's leader sends
// to one of its followers, and everything that follower sends to it.
func TestChaosNetOneWay(t *testing.T) {
	t.Parallel()
	rc := newNetChaos(t, "net-oneway")
	rc.startNet()
	chaosRounds(t, netOneWayRounds, func(round int) {
		// Rounds alternate between controller links and a leader's data
		// links, each direction in turn: 0 controller -> voter, 1 leader
		// -> follower, 2 voter -> controller, 3 follower -> leader.
		reverse := round%4 >= 2
		if round%2 == 0 {
			ctrl := waitController(t, rc.c, rc.c.IDs()...)
			f := rc.others(ctrl)[rand.IntN(2)]
			from, to := ctrl, f
			if reverse {
				from, to = f, ctrl
			}
			t.Logf("round %d: cut controller links one way, node %d -> node %d (active controller %d)", round, from, to, ctrl)
			rc.c.CutLinkOneWay(from, to, NetnsControllerPort)
		} else {
			p := int32(rand.IntN(replPartitions))
			l := rc.leaderOf(rc.topic, p)
			f := rc.others(l)[rand.IntN(2)]
			from, to := l, f
			if reverse {
				from, to = f, l
			}
			t.Logf("round %d: cut every link one way, node %d -> node %d (leader %d of partition %d and of %v)", round, from, to, l, p, rc.ledBy(l))
			rc.c.CutOneWay(from, to)
		}
		time.Sleep(jitter(3*time.Second, 8*time.Second))
		rc.c.Heal()
		rc.waitConverged()
		rc.netRound(fmt.Sprintf("after round %d", round), true)
	})
	rc.finish()
}

// TestChaosNetIsolatedLeader cuts a leader off from the other nodes
// while clients still reach it: the leader of a side topic that only
// this test writes, the group's coordinator or a transactional producer's
// coordinator, in turn. A produce (acks=all) sent to it on a connection
// opened before the cut is never acknowledged; the majority fences it and
// elects new leaders, the workload's clients carry on with them while the
// cut lasts, and once healed the old leader truncates what it alone
// appended: the side topic holds none of what was sent to it.
func TestChaosNetIsolatedLeader(t *testing.T) {
	t.Parallel()
	rc := newNetChaos(t, "net-isolated")
	side := rc.newStaleSide("net-isolated-side")
	rc.startNet()
	adm := kadm.NewClient(rc.c.Client())
	defer adm.Close()
	chaosRounds(t, netIsolatedRounds, func(round int) {
		side.marker(fmt.Sprintf("marker-%d", round))
		l, why := rc.leaderOf(side.topic, 0), "leader of "+side.topic+"-0"
		switch round % 3 {
		case 1:
			if g := adm.FindGroupCoordinators(testCtx(t, 10*time.Second), rc.w.cfg.Group)[rc.w.cfg.Group]; g.Err == nil {
				l, why = int(g.NodeID), "the group's coordinator"
			}
		case 2:
			id := fmt.Sprintf("%s-t%d", rc.topic, rand.IntN(2))
			if tc := adm.FindTxnCoordinators(testCtx(t, 10*time.Second), id)[id]; tc.Err == nil {
				l, why = int(tc.NodeID), "the coordinator of "+id
			}
		}
		conn := dialRaw(t, rc.c.Node(l).Addr())
		t.Logf("round %d: isolate node %d (%s; leader of %v) from the other nodes", round, l, why, rc.ledBy(l))
		rc.c.Isolate(l)
		cut := rc.now()
		check := side.send(conn, l, fmt.Sprintf("round %d, node %d cut off", round, l),
			fmt.Sprintf("isolated-%d-a", round), fmt.Sprintf("isolated-%d-b", round))
		seer := rc.others(l)[0]
		rc.waitMovedOff(seer, l, rc.topic, side.topic)
		t.Logf("round %d: node %d sees every partition led elsewhere %.1fs after the cut", round, seer, (rc.now() - cut).Seconds())
		// Clients move on while the cut lasts.
		rc.netRound(fmt.Sprintf("round %d, node %d cut off", round, l), false)
		check()
		rc.c.Heal()
		rc.waitConverged()
		rc.netRound(fmt.Sprintf("after round %d", round), true)
	})
	side.finish()
}
