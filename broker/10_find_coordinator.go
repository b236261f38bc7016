package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-6
//
// On one node this broker coordinates every group. A group key (type 0)
// creates __consumer_offsets on first use and answers this node (at the
// address advertised for the request's listener); the group's partition
// may still be loading, which the group APIs report as
// COORDINATOR_LOAD_IN_PROGRESS. Transactional IDs (type 1) likewise
// create __transaction_state on first use and answer this node; share groups
// (type 2) and unknown types answer INVALID_REQUEST.
//
// Version notes:
//   - v1: CoordinatorType, ThrottleMillis, ErrorMessage
//   - v2: same fields (throttling after the response)
//   - v3: flexible
//   - v4: batched CoordinatorKeys and per-key Coordinators (KIP-699)
//   - v5: TRANSACTION_ABORTABLE may be returned (KIP-890; not used here)
//   - v6: share group keys (KIP-932; refused)

func init() { register(10, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	adv := b.advertised(r.conn.listener)
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		var kErr *kerr.Error
		var msg string
		switch req.CoordinatorType {
		case 0:
			if _, kErr = b.groupCoordinator(); kErr != nil {
				msg = "The coordinator is not available: " + offsetsTopic + " cannot be created."
			}
		case 1:
			if _, kErr = b.txnTopic(); kErr != nil {
				msg = "The coordinator is not available: " + transactionTopic + " cannot be created."
			}
		default:
			kErr, msg = kerr.InvalidRequest, "Unsupported coordinator type."
		}
		if kErr != nil {
			c.ErrorCode = kErr.Code
			c.ErrorMessage = kmsg.StringPtr(msg)
			return c
		}
		c.NodeID, c.Host, c.Port = b.cfg.NodeID, adv.Host, adv.Port
		return c
	}
	if r.version >= 4 {
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, find(k))
		}
		return resp, nil
	}
	c := find(req.CoordinatorKey)
	resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
	if r.version >= 1 {
		resp.ErrorMessage = c.ErrorMessage
	}
	return resp, nil
}
