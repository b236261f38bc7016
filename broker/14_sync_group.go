package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// SyncGroup: v0-5
//
// Followers wait for the leader's assignment; the leader's assignment is
// written to __consumer_offsets before anyone is answered. The request
// waits on its connection like JoinGroup.
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: InstanceID (KIP-345)
//   - v4: flexible
//   - v5: ProtocolType and Protocol, checked against the group's and
//     returned (KIP-559)
//
// Authorization: READ on the group (else GROUP_AUTHORIZATION_FAILED).

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	gc, kErr := b.readGroupCoordinator(r, req.Group)
	if kErr != nil {
		resp.ErrorCode = kErr.Code
		return resp, nil
	}
	sr := group.SyncRequest{MemberID: req.MemberID, Generation: req.Generation, Assignments: map[string][]byte{}}
	if req.InstanceID != nil {
		sr.InstanceID = *req.InstanceID
	}
	if r.version >= 5 {
		sr.ProtocolType, sr.Protocol = req.ProtocolType, req.Protocol
	}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	res := gc.SyncGroup(r.conn.done, req.Group, sr)
	resp.ErrorCode = errorCode(res.Err)
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	if r.version >= 5 && res.Err == nil {
		resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
		resp.Protocol = kmsg.StringPtr(res.Protocol)
	}
	return resp, nil
}
