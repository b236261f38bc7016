package broker

import (
	"github.com/gregorhq/gregor/broker/group"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-6
//
// The coordinator of a group (type 0) or a transactional ID (type 1) is the
// broker that leads the key's partition of __consumer_offsets or
// __transaction_state, answered at its endpoint for the request's listener;
// the topic is created on first use, and a partition without a leader
// answers COORDINATOR_NOT_AVAILABLE. The coordinator may still be loading
// the partition, which the group and transaction APIs report as
// COORDINATOR_LOAD_IN_PROGRESS. Share groups (type 2) and unknown types
// answer INVALID_REQUEST.
//
// Version notes:
//   - v1: CoordinatorType, ThrottleMillis, ErrorMessage
//   - v2: same fields (throttling after the response)
//   - v3: flexible
//   - v4: batched CoordinatorKeys and per-key Coordinators (KIP-699)
//   - v5: TRANSACTION_ABORTABLE may be returned (KIP-890; not used here)
//   - v6: share group keys (KIP-932; refused)
//
// Authorization: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED) or on
// the transactional ID (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

func init() { register(10, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		var kErr *kerr.Error
		var msg string
		var internal string
		switch req.CoordinatorType {
		case 0:
			internal = offsetsTopic
			if !r.authorizeGroup(kmsg.ACLOperationDescribe, key) {
				kErr, msg = kerr.GroupAuthorizationFailed, "Not authorized to describe the group."
			} else if _, kErr = b.groupCoordinator(); kErr != nil {
				msg = "The coordinator is not available: " + offsetsTopic + " cannot be created."
			}
		case 1:
			internal = transactionTopic
			if !r.authorizeTxnID(kmsg.ACLOperationDescribe, key) {
				kErr, msg = kerr.TransactionalIDAuthorizationFailed, "Not authorized to describe the transactional ID."
			} else if _, kErr = b.txnTopic(); kErr != nil {
				msg = "The coordinator is not available: " + transactionTopic + " cannot be created."
			}
		default:
			kErr, msg = kerr.InvalidRequest, "Unsupported coordinator type."
		}
		if kErr == nil {
			// The coordinator is the leader of the key's partition.
			t := b.topicByName(internal)
			ps := t.placementOf(group.PartitionFor(key, t.numPartitions()))
			ep, ok := b.brokerEndpoint(ps.Leader, r.conn.listener)
			if ps.Offline() || !ok {
				kErr, msg = kerr.CoordinatorNotAvailable, "The coordinator's partition of "+internal+" has no leader."
			} else {
				c.NodeID, c.Host, c.Port = ps.Leader, ep.Host, ep.Port
			}
		}
		if kErr != nil {
			c.ErrorCode = kErr.Code
			c.ErrorMessage = kmsg.StringPtr(msg)
		}
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
