package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/meta"
)

// CreateAcls: v0-3
//
// Adds ACL bindings to the cluster metadata (one create-acls record for
// the valid ones, so they apply together). One result per creation:
// CLUSTER_AUTHORIZATION_FAILED without ALTER on the cluster,
// SECURITY_DISABLED without an authorizer, INVALID_REQUEST for a binding
// Kafka refuses (a filter-only type such as ANY or MATCH, a principal not
// of the form Type:Name, a host that is neither "*" nor an IP address, a
// CLUSTER resource not named kafka-cluster). A binding that exists already
// is a success.
//
// Version notes:
//   - v0: no pattern type: LITERAL
//   - v1: pattern types (KIP-290)
//   - v2: flexible
//   - v3: the USER resource type

func init() { register(30, 0, 3, handleCreateACLs) }

func handleCreateACLs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	code, msg := aclAPIError(r, kmsg.ACLOperationAlter)
	var valid []acl.Binding
	var validAt []int
	for i, c := range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		x := acl.Binding{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: literalBefore1(r, c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if res.ErrorCode, res.ErrorMessage = aclRefusal(code, msg, x); res.ErrorCode == 0 {
			valid = append(valid, x.Normalize())
			validAt = append(validAt, i)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(valid) > 0 {
		if code, msg := b.proposeACLs(meta.RecordCreateACLs, valid); code != nil {
			for _, i := range validAt {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code.Code, errMsg(msg)
			}
		}
	}
	return resp, nil
}
