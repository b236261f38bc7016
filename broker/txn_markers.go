package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Transaction markers, the coordinator's side (Kafka's
// TransactionMarkerChannelManager): once a transaction is PrepareCommit or
// PrepareAbort, a background task writes its marker to every partition in
// it — directly where this broker leads the partition, with
// WriteTxnMarkers to the leader elsewhere, grouped by leader — retrying
// with backoff on NOT_LEADER_OR_FOLLOWER, replication and network errors
// until the partition's leader takes the marker or the topic is gone. Only
// when every marker is written is the transaction recorded Complete*.
// Markers carry the coordinator epoch (the leader epoch of the
// transaction's __transaction_state partition here); a leader that has
// seen a newer coordinator for the producer refuses them, and the task
// then stops: the newer coordinator finishes the transaction. Kafka also
// batches the markers of many transactions into one request per leader;
// here each transaction sends its own.

// markerBackoff bounds the wait between rounds of marker writes.
const (
	markerBackoffMin = 50 * time.Millisecond
	markerBackoffMax = 2 * time.Second
)

// errMarkerFenced is returned when a partition leader refused a marker
// because a newer coordinator (or producer epoch) has been seen there.
var errMarkerFenced = errors.New("transaction marker fenced by a newer coordinator")

// startCompletion finishes e's Prepare* transaction tx in the background:
// markers first, then the Complete* record. Callers may hold e.mu.
func (b *Broker) startCompletion(e *txnEntry, tx *txn.Txn) {
	c := &b.txns
	c.mu.Lock()
	stop := c.stop
	if c.closed || stop == nil {
		c.mu.Unlock()
		return // the next start (or the next coordinator) finishes it
	}
	c.wg.Add(1)
	c.mu.Unlock()
	tx = tx.Clone()
	go func() {
		defer c.wg.Done()
		b.completeTxn(e, tx, stop)
	}()
}

// completeTxn writes tx's markers and then records it Complete*, unless
// the broker stops, the entry is unloaded or a newer coordinator fenced it.
func (b *Broker) completeTxn(e *txnEntry, tx *txn.Txn, stop <-chan struct{}) {
	if err := b.writeTxnMarkers(e, tx, stop); err != nil {
		if errors.Is(err, errMarkerFenced) {
			b.logger.Warn("transaction markers fenced; leaving the transaction to the newer coordinator",
				"transactional.id", tx.ID, "producer", tx.ProducerID, "coordinator.epoch", e.coordEpoch, "err", err)
		}
		return
	}
	wait := markerBackoffMin
	for b.recordComplete(e, tx) {
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, markerBackoffMax)
	}
}

// recordComplete persists the Complete* state of tx, still e's current
// transaction. It reports whether to try again.
func (b *Broker) recordComplete(e *txnEntry, tx *txn.Txn) (retry bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.txn
	if e.gone.Load() || cur == nil || cur.State != tx.State || cur.ProducerID != tx.ProducerID || cur.ProducerEpoch != tx.ProducerEpoch {
		return false
	}
	done := cur.Clone()
	done.Complete(time.Now().UnixMilli())
	switch kErr := b.persistTxn(e, done); kErr {
	case nil:
		e.txn = done
		return false
	case kerr.NotCoordinator:
		return false // the partition moved: its new leader completes it
	default:
		b.logger.Warn("recording a transaction complete failed; retrying", "transactional.id", tx.ID, "code", kErr.Message)
		return true
	}
}

