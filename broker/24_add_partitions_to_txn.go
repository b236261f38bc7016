package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/txn"
)

// AddPartitionsToTxn: v0-4
//
// Adds partitions to a producer's transaction (starting it), recorded in
// __transaction_state before the answer. If any partition is unknown, none
// is added: it gets UNKNOWN_TOPIC_OR_PARTITION and the rest
// OPERATION_NOT_ATTEMPTED, as Kafka does.
//
// Version notes:
//   - v2: PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH (KIP-588)
//   - v3: flexible
//   - v4: the batched form brokers use to verify many transactions at once
//     (KIP-890); VerifyOnly checks membership without adding:
//     NOT_COORDINATOR, INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED for the
//     whole transaction, else INVALID_TXN_STATE per partition not in it
//
// Authorization: v0-3 need WRITE on the transactional ID (else every partition
// gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic (else
// TOPIC_AUTHORIZATION_FAILED, and OPERATION_NOT_ATTEMPTED for the others);
// v4+ are brokers' requests and need CLUSTER_ACTION on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED), plus the v0-3 checks for a transaction
// that is not verify-only.

func init() { register(24, 0, 4, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	fenced := fencedError(r, 2)
	if r.version < 4 {
		topics := make([]topicParts, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, topicParts{t.Topic, t.Partitions})
		}
		resp.Topics = b.addPartitionsResult(r, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics, fenced)
		return resp, nil
	}
	if !r.authorizeCluster(kmsg.ACLOperationClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	for _, tr := range req.Transactions {
		topics := make([]topicParts, 0, len(tr.Topics))
		for _, t := range tr.Topics {
			topics = append(topics, topicParts{t.Topic, t.Partitions})
		}
		res := kmsg.NewAddPartitionsToTxnResponseTransaction()
		res.TransactionalID = tr.TransactionalID
		for _, t := range b.addPartitionsResult(r, tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly, topics, fenced) {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			res.Topics = append(res.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, res)
	}
	return resp, nil
}

type topicParts struct {
	topic string
	parts []int32
}

// addPartitionsResult adds (or, verifyOnly, checks) partitions and shapes
// the per-partition answer.
func (b *Broker) addPartitionsResult(r *request, id string, pid int64, epoch int16, verifyOnly bool, topics []topicParts, fenced *kerr.Error) []kmsg.AddPartitionsToTxnResponseTopic {
	var parts []txn.TopicPartition
	unknown := map[txn.TopicPartition]bool{}
	denied := map[string]bool{}
	idDenied := !verifyOnly && !r.authorizeTxnID(kmsg.ACLOperationWrite, id)
	for _, t := range topics {
		tp := b.topicByName(t.topic)
		if !verifyOnly && !r.authorizeTopic(kmsg.ACLOperationWrite, t.topic) {
			denied[t.topic] = true
		}
		for _, p := range t.parts {
			k := txn.TopicPartition{Topic: t.topic, Partition: p}
			parts = append(parts, k)
			if !tp.hasPartition(p) || (tp != nil && tp.internal && t.topic != offsetsTopic) {
				unknown[k] = true
			}
		}
	}
	codeFor := func(k txn.TopicPartition) int16 { return 0 }
	switch {
	case idDenied:
		codeFor = func(txn.TopicPartition) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }
	case len(denied) > 0:
		codeFor = func(k txn.TopicPartition) int16 {
			if denied[k.Topic] {
				return kerr.TopicAuthorizationFailed.Code
			}
			return kerr.OperationNotAttempted.Code
		}
	case len(unknown) > 0:
		codeFor = func(k txn.TopicPartition) int16 {
			if unknown[k] {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		}
	case verifyOnly:
		verdicts, kErr := b.verifyTxnLocal(id, pid, epoch, parts) // txn_verify.go
		codeFor = func(k txn.TopicPartition) int16 {
			if kErr != nil {
				return kErr.Code
			}
			if e := verdicts[k]; e != nil {
				return e.Code
			}
			return 0
		}
	default:
		if kErr := b.addToTxn(id, pid, epoch, parts, fenced); kErr != nil {
			codeFor = func(txn.TopicPartition) int16 { return kErr.Code }
		}
	}
	var out []kmsg.AddPartitionsToTxnResponseTopic
	for _, t := range topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.topic
		for _, p := range t.parts {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, codeFor(txn.TopicPartition{Topic: t.topic, Partition: p})
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
