package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// LeaveGroup: v0-5
//
// Removes members from a group, which then rebalances (or becomes Empty).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: batched Members with InstanceID and per-member errors (KIP-345)
//   - v4: flexible
//   - v5: per-member Reason (KIP-800)
//
// Authorization: READ on the group (else GROUP_AUTHORIZATION_FAILED).

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	gc, kErr := b.readGroupCoordinator(r, req.Group)
	if kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	var leaving []group.LeaveMember
	if r.version < 3 {
		leaving = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			lm := group.LeaveMember{MemberID: m.MemberID}
			if m.InstanceID != nil {
				lm.InstanceID = *m.InstanceID
			}
			if m.Reason != nil {
				lm.Reason = *m.Reason
			}
			leaving = append(leaving, lm)
		}
	}
	top, errs := gc.LeaveGroup(req.Group, leaving)
	resp.ErrorCode = errorCode(top)
	if r.version < 3 {
		if top == nil {
			resp.ErrorCode = errorCode(errs[0])
		}
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if top == nil {
			rm.ErrorCode = errorCode(errs[i])
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
