package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// Heartbeat: v0-4
//
// Keeps a member's session alive and tells it when the group rebalances
// (REBALANCE_IN_PROGRESS), when it is no longer a member (UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID) or is behind (ILLEGAL_GENERATION).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: InstanceID (KIP-345)
//   - v4: flexible
//
// Authorization: READ on the group (else GROUP_AUTHORIZATION_FAILED).

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	gc, kErr := b.readGroupCoordinator(r, req.Group)
	if kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	resp.ErrorCode = errorCode(gc.Heartbeat(req.Group, req.MemberID, instance, req.Generation))
	return resp, nil
}
