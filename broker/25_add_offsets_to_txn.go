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

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	fenced := kerr.ProducerFenced
	if r.version < 2 {
		fenced = kerr.InvalidProducerEpoch
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	if _, kErr := b.groupCoordinator(); kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	p := group.PartitionFor(req.Group, int32(len(b.topicByName(offsetsTopic).partitionList())))
	if kErr := b.addToTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		[]txn.TopicPartition{{Topic: offsetsTopic, Partition: p}}, fenced); kErr != nil {
		resp.ErrorCode = kErr.Code
	}
	return resp, nil
}
