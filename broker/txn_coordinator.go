package broker

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Transactions: the broker's side of the transaction coordinator. The
// per-transaction logic is txn.Txn (a pure state machine); this file keeps
// the live transactions and answers the coordinator's requests, persisting
// every change as a record in the internal compacted topic
// __transaction_state (Kafka's key/value formats) before it is answered,
// acknowledged once replicated. Each broker coordinates the transactional
// IDs of the __transaction_state partitions it leads, loaded when it
// becomes their leader and dropped when it stops (txn_partitions.go); the
// markers of an ending transaction are written in the background to every
// partition's leader, on this broker or another (txn_markers.go); a
// partition leader checks a transactional produce against the coordinator
// (txn_verify.go).
//
// Lock order: Broker.mu before txnCoordinator.evMu; a transaction's own
// lock (txnEntry.mu) before txnCoordinator.mu, which is never held during
// I/O; a txnEntry.mu is held across its persist, then partition and log
// locks inside that.

const (
	transactionTopic          = "__transaction_state"
	defaultTxnPartitions      = 50
	defaultTxnMaxTimeoutMs    = 900000
	defaultTxnAbortCheckEvery = 10 * time.Second
	// txnLoadWait is how long a request waits for its coordinator
	// partition to finish loading before COORDINATOR_LOAD_IN_PROGRESS.
	txnLoadWait = 2 * time.Second
)

// txnEntry is one transactional ID and the lock that serialises its
// requests and I/O.
type txnEntry struct {
	mu  sync.Mutex
	txn *txn.Txn
	// partition is the ID's __transaction_state partition, and coordEpoch
	// that partition's leader epoch when the entry was loaded or created:
	// the coordinator epoch its markers carry and its writes expect.
	partition  int32
	coordEpoch int32
	// gone is set when the partition is unloaded (or loaded again): the
	// entry has left the maps and must not be written any more.
	gone atomic.Bool
}

// txnCoordinator is the live transaction state of this broker.
type txnCoordinator struct {
	mu   sync.Mutex
	byID map[string]*txnEntry
	// parts are the __transaction_state partitions this broker
	// coordinates, by index; loadedSig is closed and replaced whenever one
	// finishes loading.
	parts     map[int32]*txnPartition
	loadedSig chan struct{}
	closed    bool

	// Leadership changes of __transaction_state partitions, queued by
	// reconcile under Broker.mu for the loader (txn_partitions.go).
	evMu   sync.Mutex
	seen   map[int32]int32 // partition -> leader epoch, for those led here
	events []txnLeadership
	evWake chan struct{}

	// Clients to other brokers (txn_markers.go): markers and verification
	// apart, so a marker waiting for replication never holds up a produce's
	// verification behind it on one connection.
	peers, verifyPeers peerClients

	stop chan struct{}
	wg   sync.WaitGroup
}

func (b *Broker) txnPartitions() int32 {
	return int32(b.brokerIntSetting("transaction.state.log.num.partitions", defaultTxnPartitions))
}

func (b *Broker) txnMaxTimeoutMs() int64 {
	return b.brokerIntSetting("transaction.max.timeout.ms", defaultTxnMaxTimeoutMs)
}

// openTransactions starts the loader of the __transaction_state partitions
// this broker leads and the timeout loop. Called from New once topics are
// open.
func (b *Broker) openTransactions() error {
	c := &b.txns
	stop := make(chan struct{})
	c.mu.Lock()
	c.byID, c.parts = map[string]*txnEntry{}, map[int32]*txnPartition{}
	c.loadedSig, c.stop = make(chan struct{}), stop
	c.mu.Unlock()
	c.initEvents()
	interval := time.Duration(b.brokerIntSetting("transaction.abort.timed.out.transaction.cleanup.interval.ms", defaultTxnAbortCheckEvery.Milliseconds())) * time.Millisecond
	c.wg.Add(2)
	go b.txnTimeoutLoop(interval, stop)
	go b.txnLoadLoop(stop) // txn_partitions.go
	return nil
}

