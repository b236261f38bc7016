package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn: v0-4
//
// Commits or aborts a producer's transaction: the PrepareCommit or
// PrepareAbort state is recorded in __transaction_state, a marker (control
// batch) is written to every partition in the transaction — which moves
// their last stable offsets and, for __consumer_offsets, makes the
// transactional offset commits visible or drops them — and then the
// Complete state is recorded. A retried end of a finished transaction
// succeeds; ending one that is not open is INVALID_TXN_STATE.
//
// Version notes:
//   - v2: PRODUCER_FENCED (KIP-588); v3: flexible; v4: no field changes
//   - v5 (KIP-890 part 2, transaction.version 2) is not served
//
// Authorization: WRITE on the transactional ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

func init() { register(26, 0, 4, handleEndTxn) }

func handleEndTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	fenced := fencedError(r, 2)
	if !r.authorizeTxnID(kmsg.ACLOperationWrite, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if kErr := b.endTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, fenced); kErr != nil {
		resp.ErrorCode = kErr.Code
	}
	return resp, nil
}
