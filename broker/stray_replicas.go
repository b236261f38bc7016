package broker

import (
	"os"
	"strconv"
	"strings"
)

// deleteStrayReplicasLocked deletes, once per start, the local copies of
// partitions the metadata no longer places on this node: a reassignment
// that completed while it was down moved them away, and no record will
// reach it to delete them (Kafka's stray replicas). It runs when this
// incarnation is first serving: the controller unfenced it only once it
// had applied the metadata up to its own registration, so a move that
// completed before it came back is in the metadata it reads. Callers hold
// b.mu.
func (b *Broker) deleteStrayReplicasLocked() {
	if b.strayChecked || !b.servingLocked() {
		return
	}
	b.strayChecked = true
	entries, err := os.ReadDir(b.logs.Dir())
	if err != nil {
		b.logger.Warn("cannot list the data directory for stray replicas", "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		n, err := strconv.ParseInt(e.Name()[i+1:], 10, 32)
		if err != nil {
			continue // not <topic>-<partition> (a deleted log's dir, say)
		}
		t := b.topics[e.Name()[:i]]
		if t == nil || int32(n) >= t.numPartitions() {
			continue
		}
		ps := t.placementOf(int32(n))
		if len(ps.Replicas) == 0 || ps.Hosts(b.cfg.NodeID) || t.allPartitions()[n] != nil {
			continue
		}
		if err := b.logs.DeleteLog(t.name, int32(n)); err != nil {
			b.logger.Warn("delete stray replica", "topic", t.name, "partition", n, "err", err)
			continue
		}
		b.logger.Info("deleted a stray replica: the partition moved off this broker while it was down", "topic", t.name, "partition", n)
	}
}
