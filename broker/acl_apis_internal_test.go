package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
)

// What CreateAcls, DescribeAcls and DeleteAcls share decides each
// binding's or filter's fate: the request's own error first, then
// INVALID_REQUEST for what does not validate, else nothing.
func TestACLRefusal(t *testing.T) {
	str := func(s string) *string { return &s }
	good := acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	badHost := good
	badHost.Host = "not-an-ip"
	matchBinding := good
	matchBinding.PatternType = kmsg.ACLResourcePatternTypeMatch
	anyFilter := acl.Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeMatch,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny, ResourceName: str("t")}
	unknownFilter := anyFilter
	unknownFilter.Operation = kmsg.ACLOperationUnknown
	for _, tc := range []struct {
		name    string
		apiCode *kerr.Error
		apiMsg  string
		v       interface{ Validate() error }
		want    int16
		msg     bool
	}{
		{"valid binding", nil, "", good, 0, false},
		{"valid filter", nil, "", anyFilter, 0, false},
		{"binding with a bad host", nil, "", badHost, kerr.InvalidRequest.Code, true},
		{"binding with a filter-only pattern type", nil, "", matchBinding, kerr.InvalidRequest.Code, true},
		{"filter with an UNKNOWN operation", nil, "", unknownFilter, kerr.InvalidRequest.Code, true},
		{"API error wins over a valid binding", kerr.ClusterAuthorizationFailed, "no", good, kerr.ClusterAuthorizationFailed.Code, true},
		{"API error wins over an invalid filter", kerr.SecurityDisabled, "off", unknownFilter, kerr.SecurityDisabled.Code, true},
		{"API error without a message", kerr.SecurityDisabled, "", good, kerr.SecurityDisabled.Code, false},
	} {
		code, msg := aclRefusal(tc.apiCode, tc.apiMsg, tc.v)
		if code != tc.want || (msg != nil) != tc.msg {
			t.Errorf("%s: got %d %v, want %d (message %v)", tc.name, code, msg, tc.want, tc.msg)
		}
		if tc.apiCode != nil && tc.apiMsg != "" && (msg == nil || *msg != tc.apiMsg) {
			t.Errorf("%s: message %v, want %q", tc.name, msg, tc.apiMsg)
		}
	}
}

// A v0 filter has no pattern type: it is LITERAL whatever the field says.
func TestACLFilterVersion0(t *testing.T) {
	name, principal := "t", "User:alice"
	for _, tc := range []struct {
		version int16
		want    kmsg.ACLResourcePatternType
	}{{0, kmsg.ACLResourcePatternTypeLiteral}, {1, kmsg.ACLResourcePatternTypeMatch}, {3, kmsg.ACLResourcePatternTypeMatch}} {
		f := aclFilter(&request{version: tc.version}, kmsg.ACLResourceTypeTopic, &name, kmsg.ACLResourcePatternTypeMatch,
			&principal, nil, kmsg.ACLOperationRead, kmsg.ACLPermissionTypeDeny)
		want := acl.Filter{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: &name, PatternType: tc.want,
			Principal: &principal, Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeDeny}
		if f != want {
			t.Errorf("v%d: %+v, want %+v", tc.version, f, want)
		}
	}
}
