package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups: v0-3
//
// Deletes Empty groups with their committed offsets (tombstones in
// __consumer_offsets). A group with members gets NON_EMPTY_GROUP, a
// missing one GROUP_ID_NOT_FOUND.
//
// Version notes:
//   - v1: same as v0 (throttling after the response)
//   - v2: flexible
//   - v3: per-group ErrorMessage
//
// Authorization: DELETE on each group (else GROUP_AUTHORIZATION_FAILED).

func init() { register(42, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	gc, gErr := b.groupCoordinator()
	for _, id := range req.Groups {
		sg := kmsg.NewDeleteGroupsResponseGroup()
		sg.Group = id
		kErr := gErr
		if !r.authorizeGroup(kmsg.ACLOperationDelete, id) {
			kErr = kerr.GroupAuthorizationFailed
		}
		if kErr == nil {
			kErr = gc.DeleteGroup(id)
		}
		sg.ErrorCode = errorCode(kErr)
		if kErr != nil && r.version >= 3 {
			msg := kErr.Description
			switch kErr {
			case kerr.NonEmptyGroup:
				msg = "The group " + id + " is not empty."
			case kerr.GroupIDNotFound:
				msg = "Group " + id + " not found."
			}
			sg.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
