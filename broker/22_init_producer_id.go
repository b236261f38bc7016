package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: v0-5
//
// For idempotent (non-transactional) producers: a fresh producer ID with
// epoch 0, from blocks reserved in the metadata journal so an ID is never
// handed out twice, even across restarts. A producer that asks again
// (KIP-360 epoch bump after an error) also gets a fresh ID, as Kafka does
// for producers without a transactional.id. With a transactional.id the
// transaction coordinator answers: a first call gets a fresh ID at epoch 0;
// later calls bump the epoch, fencing older producers of the same ID, and
// abort a transaction the old producer left open. The timeout must not pass
// transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
//
// Version notes:
//   - v1: ThrottleMillis; v2: flexible
//   - v3: ProducerID/ProducerEpoch in the request (KIP-360)
//   - v4: PRODUCER_FENCED; v5: KIP-890 (transactional only)
//
// Authorization: WRITE on the transactional ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent producer needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679; else
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && !r.authorizeTxnID(kmsg.ACLOperationWrite, *req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if req.TransactionalID == nil && !r.authorizeCluster(kmsg.ACLOperationIdempotentWrite) && !r.authorizeAnyTopic(kmsg.ACLOperationWrite) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if req.TransactionalID != nil {
		pid, epoch, kErr := b.initTransactional(*req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
		if kErr == kerr.ProducerFenced && r.version < 4 {
			kErr = kerr.InvalidProducerEpoch
		}
		if kErr != nil {
			resp.ErrorCode = kErr.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp, nil
	}
	id, err := b.allocateProducerID()
	if err != nil {
		b.logger.Error("allocate producer ID", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