// writeTxnMarkers writes tx's marker to each of its partitions. It returns
// nil once every one is written (or its topic is gone), errMarkerFenced
// when a leader refused it for a newer coordinator, and another error when
// it gave up because the broker stops or the entry was unloaded.
func (b *Broker) writeTxnMarkers(e *txnEntry, tx *txn.Txn, stop <-chan struct{}) error {
	marker := blog.ControlAbort
	if tx.Committing() {
		marker = blog.ControlCommit
	}
	pending := map[txn.TopicPartition]bool{}
	for tp := range tx.Partitions {
		pending[tp] = true
	}
	wait := markerBackoffMin
	for {
		if e.gone.Load() {
			return errors.New("coordinator partition unloaded")
		}
		remote := map[int32][]txn.TopicPartition{}
		for _, tp := range tx.SortedPartitions() {
			if !pending[tp] {
				continue
			}
			t := b.topicByName(tp.Topic)
			if !t.hasPartition(tp.Partition) {
				delete(pending, tp) // deleted since: nothing to mark
				continue
			}
			if p := t.partition(tp.Partition); p != nil {
				err := b.writeLocalMarker(p, tx, marker, e.coordEpoch)
				switch {
				case err == nil:
					delete(pending, tp)
				case errors.Is(err, txn.ErrCoordinatorFenced), errors.Is(err, txn.ErrInvalidEpoch):
					return fmt.Errorf("%w: %s-%d: %w", errMarkerFenced, tp.Topic, tp.Partition, err)
				default:
					b.logger.Debug("transaction marker not written; retrying", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
				continue
			}
			if l := t.placementOf(tp.Partition).Leader; l >= 0 && l != b.cfg.NodeID {
				remote[l] = append(remote[l], tp)
			}
		}
		if err := b.writeRemoteMarkers(remote, tx, e.coordEpoch, pending, stop); err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-stop:
			return errors.New("broker stopping")
		case <-time.After(wait):
		}
		wait = min(2*wait, markerBackoffMax)
	}
}

// writeLocalMarker writes a marker to a partition this broker leads and
// waits until it is replicated; on __consumer_offsets it then completes
// the producer's transactional offset commits.
func (b *Broker) writeLocalMarker(p *partition, tx *txn.Txn, marker int16, coordEpoch int32) error {
	batch := blog.EncodeControlBatch(tx.ProducerID, tx.ProducerEpoch, marker, coordEpoch, time.Now().UnixMilli())
	if err := b.appendReplicated(p, batch); err != nil {
		return err
	}
	if p.topic.name == offsetsTopic {
		b.completeTxnOffsets(tx.ProducerID, p.index, marker == blog.ControlCommit)
	}
	return nil
}

// writeRemoteMarkers sends the markers for partitions led by other
// brokers, one WriteTxnMarkers per leader in parallel, and deletes the
// written ones from pending.
func (b *Broker) writeRemoteMarkers(byLeader map[int32][]txn.TopicPartition, tx *txn.Txn, coordEpoch int32, pending map[txn.TopicPartition]bool, stop <-chan struct{}) error {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		fenced error
	)
	for leader, tps := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes, err := b.sendTxnMarkers(leader, tx, coordEpoch, tps, stop)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				b.logger.Debug("WriteTxnMarkers failed; retrying", "leader", leader, "err", err)
				return
			}
			for tp, code := range codes {
				switch code {
				case 0:
					delete(pending, tp)
				case kerr.TransactionCoordinatorFenced.Code, kerr.InvalidProducerEpoch.Code:
					fenced = fmt.Errorf("%w: %s-%d on broker %d: %s", errMarkerFenced, tp.Topic, tp.Partition, leader, kerr.ErrorForCode(code))
				default:
					b.logger.Debug("transaction marker refused; retrying", "leader", leader, "topic", tp.Topic,
						"partition", tp.Partition, "code", kerr.ErrorForCode(code))
				}
			}
		}()
	}
	wg.Wait()
	return fenced
}

// sendTxnMarkers asks broker leader to write tx's marker to tps and
// returns each partition's error code.
func (b *Broker) sendTxnMarkers(leader int32, tx *txn.Txn, coordEpoch int32, tps []txn.TopicPartition, stop <-chan struct{}) (map[txn.TopicPartition]int16, error) {
	cl, err := b.txns.peers.client(b, leader)
	if err != nil {
		return nil, err
	}
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = tx.ProducerID, tx.ProducerEpoch, tx.Committing(), coordEpoch
	for _, tp := range tps {
		if n := len(m.Topics); n == 0 || m.Topics[n-1].Topic != tp.Topic {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = tp.Topic
			m.Topics = append(m.Topics, mt)
		}
		mt := &m.Topics[len(m.Topics)-1]
		mt.Partitions = append(mt.Partitions, tp.Partition)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Markers = append(req.Markers, m)
	ctx, cancel := context.WithTimeout(context.Background(), replicatedAppendTimeout+10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[txn.TopicPartition]int16{}
	for _, rm := range kresp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				out[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	return out, nil
}

// peerClients are this broker's clients to the other brokers (for
// WriteTxnMarkers and AddPartitionsToTxn verification), one per broker,
// made again when its address changes.
type peerClients struct {
	mu     sync.Mutex
	byID   map[int32]*peerClient
	closed bool
}

type peerClient struct {
	addr string
	cl   *kgo.Client
}

// client returns the client for broker id on the inter-broker listener.
func (pc *peerClients) client(b *Broker, id int32) (*kgo.Client, error) {
	ep, ok := b.brokerEndpoint(id, b.interBrokerListener())
	if !ok {
		return nil, fmt.Errorf("broker %d has no %s endpoint", id, b.interBrokerListener())
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return nil, errors.New("broker closing")
	}
	if cur := pc.byID[id]; cur != nil {
		if cur.addr == addr {
			return cur.cl, nil
		}
		cur.cl.Close()
		delete(pc.byID, id)
	}
	// The inter-broker listener's security (TLS, SASL), as the replica
	// fetcher's: the peer authorizes markers and verification as this
	// broker's principal.
	opts, err := b.interBrokerClientOpts(b.interBrokerListener())
	if err != nil {
		return nil, fmt.Errorf("client to broker %d: %w", id, err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr), kgo.ClientID(fmt.Sprintf("gregor-broker-%d", b.cfg.NodeID)))...)
	if err != nil {
		return nil, fmt.Errorf("client to broker %d: %w", id, err)
	}
	if pc.byID == nil {
		pc.byID = map[int32]*peerClient{}
	}
	pc.byID[id] = &peerClient{addr: addr, cl: cl}
	return cl, nil
}

// close closes every client.
func (pc *peerClients) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	for id, c := range pc.byID {
		c.cl.Close()
		delete(pc.byID, id)
	}
}