// txnNotCoordinator is NOT_COORDINATOR when this broker does not lead the
// transactional ID's partition of __transaction_state (or the topic does
// not exist here yet), COORDINATOR_LOAD_IN_PROGRESS while the partition
// loads (after a short wait), and nil when this broker coordinates the ID.
func (b *Broker) txnNotCoordinator(id string) *kerr.Error {
	_, kErr := b.txnCoordinating(id)
	return kErr
}

// txnCoordinating returns the loaded partition state of the transactional
// ID's coordinator partition when this broker coordinates it.
func (b *Broker) txnCoordinating(id string) (*txnPartition, *kerr.Error) {
	t := b.topicByName(transactionTopic)
	if t == nil {
		return nil, kerr.NotCoordinator
	}
	i := group.PartitionFor(id, t.numPartitions())
	c := &b.txns
	deadline := time.Now().Add(txnLoadWait)
	for {
		p := t.partition(i)
		if p == nil {
			return nil, kerr.NotCoordinator
		}
		c.mu.Lock()
		st, sig := c.parts[i], c.loadedSig
		ok := st != nil && st.loaded && st.epoch == p.leaderEpoch.Load()
		c.mu.Unlock()
		if ok {
			return st, nil
		}
		wait := time.Until(deadline)
		if wait <= 0 || sig == nil {
			return nil, kerr.CoordinatorLoadInProgress
		}
		select {
		case <-sig:
		case <-time.After(min(wait, 50*time.Millisecond)):
		}
	}
}

func (b *Broker) closeTransactions() {
	c := &b.txns
	// c.stop itself never changes once made: the loops read it without
	// the lock; c.closed says it was closed.
	c.mu.Lock()
	stop, wasClosed := c.stop, c.closed
	c.closed = true
	c.mu.Unlock()
	if stop != nil && !wasClosed {
		close(stop)
		c.wg.Wait()
	}
	c.peers.close()
	c.verifyPeers.close()
}

// txnReplication is the replication factor and min.insync.replicas that
// __transaction_state is created with: transaction.state.log.replication.factor
// (Kafka's default 3, capped at the live brokers while the cluster is
// smaller, so one node gets 1) and transaction.state.log.min.isr (Kafka's
// default 2, capped at the replication factor).
func (b *Broker) txnReplication() (int16, string) {
	b.mu.RLock()
	live := int64(len(b.meta.LiveBrokers()))
	b.mu.RUnlock()
	// An explicit setting is honoured as given: with fewer live brokers
	// the topic cannot be created yet (COORDINATOR_NOT_AVAILABLE), as in
	// Kafka.
	rf := b.brokerIntSetting("transaction.state.log.replication.factor", min(3, max(live, 1)))
	minISR := b.brokerIntSetting("transaction.state.log.min.isr", 2)
	minISR = max(min(minISR, rf), 1)
	return int16(rf), strconv.FormatInt(minISR, 10)
}

