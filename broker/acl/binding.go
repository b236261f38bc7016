package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterName is the only name of the CLUSTER resource.
const ClusterName = "kafka-cluster"

// Wildcard is the resource name and host that match every resource and
// every host.
const Wildcard = "*"

// WildcardPrincipal matches every principal.
const WildcardPrincipal = "User:*"

// ErrInvalidBinding is returned for a binding or filter that Kafka refuses
// with INVALID_REQUEST.
var ErrInvalidBinding = errors.New("invalid ACL binding")

// Binding is one access control entry on one resource pattern: Kafka's
// AclBinding.
type Binding struct {
	ResourceType kmsg.ACLResourceType        `json:"resourceType"`
	ResourceName string                      `json:"resourceName"`
	PatternType  kmsg.ACLResourcePatternType `json:"patternType"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// String renders the binding the way kafka-acls.sh lists it.
func (b Binding) String() string {
	return fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s): (principal=%s, host=%s, operation=%s, permissionType=%s)",
		b.ResourceType, b.ResourceName, b.PatternType, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks a binding as CreateAcls does: concrete resource type,
// LITERAL or PREFIXED pattern, a Type:Name principal, a host that is "*"
// or an IP address, a concrete operation and ALLOW or DENY. The CLUSTER
// resource is named kafka-cluster.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= kmsg.ACLResourceTypeAny || b.ResourceType > kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: resource type %s", ErrInvalidBinding, b.ResourceType)
	case b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Errorf("%w: pattern type %s (want LITERAL or PREFIXED)", ErrInvalidBinding, b.PatternType)
	case b.ResourceName == "":
		return fmt.Errorf("%w: empty resource name", ErrInvalidBinding)
	case b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("%w: the only valid name for the CLUSTER resource is %s", ErrInvalidBinding, ClusterName)
	case b.Operation <= kmsg.ACLOperationAny || b.Operation > kmsg.ACLOperationDescribeTokens:
		return fmt.Errorf("%w: operation %s", ErrInvalidBinding, b.Operation)
	case b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny:
		return fmt.Errorf("%w: permission type %s", ErrInvalidBinding, b.Permission)
	}
	if err := validPrincipal(b.Principal); err != nil {
		return err
	}
	return validHost(b.Host)
}

func validPrincipal(p string) error {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return fmt.Errorf("%w: principal %q is not of the form Type:Name", ErrInvalidBinding, p)
	}
	return nil
}

func validHost(h string) error {
	if h == Wildcard {
		return nil
	}
	if _, err := netip.ParseAddr(h); err != nil {
		return fmt.Errorf("%w: host %q is neither %q nor an IP address", ErrInvalidBinding, h, Wildcard)
	}
	return nil
}

// Filter selects bindings (DescribeAcls, DeleteAcls). A nil name,
// principal or host matches any; ANY resource type, operation and
// permission match any. Pattern type ANY matches bindings of either
// pattern type whose name equals the filter's; MATCH matches the bindings
// that would apply to a resource of that name: the literal name, the
// wildcard "*" and every prefix of it.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Validate refuses filters with UNKNOWN fields, as Kafka does.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= kmsg.ACLResourceTypeUnknown || f.ResourceType > kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: filter resource type %s", ErrInvalidBinding, f.ResourceType)
	case f.PatternType <= kmsg.ACLResourcePatternTypeUnknown || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Errorf("%w: filter pattern type %s", ErrInvalidBinding, f.PatternType)
	case f.Operation <= kmsg.ACLOperationUnknown || f.Operation > kmsg.ACLOperationDescribeTokens:
		return fmt.Errorf("%w: filter operation %s", ErrInvalidBinding, f.Operation)
	case f.Permission <= kmsg.ACLPermissionTypeUnknown || f.Permission > kmsg.ACLPermissionTypeAllow:
		return fmt.Errorf("%w: filter permission type %s", ErrInvalidBinding, f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != b.Permission {
		return false
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		return f.ResourceName == nil || *f.ResourceName == b.ResourceName
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName == nil {
			return true
		}
		return patternCovers(b, *f.ResourceName)
	default:
		return f.PatternType == b.PatternType && (f.ResourceName == nil || *f.ResourceName == b.ResourceName)
	}
}

// patternCovers reports whether b's resource pattern applies to a
// resource named name: the same literal name, the literal wildcard, or a
// prefix of name.
func patternCovers(b Binding, name string) bool {
	if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
		return strings.HasPrefix(name, b.ResourceName)
	}
	return b.ResourceName == name || b.ResourceName == Wildcard
}

// Normalize returns the binding with its host in canonical form (an IPv6
// address written one way), so equal bindings compare equal.
func (b Binding) Normalize() Binding {
	if a, err := netip.ParseAddr(b.Host); err == nil {
		b.Host = a.String()
	}
	return b
}
