package broker

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Coordinator partitions (Kafka's onElection/onResignation for the
// transaction coordinator): a broker coordinates the transactional IDs of
// the __transaction_state partitions it leads. When it becomes a
// partition's leader it loads the partition's transactions from its
// (replicated) log — requests for them get COORDINATOR_LOAD_IN_PROGRESS
// meanwhile — and then finishes the ones that were writing their markers
// (Prepare*); when it stops leading one it drops its transactions from
// memory, and requests for them get NOT_COORDINATOR. The coordinator epoch
// is the partition's leader epoch.
//
// Leadership changes arrive from reconcile, under Broker.mu, through
// txnLeadershipLocked; one loader goroutine applies them in order once the
// broker is ready (caught up with the metadata and unfenced).

// txnPartition is a __transaction_state partition this broker
// coordinates (guarded by txnCoordinator.mu).
type txnPartition struct {
	index  int32
	epoch  int32 // the partition's leader epoch: the coordinator epoch
	loaded bool
}

// txnLeadership is one leadership change of a __transaction_state
// partition on this broker.
type txnLeadership struct {
	p     *partition
	lead  bool
	epoch int32
}

func (c *txnCoordinator) initEvents() {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.seen == nil {
		c.seen = map[int32]int32{}
	}
	if c.evWake == nil {
		c.evWake = make(chan struct{}, 1)
	}
}

// txnLeadershipLocked notes the leadership of p, just set from the
// metadata by partition.follow, for the loader when p is a partition of
// __transaction_state and its leadership (or leader epoch) changed.
// Callers hold b.mu; it does no I/O.
func (b *Broker) txnLeadershipLocked(t *topic, p *partition) {
	if t.name != transactionTopic {
		return
	}
	c := &b.txns
	c.initEvents()
	lead, epoch := p.leading.Load(), p.leaderEpoch.Load()
	c.evMu.Lock()
	old, had := c.seen[p.index]
	changed := lead != had || (lead && old != epoch)
	if lead {
		c.seen[p.index] = epoch
	} else {
		delete(c.seen, p.index)
	}
	if changed {
		c.events = append(c.events, txnLeadership{p: p, lead: lead, epoch: epoch})
	}
	c.evMu.Unlock()
	if changed {
		select {
		case c.evWake <- struct{}{}:
		default:
		}
	}
}

// txnLoadLoop applies the leadership changes in order: load on election,
// unload on resignation. Only the last change of a partition in a batch
// counts (a load replaces whatever was loaded before).
func (b *Broker) txnLoadLoop(stop <-chan struct{}) {
	c := &b.txns
	defer c.wg.Done()
	select {
	case <-b.ready:
	case <-stop:
		return
	}
	for {
		c.evMu.Lock()
		evs := c.events
		c.events = nil
		c.evMu.Unlock()
		last := map[int32]txnLeadership{}
		var order []int32
		for _, ev := range evs {
			if _, ok := last[ev.p.index]; !ok {
				order = append(order, ev.p.index)
			}
			last[ev.p.index] = ev
		}
		for _, i := range order {
			select {
			case <-stop:
				return
			default:
			}
			if ev := last[i]; ev.lead {
				b.loadTxnPartition(ev.p, ev.epoch, stop)
			} else {
				b.unloadTxnPartition(i)
			}
		}
		select {
		case <-stop:
			return
		case <-c.evWake:
		}
	}
}

// loadTxnPartition makes this broker the coordinator of p's transactional
// IDs in leader epoch epoch: it reads them from the log and starts
// finishing those that were writing markers.
func (b *Broker) loadTxnPartition(p *partition, epoch int32, stop <-chan struct{}) {
	c := &b.txns
	st := &txnPartition{index: p.index, epoch: epoch}
	c.mu.Lock()
	c.parts[p.index] = st
	c.dropPartitionLocked(p.index)
	c.mu.Unlock()
	started := time.Now()
	var txns map[string]*txn.Txn
	for {
		if !p.leading.Load() || p.leaderEpoch.Load() != epoch {
			return // a newer change is queued
		}
		var err error
		if txns, err = readTxnPartition(p); err == nil {
			break
		}
		b.logger.Error("loading transactions failed; retrying", "partition", p.index, "err", err)
		select {
		case <-stop:
			return
		case <-time.After(time.Second):
		}
	}
	type pending struct {
		e  *txnEntry
		tx *txn.Txn
	}
	var finish []pending
	c.mu.Lock()
	if c.parts[p.index] != st {
		c.mu.Unlock()
		return
	}
	for id, tx := range txns {
		e := &txnEntry{txn: tx, partition: p.index, coordEpoch: epoch}
		c.byID[id] = e
		if tx.InProgress() {
			finish = append(finish, pending{e, tx})
		}
	}
	st.loaded = true
	close(c.loadedSig)
	c.loadedSig = make(chan struct{})
	c.mu.Unlock()
	for _, f := range finish {
		b.startCompletion(f.e, f.tx) // txn_markers.go
	}
	if len(txns) > 0 {
		b.logger.Info("loaded transactions", "partition", p.index, "coordinator.epoch", epoch,
			"transactions", len(txns), "completing", len(finish), "took", time.Since(started).Round(time.Millisecond))
	}
}

// unloadTxnPartition drops the transactions of a partition this broker
// no longer leads.
func (b *Broker) unloadTxnPartition(i int32) {
	c := &b.txns
	c.mu.Lock()
	_, had := c.parts[i]
	delete(c.parts, i)
	n := c.dropPartitionLocked(i)
	c.mu.Unlock()
	if had && n > 0 {
		b.logger.Info("unloaded transactions", "partition", i, "transactions", n)
	}
}

// dropPartitionLocked removes the entries of partition i from the maps
// and marks them gone. Callers hold c.mu.
func (c *txnCoordinator) dropPartitionLocked(i int32) int {
	n := 0
	for id, e := range c.byID {
		if e.partition == i {
			e.gone.Store(true)
			delete(c.byID, id)
			n++
		}
	}
	return n
}

// readTxnPartition reads a __transaction_state partition from its log
// start to its log end (a new leader's log is the partition's truth, as
// Kafka loads it): the last record of each transactional ID wins, a
// tombstone removes it.
func readTxnPartition(p *partition) (map[string]*txn.Txn, error) {
	out := map[string]*txn.Txn{}
	end := p.log.LogEndOffset()
	for off := p.log.LogStartOffset(); off < end; {
		data, err := p.log.Read(off, 1<<20, end, true)
		if err != nil {
			return nil, fmt.Errorf("read %s-%d at %d: %w", transactionTopic, p.index, off, err)
		}
		if len(data) == 0 {
			break
		}
		next := off
		for pos := 0; pos < len(data); {
			h, err := blog.ParseBatchHeader(data[pos:])
			if err != nil || h.Size() > len(data)-pos {
				return nil, fmt.Errorf("torn batch in %s-%d at %d: %w", transactionTopic, p.index, off, err)
			}
			next = h.NextOffset()
			if !h.IsControl() {
				recs, _, err := group.DecodeBatch(data[pos : pos+h.Size()])
				if err != nil {
					return nil, fmt.Errorf("decode %s-%d at %d: %w", transactionTopic, p.index, h.BaseOffset, err)
				}
				for _, r := range recs {
					applyTxnRecord(out, r)
				}
			}
			pos += h.Size()
		}
		if next <= off {
			return nil, fmt.Errorf("no progress reading %s-%d at %d", transactionTopic, p.index, off)
		}
		off = next
	}
	return out, nil
}

// applyTxnRecord applies one __transaction_state record; unreadable ones
// are skipped (a newer format, say), as Kafka skips unknown versions.
func applyTxnRecord(out map[string]*txn.Txn, r group.Record) {
	tx, err := txn.UnmarshalTxn(r.Key, r.Value)
	if err != nil {
		return
	}
	if tx != nil {
		out[tx.ID] = tx
		return
	}
	var k kmsg.TxnMetadataKey
	if k.ReadFrom(r.Key) == nil {
		delete(out, k.TransactionalID)
	}
}