// txnTopic returns __transaction_state, creating it on first use.
func (b *Broker) txnTopic() (*topic, *kerr.Error) {
	if t := b.topicByName(transactionTopic); t != nil {
		return t, nil
	}
	compact, seg := "compact", "104857600"
	rf, minISR := b.txnReplication()
	_, kErr, msg := b.createTopic(topicSpec{
		name: transactionTopic, partitions: b.txnPartitions(), replicationFactor: rf, internal: true,
		configs: map[string]*string{"cleanup.policy": &compact, "segment.bytes": &seg, "min.insync.replicas": &minISR},
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

// persistTxn writes a new state of e's transaction to its
// __transaction_state partition and waits until it is replicated. The
// errors are Kafka's for a coordinator write: NOT_COORDINATOR when this
// broker no longer coordinates the ID (in the entry's epoch),
// COORDINATOR_NOT_AVAILABLE when the write was not replicated in time.
// Callers hold e.mu.
func (b *Broker) persistTxn(e *txnEntry, tx *txn.Txn) *kerr.Error {
	if e.gone.Load() {
		return kerr.NotCoordinator
	}
	p := b.topicByName(transactionTopic).partition(e.partition)
	if p == nil || p.leaderEpoch.Load() != e.coordEpoch {
		return kerr.NotCoordinator
	}
	batch := group.EncodeBatch([]group.Record{{Key: tx.MarshalKey(), Value: tx.MarshalValue()}}, time.Now().UnixMilli())
	err := b.appendReplicated(p, batch)
	switch {
	case err == nil:
		return nil
	case !p.leading.Load() || p.leaderEpoch.Load() != e.coordEpoch:
		return kerr.NotCoordinator
	case errors.Is(err, errNotReplicated):
		b.logger.Warn("transaction state not replicated", "transactional.id", tx.ID, "err", err)
		return kerr.CoordinatorNotAvailable
	default:
		b.logger.Error("persist transaction", "transactional.id", tx.ID, "err", err)
		if errors.Is(err, blog.ErrStorage) {
			return kerr.KafkaStorageError
		}
		return kerr.NotCoordinator
	}
}

// lookupTxn returns the entry of a transactional ID, or nil.
func (b *Broker) lookupTxn(id string) *txnEntry {
	c := &b.txns
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

// initTransactional handles InitProducerId with a transactional ID.
func (b *Broker) initTransactional(id string, timeoutMs int32, reqPID int64, reqEpoch int16) (int64, int16, *kerr.Error) {
	if timeoutMs <= 0 || int64(timeoutMs) > b.txnMaxTimeoutMs() {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	if _, kErr := b.txnTopic(); kErr != nil {
		return -1, -1, kErr
	}
	st, kErr := b.txnCoordinating(id)
	if kErr != nil {
		return -1, -1, kErr
	}
	now := time.Now().UnixMilli()
	c := &b.txns
	c.mu.Lock()
	if c.parts[st.index] != st {
		c.mu.Unlock()
		return -1, -1, kerr.CoordinatorLoadInProgress // loaded again meanwhile
	}
	e, ok := c.byID[id]
	if !ok {
		e = &txnEntry{partition: st.index, coordEpoch: st.epoch}
		c.byID[id] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone.Load() {
		return -1, -1, kerr.NotCoordinator
	}
	if e.txn == nil {
		pid, err := b.allocateProducerID()
		if err != nil {
			return -1, -1, kerr.KafkaStorageError
		}
		tx := txn.NewTxn(id, pid, timeoutMs, now)
		if kErr := b.persistTxn(e, tx); kErr != nil {
			return -1, -1, kErr
		}
		e.txn = tx
		return tx.ProducerID, tx.ProducerEpoch, nil
	}
	next := e.txn.Clone()
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
		// Fence the old producer: abort its open transaction with the new
		// epoch, in the background; the producer retries (Kafka answers
		// CONCURRENT_TRANSACTIONS too) and gets its epoch once the abort
		// is complete.
		next.BeginAbort(now)
		if kErr := b.persistTxn(e, next); kErr != nil {
			return -1, -1, kErr
		}
		e.txn = next
		b.startCompletion(e, next) // txn_markers.go
		return -1, -1, kerr.ConcurrentTransactions
	}
	if kErr := b.persistTxn(e, next); kErr != nil {
		return -1, -1, kErr
	}
	e.txn = next
	return next.ProducerID, next.ProducerEpoch, nil
}

// withProducer runs fn on a transactional ID's entry, locked, once the
// request's producer ID and epoch have been checked against it.
func (b *Broker) withProducer(id string, pid int64, epoch int16, fenced *kerr.Error, fn func(e *txnEntry) *kerr.Error) *kerr.Error {
	if kErr := b.txnNotCoordinator(id); kErr != nil {
		return kErr
	}
	e := b.lookupTxn(id)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone.Load() {
		return kerr.NotCoordinator
	}
	if e.txn == nil {
		return kerr.InvalidProducerIDMapping
	}
	if kErr := e.txn.CheckProducer(pid, epoch, fenced); kErr != nil {
		return kErr
	}
	return fn(e)
}

// fencedError is the error a transactional request of r.version answers
// a fenced producer with: PRODUCER_FENCED from version since (KIP-588),
// INVALID_PRODUCER_EPOCH before it, which older clients know.
func fencedError(r *request, since int16) *kerr.Error {
	if r.version < since {
		return kerr.InvalidProducerEpoch
	}
	return kerr.ProducerFenced
}

// endTxn handles EndTxn.
func (b *Broker) endTxn(id string, pid int64, epoch int16, commit bool, fenced *kerr.Error) *kerr.Error {
	return b.withProducer(id, pid, epoch, fenced, func(e *txnEntry) *kerr.Error {
		return b.endTxnLocked(e, commit)
	})
}

// endTxnLocked records PrepareCommit or PrepareAbort and answers once that
// is replicated; the markers follow in the background, and the producer's
// next requests get CONCURRENT_TRANSACTIONS until they are all written and
// the transaction is Complete*, as in Kafka.
func (b *Broker) endTxnLocked(e *txnEntry, commit bool) *kerr.Error {
	now := time.Now().UnixMilli()
	next := e.txn.Clone()
	d, kErr := next.End(commit, now)
	if kErr != nil || !d.WriteMarkers {
		return kErr
	}
	if kErr := b.persistTxn(e, next); kErr != nil {
		return kErr
	}
	e.txn = next
	b.startCompletion(e, next) // txn_markers.go
	return nil
}

// addToTxn adds partitions to a producer's transaction, starting it.
func (b *Broker) addToTxn(id string, pid int64, epoch int16, parts []txn.TopicPartition, fenced *kerr.Error) *kerr.Error {
	return b.withProducer(id, pid, epoch, fenced, func(e *txnEntry) *kerr.Error {
		return b.addToTxnLocked(e, parts)
	})
}

func (b *Broker) addToTxnLocked(e *txnEntry, parts []txn.TopicPartition) *kerr.Error {
	next := e.txn.Clone()
	if !next.AddPartitions(parts, time.Now().UnixMilli()) {
		return nil
	}
	if kErr := b.persistTxn(e, next); kErr != nil {
		return kErr
	}
	e.txn = next
	return nil
}

// txnTimeoutLoop aborts transactions that outlive their timeout, bumping
// the epoch so the timed-out producer is fenced.
func (b *Broker) txnTimeoutLoop(every time.Duration, stop <-chan struct{}) {
	defer b.txns.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			b.abortTimedOut()
		}
	}
}

// abortTimedOut aborts the timed-out transactions among those this broker
// coordinates (the loaded ones; a partition that moved took its
// transactions with it, and its new leader aborts them).
func (b *Broker) abortTimedOut() {
	now := time.Now().UnixMilli()
	for _, e := range b.txnEntries() {
		e.mu.Lock()
		if e.txn != nil && !e.gone.Load() && e.txn.TimedOut(now) {
			next := e.txn.Clone()
			next.PrevProducerID, next.PrevEpoch = next.ProducerID, next.ProducerEpoch
			if next.ProducerEpoch < 1<<15-2 {
				next.ProducerEpoch++
			}
			next.BeginAbort(now)
			if kErr := b.persistTxn(e, next); kErr == nil {
				e.txn = next
				b.startCompletion(e, next)
				b.logger.Info("aborting timed-out transaction", "transactional.id", next.ID, "producer", next.ProducerID, "timeout.ms", next.TimeoutMs)
			}
		}
		e.mu.Unlock()
	}
}

// txnEntries returns every loaded entry.
func (b *Broker) txnEntries() []*txnEntry {
	c := &b.txns
	c.mu.Lock()
	defer c.mu.Unlock()
	entries := make([]*txnEntry, 0, len(c.byID))
	for _, e := range c.byID {
		entries = append(entries, e)
	}
	return entries
}

// listTxns returns copies of every transaction this broker coordinates.
func (b *Broker) listTxns() []*txn.Txn {
	entries := b.txnEntries()
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
	gc := b.groups.Load()
	if gc == nil {
		return
	}
	gc.CompleteTxnOffsets(pid, offsetsPartition, commit)
}
