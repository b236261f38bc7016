package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/meta"
)

// DeleteAcls: v0-3
//
// Removes the ACL bindings each filter selects (one delete-acls record for
// all of them) and reports them per filter. CLUSTER_AUTHORIZATION_FAILED
// without ALTER on the cluster, SECURITY_DISABLED without an authorizer,
// INVALID_REQUEST for a filter with an UNKNOWN field. A filter that selects
// nothing succeeds with no matching ACLs.
//
// Version notes:
//   - v0: no pattern type: the filter is LITERAL
//   - v1: pattern types (KIP-290)
//   - v2: flexible
//   - v3: the USER resource type

func init() { register(31, 0, 3, handleDeleteACLs) }

func handleDeleteACLs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	code, msg := aclAPIError(r, kmsg.ACLOperationAlter)
	var doomed []acl.Binding
	seen := map[acl.Binding]bool{}
	var matchedAt []int
	for i, f := range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		filter := aclFilter(r, f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType)
		if res.ErrorCode, res.ErrorMessage = aclRefusal(code, msg, filter); res.ErrorCode == 0 {
			for _, x := range b.aclsMatching(filter) {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName, m.ResourcePatternType = x.ResourceType, x.ResourceName, x.PatternType
				m.Principal, m.Host, m.Operation, m.PermissionType = x.Principal, x.Host, x.Operation, x.Permission
				res.MatchingACLs = append(res.MatchingACLs, m)
				if !seen[x] {
					seen[x] = true
					doomed = append(doomed, x)
				}
			}
			matchedAt = append(matchedAt, i)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(doomed) > 0 {
		if code, msg := b.proposeACLs(meta.RecordDeleteACLs, doomed); code != nil {
			for _, i := range matchedAt {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code.Code, errMsg(msg)
				resp.Results[i].MatchingACLs = nil
			}
		}
	}
	return resp, nil
}
