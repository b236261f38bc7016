package broker

import (
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Transactions: the broker's side of the transaction coordinator. The
// per-transaction logic is txn.Txn (a pure state machine); this file keeps
// the live transactions, persists them as records in the internal compacted
// topic __transaction_state (Kafka's key/value formats), writes the
// commit/abort markers, aborts transactions that outlive their timeout, and
// finishes half-done ones at startup.
//
// Lock order: txnCoordinator.mu (the maps) is never held during I/O; a
// transaction's own lock (txnEntry.mu) is held across its persist and
// marker writes, then partition and log locks inside those.

const (
	transactionTopic          = "__transaction_state"
	defaultTxnPartitions      = 50
	defaultTxnMaxTimeoutMs    = 900000
	defaultTxnAbortCheckEvery = 10 * time.Second
)

// txnEntry is one transactional ID and the lock that serialises its
// requests and I/O.
type txnEntry struct {
	mu  sync.Mutex
	txn *txn.Txn
}

type txnCoordinator struct {
	mu      sync.Mutex
	byID    map[string]*txnEntry
	byPID   map[int64]*txnEntry
	started bool

	stop chan struct{}
	wg   sync.WaitGroup
}

func (b *Broker) txnPartitions() int32 {
	return int32(b.brokerIntSetting("transaction.state.log.num.partitions", defaultTxnPartitions))
}

func (b *Broker) txnMaxTimeoutMs() int64 {
	return b.brokerIntSetting("transaction.max.timeout.ms", defaultTxnMaxTimeoutMs)
}

// openTransactions loads __transaction_state (when it exists), completes
// transactions that were writing markers when the broker stopped, and
// starts the timeout loop. Called from New once topics are open.
func (b *Broker) openTransactions() error {
	c := &b.txns
	c.byID, c.byPID, c.stop = map[string]*txnEntry{}, map[int64]*txnEntry{}, make(chan struct{})
	if t := b.topics[transactionTopic]; t != nil {
		if err := b.loadTransactions(t); err != nil {
			return err
		}
		c.started = true
	}
	now := time.Now().UnixMilli()
	for _, e := range c.byID {
		if e.txn.InProgress() {
			if err := b.finishMarkers(e, now); err != nil {
				b.logger.Error("complete transaction at startup", "transactional.id", e.txn.ID, "err", err)
			}
		}
	}
	interval := time.Duration(b.brokerIntSetting("transaction.abort.timed.out.transaction.cleanup.interval.ms", defaultTxnAbortCheckEvery.Milliseconds())) * time.Millisecond
	c.wg.Add(1)
	go b.txnTimeoutLoop(interval)
	return nil
}

func (b *Broker) closeTransactions() {
	c := &b.txns
	if c.stop != nil {
		close(c.stop)
		c.wg.Wait()
		c.stop = nil
	}
}

// loadTransactions replays __transaction_state: the last record per
// transactional ID wins.
func (b *Broker) loadTransactions(t *topic) error {
	for _, p := range t.partitionList() {
		err := replayPartition(p, func(batch []byte) error {
			for pos := 0; pos < len(batch); {
				recs, n, err := group.DecodeBatch(batch[pos:])
				if err != nil {
					return err
				}
				pos += n
				for _, r := range recs {
					tx, err := txn.UnmarshalTxn(r.Key, r.Value)
					if err != nil {
						b.logger.Warn("skipping unreadable transaction record", "partition", p.index, "err", err)
						continue
					}
					b.installTxn(tx)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("load %s-%d: %w", transactionTopic, p.index, err)
		}
	}
	return nil
}

// installTxn puts a loaded transaction in the maps (nil removes it).
func (b *Broker) installTxn(tx *txn.Txn) {
	c := &b.txns
	if tx == nil {
		return
	}
	if old, ok := c.byID[tx.ID]; ok {
		delete(c.byPID, old.txn.ProducerID)
		old.txn = tx
		c.byPID[tx.ProducerID] = old
		return
	}
	e := &txnEntry{txn: tx}
	c.byID[tx.ID] = e
	c.byPID[tx.ProducerID] = e
}

// txnTopic returns __transaction_state, creating it on first use.
func (b *Broker) txnTopic() (*topic, *kerr.Error) {
	if t := b.topicByName(transactionTopic); t != nil {
		return t, nil
	}
	compact, seg := "compact", "104857600"
	_, kErr, msg := b.createTopic(topicSpec{
		name: transactionTopic, partitions: b.txnPartitions(), replicationFactor: 1, internal: true,
		configs: map[string]*string{"cleanup.policy": &compact, "segment.bytes": &seg},
	}, false)
	if kErr != nil && kErr != kerr.TopicAlreadyExists {
		b.logger.Error("cannot create "+transactionTopic, "code", kErr.Message, "why", msg)
		return nil, kerr.CoordinatorNotAvailable
	}
	t := b.topicByName(transactionTopic)
	if t == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	return t, nil
}

// persistTxn writes the transaction's current state to __transaction_state.
func (b *Broker) persistTxn(tx *txn.Txn) error {
	t, kErr := b.txnTopic()
	if kErr != nil {
		return kErr
	}
	p := t.partition(group.PartitionFor(tx.ID, int32(len(t.partitionList()))))
	batch := group.EncodeBatch([]group.Record{{Key: tx.MarshalKey(), Value: tx.MarshalValue()}}, time.Now().UnixMilli())
	return b.appendInternal(p, batch)
}

// lookupTxn returns the entry of a transactional ID, or nil.
func (b *Broker) lookupTxn(id string) *txnEntry {
	c := &b.txns
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

// txnForProducer returns the entry owning a producer ID, or nil.
func (b *Broker) txnForProducer(pid int64) *txnEntry {
	c := &b.txns
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byPID[pid]
}

// initTransactional handles InitProducerId with a transactional ID.
func (b *Broker) initTransactional(id string, timeoutMs int32, reqPID int64, reqEpoch int16) (int64, int16, *kerr.Error) {
	if timeoutMs <= 0 || int64(timeoutMs) > b.txnMaxTimeoutMs() {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	if _, kErr := b.txnTopic(); kErr != nil {
		return -1, -1, kErr
	}
	now := time.Now().UnixMilli()
	c := &b.txns
	c.mu.Lock()
	e, ok := c.byID[id]
	if !ok {
		e = &txnEntry{}
		c.byID[id] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.txn == nil {
		pid, err := b.allocateProducerID()
		if err != nil {
			return -1, -1, kerr.KafkaStorageError
		}
		tx := txn.NewTxn(id, pid, timeoutMs, now)
		if err := b.persistTxn(tx); err != nil {
			b.logger.Error("persist transaction", "transactional.id", id, "err", err)
			return -1, -1, kerr.KafkaStorageError
		}
		e.txn = tx
		b.indexProducer(e, -1)
		return tx.ProducerID, tx.ProducerEpoch, nil
	}
	next := e.txn.Clone()
	oldPID := next.ProducerID
	d, kErr := next.Init(reqPID, reqEpoch, timeoutMs, now)
	if kErr != nil {
		return -1, -1, kErr
	}
	if d.NeedNewID {
		pid, err := b.allocateProducerID()
		if err != nil {
			return -1, -1, kerr.KafkaStorageError
		}
		next.ResetProducerID(pid)
	}
	if d.AbortFirst {
		// Fence the old producer: abort its open transaction with the new epoch.
		next.BeginAbort(now)
		if err := b.persistTxn(next); err != nil {
			return -1, -1, kerr.KafkaStorageError
		}
		e.txn = next
		if err := b.finishMarkers(e, now); err != nil {
			b.logger.Error("abort fenced transaction", "transactional.id", id, "err", err)
			return -1, -1, kerr.ConcurrentTransactions
		}
		next = e.txn.Clone()
		next.State = txn.StateEmpty
	}
	if err := b.persistTxn(next); err != nil {
		return -1, -1, kerr.KafkaStorageError
	}
	e.txn = next
	b.indexProducer(e, oldPID)
	return next.ProducerID, next.ProducerEpoch, nil
}

func (b *Broker) indexProducer(e *txnEntry, oldPID int64) {
	c := &b.txns
	c.mu.Lock()
	if oldPID >= 0 && oldPID != e.txn.ProducerID && c.byPID[oldPID] == e {
		delete(c.byPID, oldPID)
	}
	c.byPID[e.txn.ProducerID] = e
	c.mu.Unlock()
}

// finishMarkers writes the markers of a Prepare* transaction to each of its
// partitions, then records it Complete*. Callers hold e.mu.
func (b *Broker) finishMarkers(e *txnEntry, now int64) error {
	tx := e.txn
	marker := blog.ControlAbort
	if tx.Committing() {
		marker = blog.ControlCommit
	}
	for _, tp := range tx.SortedPartitions() {
		p := b.topicByName(tp.Topic).partition(tp.Partition)
		if p == nil {
			continue // deleted since: nothing to mark
		}
		batch := blog.EncodeControlBatch(tx.ProducerID, tx.ProducerEpoch, marker, 0, now)
		if err := b.appendInternal(p, batch); err != nil {
			return err
		}
		if tp.Topic == offsetsTopic {
			b.completeTxnOffsets(tx.ProducerID, tp.Partition, marker == blog.ControlCommit)
		}
	}
	done := tx.Clone()
	done.Complete(now)
	if err := b.persistTxn(done); err != nil {
		return err
	}
	e.txn = done
	return nil
}

// withProducer runs fn on a transactional ID's entry, locked, once the
// request's producer ID and epoch have been checked against it.
func (b *Broker) withProducer(id string, pid int64, epoch int16, fenced *kerr.Error, fn func(e *txnEntry) *kerr.Error) *kerr.Error {
	e := b.lookupTxn(id)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.txn == nil {
		return kerr.InvalidProducerIDMapping
	}
	if kErr := e.txn.CheckProducer(pid, epoch, fenced); kErr != nil {
		return kErr
	}
	return fn(e)
}

// endTxn handles EndTxn.
func (b *Broker) endTxn(id string, pid int64, epoch int16, commit bool, fenced *kerr.Error) *kerr.Error {
	return b.withProducer(id, pid, epoch, fenced, func(e *txnEntry) *kerr.Error {
		return b.endTxnLocked(e, commit)
	})
}

func (b *Broker) endTxnLocked(e *txnEntry, commit bool) *kerr.Error {
	id := e.txn.ID
	now := time.Now().UnixMilli()
	next := e.txn.Clone()
	d, kErr := next.End(commit, now)
	if kErr != nil || !d.WriteMarkers {
		return kErr
	}
	if err := b.persistTxn(next); err != nil {
		b.logger.Error("persist transaction", "transactional.id", id, "err", err)
		return kerr.KafkaStorageError
	}
	e.txn = next
	if err := b.finishMarkers(e, now); err != nil {
		b.logger.Error("write transaction markers", "transactional.id", id, "err", err)
		return kerr.KafkaStorageError
	}
	return nil
}

// addToTxn adds partitions to a producer's transaction, starting it.
func (b *Broker) addToTxn(id string, pid int64, epoch int16, parts []txn.TopicPartition, fenced *kerr.Error) *kerr.Error {
	return b.withProducer(id, pid, epoch, fenced, func(e *txnEntry) *kerr.Error {
		return b.addToTxnLocked(e, parts)
	})
}

func (b *Broker) addToTxnLocked(e *txnEntry, parts []txn.TopicPartition) *kerr.Error {
	id := e.txn.ID
	next := e.txn.Clone()
	if !next.AddPartitions(parts, time.Now().UnixMilli()) {
		return nil
	}
	if err := b.persistTxn(next); err != nil {
		b.logger.Error("persist transaction", "transactional.id", id, "err", err)
		return kerr.KafkaStorageError
	}
	e.txn = next
	return nil
}

// verifyTxnProduce checks that a transactional batch goes to a partition
// that is part of the producer's ongoing transaction (KIP-890), so a stray
// write can never pin the last stable offset.
func (b *Broker) verifyTxnProduce(pid int64, epoch int16, p *partition) *kerr.Error {
	e := b.txnForProducer(pid)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := e.txn
	if tx == nil || tx.ProducerID != pid {
		return kerr.InvalidProducerIDMapping
	}
	if epoch < tx.ProducerEpoch {
		return kerr.InvalidProducerEpoch
	}
	if !tx.Has(txn.TopicPartition{Topic: p.topic.name, Partition: p.index}) {
		return kerr.InvalidTxnState
	}
	return nil
}

// txnTimeoutLoop aborts transactions that outlive their timeout, bumping
// the epoch so the timed-out producer is fenced.
func (b *Broker) txnTimeoutLoop(every time.Duration) {
	defer b.txns.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-b.txns.stop:
			return
		case <-tick.C:
			b.abortTimedOut()
		}
	}
}

func (b *Broker) abortTimedOut() {
	c := &b.txns
	c.mu.Lock()
	entries := make([]*txnEntry, 0, len(c.byID))
	for _, e := range c.byID {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	now := time.Now().UnixMilli()
	for _, e := range entries {
		e.mu.Lock()
		if e.txn != nil && e.txn.TimedOut(now) {
			next := e.txn.Clone()
			next.PrevProducerID, next.PrevEpoch = next.ProducerID, next.ProducerEpoch
			if next.ProducerEpoch < 1<<15-2 {
				next.ProducerEpoch++
			}
			next.BeginAbort(now)
			if err := b.persistTxn(next); err == nil {
				e.txn = next
				if err := b.finishMarkers(e, now); err != nil {
					b.logger.Error("abort timed-out transaction", "transactional.id", next.ID, "err", err)
				} else {
					b.logger.Info("aborted timed-out transaction", "transactional.id", next.ID, "producer", next.ProducerID, "timeout.ms", next.TimeoutMs)
				}
			}
		}
		e.mu.Unlock()
	}
}

// listTxns returns copies of every transaction.
func (b *Broker) listTxns() []*txn.Txn {
	c := &b.txns
	c.mu.Lock()
	entries := make([]*txnEntry, 0, len(c.byID))
	for _, e := range c.byID {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	out := make([]*txn.Txn, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		if e.txn != nil {
			out = append(out, e.txn.Clone())
		}
		e.mu.Unlock()
	}
	return out
}

// completeTxnOffsets applies or drops a producer's pending transactional
// offset commits on a __consumer_offsets partition.
func (b *Broker) completeTxnOffsets(pid int64, offsetsPartition int32, commit bool) {
	if b.groups == nil {
		return
	}
	b.groups.CompleteTxnOffsets(pid, offsetsPartition, commit)
}
