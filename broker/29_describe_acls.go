package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// DescribeAcls: v0-3
//
// Lists the ACL bindings one filter selects, grouped by resource pattern.
// Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED) and an
// authorizer (else SECURITY_DISABLED); a filter with an UNKNOWN field is
// INVALID_REQUEST.
//
// Version notes:
//   - v0: no pattern type: the filter is LITERAL and only literal bindings
//     are listed
//   - v1: pattern types (KIP-290: PREFIXED; filters ANY and MATCH)
//   - v2: flexible
//   - v3: the USER resource type

func init() { register(29, 0, 3, handleDescribeACLs) }

func handleDescribeACLs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	code, msg := aclAPIError(r, kmsg.ACLOperationDescribe)
	f := aclFilter(r, req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if resp.ErrorCode, resp.ErrorMessage = aclRefusal(code, msg, f); resp.ErrorCode != 0 {
		return resp, nil
	}
	for _, x := range b.aclsMatching(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != x.ResourceType || resp.Resources[n-1].ResourceName != x.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != x.PatternType {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = x.ResourceType, x.ResourceName, x.PatternType
			resp.Resources = append(resp.Resources, res)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = x.Principal, x.Host, x.Operation, x.Permission
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return resp, nil
}
