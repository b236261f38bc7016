package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Transaction verification (KIP-890 part 1): before a partition leader
// appends a transactional batch that would start a transaction on the
// partition, it asks the producer's transaction coordinator whether the
// partition is part of the producer's ongoing transaction — directly when
// this broker coordinates the transactional ID, else with
// AddPartitionsToTxn v4 (VerifyOnly), one request for all the partitions
// of a produce. A stray or late write can so never open a transaction
// that nothing will end (a hanging transaction pinning the last stable
// offset). Batches of a transaction already open on the partition need no
// check. TxnOffsetCommit is verified the same way on the group
// coordinator's broker.

// errCoordinatorUnreachable marks a verification that could not reach
// the coordinator.
var errCoordinatorUnreachable = errors.New("transaction coordinator unreachable")

// verifyTimeout bounds one verification round trip.
const verifyTimeout = 5 * time.Second

// txnCheck is one partition to verify for a producer.
type txnCheck struct {
	p     *partition
	pid   int64
	epoch int16
}

// txnProduceVerdicts verifies the transactional batches of a produce that
// would start a transaction on their partition. A partition missing from
// the result needs no check; a nil verdict passed. The errors are mapped
// for Produce as Kafka does: coordinator trouble becomes the retriable
// NOT_ENOUGH_REPLICAS, PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH.
func (b *Broker) txnProduceVerdicts(req *kmsg.ProduceRequest, version int16) map[*partition]*kerr.Error {
	if req.TransactionID == nil {
		return nil
	}
	var checks []txnCheck
	for _, rt := range req.Topics {
		t := b.topicByName(rt.Topic)
		if version >= 13 {
			t = b.topicByID(uuid.UUID(rt.TopicID))
		}
		if t == nil || t.internal {
			continue
		}
		for _, rp := range rt.Partitions {
			p := t.partition(rp.Partition)
			if p == nil {
				continue
			}
			h, err := blog.ParseBatchHeader(rp.Records)
			if err != nil || !h.IsTransactional() || h.ProducerID < 0 || p.log.HasOngoingTxn(h.ProducerID, h.ProducerEpoch) {
				continue
			}
			checks = append(checks, txnCheck{p: p, pid: h.ProducerID, epoch: h.ProducerEpoch})
		}
	}
	if len(checks) == 0 {
		return nil
	}
	out := map[*partition]*kerr.Error{}
	for p, kErr := range b.verifyTxnPartitions(*req.TransactionID, checks) {
		switch kErr {
		case nil, kerr.InvalidTxnState, kerr.InvalidProducerIDMapping, kerr.InvalidProducerEpoch:
			out[p] = kErr
		case kerr.ProducerFenced:
			out[p] = kerr.InvalidProducerEpoch
		default:
			out[p] = kerr.NotEnoughReplicas
		}
	}
	return out
}

// verifyTxnPartitions verifies checks (all of one transactional ID)
// against its coordinator and returns each partition's verdict: nil, or
// the coordinator's error (NOT_COORDINATOR and the like when it could not
// be asked).
func (b *Broker) verifyTxnPartitions(id string, checks []txnCheck) map[*partition]*kerr.Error {
	out := make(map[*partition]*kerr.Error, len(checks))
	type producer struct {
		pid   int64
		epoch int16
	}
	byProducer := map[producer][]txnCheck{}
	for _, c := range checks {
		k := producer{c.pid, c.epoch}
		byProducer[k] = append(byProducer[k], c)
	}
	for k, cs := range byProducer {
		tps := make([]txn.TopicPartition, len(cs))
		for i, c := range cs {
			tps[i] = txn.TopicPartition{Topic: c.p.topic.name, Partition: c.p.index}
		}
		verdicts, kErr := b.verifyTxnLocal(id, k.pid, k.epoch, tps)
		if kErr == kerr.NotCoordinator {
			var err error
			verdicts, err = b.verifyTxnRemote(id, k.pid, k.epoch, tps)
			if err != nil {
				b.logger.Debug("transaction verification failed", "transactional.id", id, "err", err)
				kErr = kerr.CoordinatorNotAvailable
			} else {
				kErr = nil
			}
		}
		for i, c := range cs {
			if kErr != nil {
				out[c.p] = kErr
			} else {
				out[c.p] = verdicts[tps[i]]
			}
		}
	}
	return out
}

// verifyTxnLocal checks partitions against a transaction this broker
// coordinates, as AddPartitionsToTxn with VerifyOnly does: the first error
// is for every partition (NOT_COORDINATOR when another broker
// coordinates the ID), else each partition's own.
func (b *Broker) verifyTxnLocal(id string, pid int64, epoch int16, tps []txn.TopicPartition) (map[txn.TopicPartition]*kerr.Error, *kerr.Error) {
	if kErr := b.txnNotCoordinator(id); kErr != nil {
		return nil, kErr
	}
	e := b.lookupTxn(id)
	if e == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch tx := e.txn; {
	case e.gone.Load():
		return nil, kerr.NotCoordinator
	case tx == nil || tx.ProducerID != pid:
		return nil, kerr.InvalidProducerIDMapping
	case tx.ProducerEpoch != epoch:
		return nil, kerr.ProducerFenced
	}
	out := make(map[txn.TopicPartition]*kerr.Error, len(tps))
	for _, tp := range tps {
		if !e.txn.Has(tp) {
			out[tp] = kerr.InvalidTxnState
		} else {
			out[tp] = nil
		}
	}
	return out, nil
}

// verifyTxnRemote asks the coordinator on another broker with
// AddPartitionsToTxn v4 (VerifyOnly).
func (b *Broker) verifyTxnRemote(id string, pid int64, epoch int16, tps []txn.TopicPartition) (map[txn.TopicPartition]*kerr.Error, error) {
	t := b.topicByName(transactionTopic)
	if t == nil {
		return nil, fmt.Errorf("%w: %s does not exist", errCoordinatorUnreachable, transactionTopic)
	}
	leader := t.placementOf(group.PartitionFor(id, t.numPartitions())).Leader
	if leader < 0 || leader == b.cfg.NodeID {
		return nil, fmt.Errorf("%w: no leader for its partition", errCoordinatorUnreachable)
	}
	cl, err := b.txns.verifyPeers.client(b, leader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCoordinatorUnreachable, err)
	}
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = id, pid, epoch, true
	for _, tp := range tps {
		if n := len(tr.Topics); n == 0 || tr.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = tp.Topic
			tr.Topics = append(tr.Topics, rt)
		}
		rt := &tr.Topics[len(tr.Topics)-1]
		rt.Partitions = append(rt.Partitions, tp.Partition)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Transactions = append(req.Transactions, tr)
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCoordinatorUnreachable, err)
	}
	resp := kresp.(*kmsg.AddPartitionsToTxnResponse)
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("%w: %w", errCoordinatorUnreachable, kerr.ErrorForCode(resp.ErrorCode))
	}
	out := make(map[txn.TopicPartition]*kerr.Error, len(tps))
	for _, tp := range tps {
		out[tp] = kerr.CoordinatorNotAvailable // unless answered
	}
	for _, rtx := range resp.Transactions {
		for _, rt := range rtx.Topics {
			for _, rp := range rt.Partitions {
				tp := txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
				if _, ok := out[tp]; ok {
					out[tp] = txnVerifyCode(rp.ErrorCode)
				}
			}
		}
	}
	return out, nil
}

// txnVerifyCode is a verification answer's error code as a *kerr.Error
// (nil for none).
func txnVerifyCode(code int16) *kerr.Error {
	if code == 0 {
		return nil
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e
	}
	return kerr.UnknownServerError
}
