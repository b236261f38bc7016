package broker

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// JoinGroup: v0-9
//
// Joins a member to a classic group (broker/group runs the state machine).
// The request waits on its connection until the rebalance completes, the
// connection closes, or the broker closes; Kafka clients send group
// requests on a connection of their own, so this blocks nobody else.
//
// Version notes:
//   - v0: no RebalanceTimeout (the session timeout serves as both)
//   - v1: RebalanceTimeoutMillis
//   - v2: ThrottleMillis
//   - v4: a new member first gets MEMBER_ID_REQUIRED with its ID (KIP-394)
//   - v5: InstanceID, static membership (KIP-345)
//   - v6: flexible
//   - v7: ProtocolType and Protocol in the response (nullable)
//   - v8: Reason (KIP-800)
//   - v9: SkipAssignment for a static leader rejoining a stable group (KIP-814)
//
// Authorization: READ on the group (else GROUP_AUTHORIZATION_FAILED).

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		resp.ErrorCode = e.Code
		resp.Generation = -1
		resp.MemberID = req.MemberID
		return resp, nil
	}
	gc, kErr := b.readGroupCoordinator(r, req.Group)
	if kErr != nil {
		return fail(kErr)
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return fail(kerr.InvalidRequest)
	}
	jr := group.JoinRequest{
		MemberID:             req.MemberID,
		ClientID:             r.clientID,
		ClientHost:           clientHost(r),
		ProtocolType:         req.ProtocolType,
		SessionTimeoutMs:     req.SessionTimeoutMillis,
		RebalanceTimeoutMs:   req.RebalanceTimeoutMillis,
		RequireKnownMemberID: r.version >= 4,
		SkipAssignmentOK:     r.version >= 9,
	}
	if r.version == 0 {
		jr.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if req.InstanceID != nil {
		jr.InstanceID = *req.InstanceID
	}
	if req.Reason != nil {
		jr.Reason = *req.Reason
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	res := gc.JoinGroup(r.conn.done, req.Group, jr)
	resp.ErrorCode = errorCode(res.Err)
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	resp.LeaderID = res.Leader
	resp.SkipAssignment = res.SkipAssignment
	if res.Err == nil {
		resp.Protocol = kmsg.StringPtr(res.Protocol)
		resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
	} else if r.version < 7 {
		resp.Protocol = kmsg.StringPtr("")
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = m.MemberID
		if m.InstanceID != "" {
			rm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		rm.ProtocolMetadata = m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

// clientHost is the client's address as Kafka reports it ("/1.2.3.4").
func clientHost(r *request) string {
	host, _, err := net.SplitHostPort(r.conn.remote)
	if err != nil {
		host = r.conn.remote
	}
	return "/" + host
}
