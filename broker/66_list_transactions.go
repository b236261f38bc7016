package broker

import (
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/txn"
)

// ListTransactions: v0-2
//
// Every transactional ID the coordinator knows, filtered by state names,
// producer IDs, (v1) transactions running longer than DurationFilterMillis
// and (v2) an ID regular expression. Unknown state names are echoed in
// UnknownStateFilters.
//
// Version notes:
//   - v1: DurationFilterMillis (KIP-994)
//   - v2: TransactionalIDPattern (KIP-1152)
//
// Authorization: lists only the transactional IDs the principal may DESCRIBE.

func init() { register(66, 0, 2, handleListTransactions) }

var txnStateNames = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func handleListTransactions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []string
	for _, s := range req.StateFilters {
		if slices.Contains(txnStateNames, s) {
			states = append(states, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	var re *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	now := time.Now().UnixMilli()
	txns := b.listTxns()
	sort.Slice(txns, func(i, j int) bool { return txns[i].ID < txns[j].ID })
	for _, tx := range txns {
		if len(req.StateFilters) > 0 && !slices.Contains(states, tx.State.String()) {
			continue
		}
		if len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, tx.ProducerID) {
			continue
		}
		if req.DurationFilterMillis > 0 && (tx.State != txn.StateOngoing || now-tx.StartMs < req.DurationFilterMillis) {
			continue
		}
		if re != nil && !re.MatchString(tx.ID) {
			continue
		}
		if !r.authorizeTxnID(kmsg.ACLOperationDescribe, tx.ID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = tx.ID, tx.ProducerID, tx.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
