package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions: v0
//
// The coordinator's view of each named transactional ID (KIP-664): state,
// producer ID and epoch, timeout, start time and partitions.
// TRANSACTIONAL_ID_NOT_FOUND for IDs it does not know.
//
// Authorization: DESCRIBE on each transactional ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		if !r.authorizeTxnID(kmsg.ACLOperationDescribe, id) {
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		if kErr := b.txnNotCoordinator(id); kErr != nil {
			st.ErrorCode = kErr.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		e := b.lookupTxn(id)
		if e == nil {
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		e.mu.Lock()
		tx := e.txn
		if tx == nil {
			e.mu.Unlock()
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		tx = tx.Clone()
		e.mu.Unlock()
		st.State = tx.State.String()
		st.TimeoutMillis, st.StartTimestamp = tx.TimeoutMs, tx.StartMs
		st.ProducerID, st.ProducerEpoch = tx.ProducerID, tx.ProducerEpoch
		var cur *kmsg.DescribeTransactionsResponseTransactionStateTopic
		for _, p := range tx.SortedPartitions() {
			if cur == nil || cur.Topic != p.Topic {
				st.Topics = append(st.Topics, kmsg.NewDescribeTransactionsResponseTransactionStateTopic())
				cur = &st.Topics[len(st.Topics)-1]
				cur.Topic = p.Topic
			}
			cur.Partitions = append(cur.Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
