package broker

import (
	"sync"

	"github.com/gregorhq/gregor/broker/group"
)

// Coordinators follow their internal topics' leadership (Kafka's
// onElection/onResignation): the broker that leads a partition of
// __consumer_offsets runs the groups stored there; when it stops leading
// one, it drops those groups from memory, and the new leader reads them
// back from the replicated log.

// groupLeads is what the group coordinator last did for each
// __consumer_offsets partition: the leader epoch it loaded the partition
// in, for those it leads. mu serialises the loads and unloads.
type groupLeads struct {
	mu     sync.Mutex
	epochs map[int32]int32
}

// onLeadershipChange is called after a partition's leadership was
// (re)applied from the metadata; wasLeading and wasEpoch are the
// partition's leadership before. It must not block: callers hold b.mu, so
// the coordinators act in the background. A new leader epoch of a
// partition this node led before and leads again counts as a resignation
// and an election, as the transaction coordinator's does
// (txnLeadershipLocked): the node may have lost leadership and regained it
// between two metadata applications (a snapshot, a batch of records), and
// the groups it holds in memory are then those of the old epoch, without
// what the leaders in between wrote, or with what it wrote and they
// truncated.
func (b *Broker) onLeadershipChange(p *partition, wasLeading bool, wasEpoch int32) {
	leading, epoch := p.leading.Load(), p.leaderEpoch.Load()
	gc := b.groups.Load()
	if p.topic.name != offsetsTopic || gc == nil || (wasLeading == leading && (!leading || wasEpoch == epoch)) {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.syncGroupLeadership(gc, p)
	}()
}

// syncGroupLeadership brings the group coordinator's view of partition p
// to p's current leadership: loaded in the current epoch while this node
// leads it, unloaded otherwise. Each call acts on the leadership as it is
// when it runs, under groupLeads.mu, so calls that run out of order (one
// goroutine per change) still end with the latest one's.
func (b *Broker) syncGroupLeadership(gc *group.Coordinator, p *partition) {
	gl := &b.groupLeads
	gl.mu.Lock()
	defer gl.mu.Unlock()
	if gl.epochs == nil {
		gl.epochs = map[int32]int32{}
	}
	leading, epoch := p.leading.Load(), p.leaderEpoch.Load()
	last, had := gl.epochs[p.index]
	switch {
	case leading && had && last == epoch:
		return
	case leading:
		// Elected, or led an earlier epoch: drop whatever is in memory (a
		// read-back begun before, the old epoch's groups) and read the log
		// back as it is now.
		gc.Unload(p.index)
		gl.epochs[p.index] = epoch
		gc.Load(p.index)
	default:
		delete(gl.epochs, p.index)
		gc.Unload(p.index)
	}
}

// internalTopicRF is the replication factor of an internal topic from its
// setting (offsets.topic.replication.factor,
// transaction.state.log.replication.factor): Kafka's 3 in a cluster, 1 on a
// single node, and never more than the live brokers, so a small cluster
// still gets its coordinators.
func (b *Broker) internalTopicRF(setting string) int16 {
	def := int64(1)
	if len(b.cfg.Cluster.Voters) > 1 {
		def = 3
	}
	rf := b.brokerIntSetting(setting, def)
	b.mu.RLock()
	live := int64(len(b.meta.LiveBrokers()))
	b.mu.RUnlock()
	return int16(max(min(rf, live), 1))
}
