package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups: v0-6
//
// Describes groups: state, protocol type, and members; the selected
// protocol and each member's metadata and assignment only when Stable, as
// Kafka does. A group that does not exist is reported Dead (v0-5) or with
// GROUP_ID_NOT_FOUND (v6, KIP-1043).
//
// Version notes:
//   - v1: ThrottleMillis
//   - v3: AuthorizedOperations (no authorizer: read, delete, describe)
//   - v4: member InstanceID (KIP-345)
//   - v5: flexible
//   - v6: ErrorMessage; GROUP_ID_NOT_FOUND for missing groups
//
// Authorization: DESCRIBE on each group (else GROUP_AUTHORIZATION_FAILED);
// AuthorizedOperations holds the group operations the principal may perform.

func init() { register(15, 0, 6, handleDescribeGroups) }

// groupOperations are the ACL operations on a group with no authorizer:
// READ (3), DELETE (6), DESCRIBE (8), as a bit field.
const groupOperations = 1<<3 | 1<<6 | 1<<8

func handleDescribeGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	gc, gErr := b.groupCoordinator()
	for _, id := range req.Groups {
		sg := kmsg.NewDescribeGroupsResponseGroup()
		sg.Group = id
		if !r.authorizeGroup(kmsg.ACLOperationDescribe, id) {
			sg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			sg.AuthorizedOperations = r.authorizedOperations(kmsg.ACLResourceTypeGroup, id, groupOperations)
		}
		if gErr != nil {
			sg.ErrorCode = gErr.Code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		d, kErr := gc.DescribeGroup(id)
		switch {
		case kErr == kerr.GroupIDNotFound && r.version < 6:
			kErr = nil
		case kErr == kerr.GroupIDNotFound:
			sg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
		}
		sg.ErrorCode = errorCode(kErr)
		sg.State = d.State.String()
		sg.ProtocolType = d.ProtocolType
		sg.Protocol = d.Protocol
		for _, m := range d.Members {
			sm := kmsg.NewDescribeGroupsResponseGroupMember()
			sm.MemberID, sm.ClientID, sm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
			if m.InstanceID != "" {
				sm.InstanceID = kmsg.StringPtr(m.InstanceID)
			}
			sm.ProtocolMetadata = m.Metadata
			sm.MemberAssignment = m.Assignment
			if sm.ProtocolMetadata == nil {
				sm.ProtocolMetadata = []byte{}
			}
			if sm.MemberAssignment == nil {
				sm.MemberAssignment = []byte{}
			}
			sg.Members = append(sg.Members, sm)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
