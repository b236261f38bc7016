package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
	"github.com/gregorhq/gregor/broker/txn"
)

// AddOffsetsToTxn: v0-4
//
// Adds the group's __consumer_offsets partition to the transaction, so its
// offsets (sent with TxnOffsetCommit) commit or abort with it.
//
// Version notes:
//   - v2: PRODUCER_FENCED (KIP-588); v3: flexible; v4: no field changes
//
// Authorization: WRITE on the transactional ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and READ on the group (else
// GROUP_AUTHORIZATION_FAILED).

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	fenced := fencedError(r, 2)
	if !r.authorizeTxnID(kmsg.ACLOperationWrite, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if !r.authorizeGroup(kmsg.ACLOperationRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	if _, kErr := b.groupCoordinator(); kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	p := group.PartitionFor(req.Group, b.topicByName(offsetsTopic).numPartitions())
	if kErr := b.addToTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		[]txn.TopicPartition{{Topic: offsetsTopic, Partition: p}}, fenced); kErr != nil {
		resp.ErrorCode = kErr.Code
	}
	return resp, nil
}
