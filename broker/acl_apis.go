package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/meta"
)

// What CreateAcls, DescribeAcls and DeleteAcls (29_describe_acls.go,
// 30_create_acls.go, 31_delete_acls.go) share.

// aclAPIError is the error of an ACL API before it looks at the request:
// CLUSTER_AUTHORIZATION_FAILED without op on the cluster, and
// SECURITY_DISABLED without an authorizer (Kafka's order).
func aclAPIError(r *request, op kmsg.ACLOperation) (*kerr.Error, string) {
	if !r.authorizeCluster(op) {
		return kerr.ClusterAuthorizationFailed, "Cluster authorization failed."
	}
	if !r.conn.b.authorizer().Enabled() {
		return kerr.SecurityDisabled, "No authorizer is configured on the broker (authorizer.class.name)."
	}
	return nil, ""
}

// aclRefusal is why one binding (CreateAcls) or filter (DescribeAcls,
// DeleteAcls) of an ACL request is refused, as a Kafka error code and
// message: the request's own error (apiCode, apiMsg from aclAPIError)
// first, then INVALID_REQUEST for one that does not validate. A zero code
// means it is to be acted on.
func aclRefusal(apiCode *kerr.Error, apiMsg string, v interface{ Validate() error }) (int16, *string) {
	if apiCode != nil {
		return apiCode.Code, errMsg(apiMsg)
	}
	if err := v.Validate(); err != nil {
		return kerr.InvalidRequest.Code, errMsg(err.Error())
	}
	return 0, nil
}

// aclFilter is the filter of a DescribeAcls request or of one of a
// DeleteAcls request's filters, which have the same fields.
func aclFilter(r *request, rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType,
	principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) acl.Filter {
	return acl.Filter{ResourceType: rt, ResourceName: name, PatternType: literalBefore1(r, pt),
		Principal: principal, Host: host, Operation: op, Permission: perm}
}

// literalBefore1 is the pattern type of a v0 request, which has none.
func literalBefore1(r *request, pt kmsg.ACLResourcePatternType) kmsg.ACLResourcePatternType {
	if r.version == 0 {
		return kmsg.ACLResourcePatternTypeLiteral
	}
	return pt
}

// aclsMatching returns the stored bindings a filter selects, sorted.
func (b *Broker) aclsMatching(f acl.Filter) []acl.Binding {
	b.mu.RLock()
	all := b.meta.ACLs()
	b.mu.RUnlock()
	var out []acl.Binding
	for _, x := range all {
		if f.Matches(x) {
			out = append(out, x)
		}
	}
	return out
}

// proposeACLs writes a create-acls or delete-acls record and returns the
// Kafka error for a failure.
func (b *Broker) proposeACLs(typ meta.RecordType, bs []acl.Binding) (*kerr.Error, string) {
	err := b.propose(context.Background(), meta.Record{Type: typ, ACLs: bs})
	switch {
	case err == nil:
		b.logger.Info("ACLs changed", "change", typ, "bindings", len(bs))
		return nil, ""
	case errors.Is(err, meta.ErrBadRecord):
		return kerr.InvalidRequest, err.Error()
	default:
		return metadataErrorCode(err), err.Error()
	}
}

func errMsg(msg string) *string {
	if msg == "" {
		return nil
	}
	return &msg
}
