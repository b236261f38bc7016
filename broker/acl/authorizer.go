package acl

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's authorizer class names that enable the authorizer
// (authorizer.class.name). Both get StandardAuthorizer's semantics.
const (
	StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizer      = "kafka.security.authorizer.AclAuthorizer"
)

// ErrBadConfig is returned for authorizer properties Gregor cannot honour.
var ErrBadConfig = errors.New("bad authorizer config")

// Config is how the broker authorizes, from its properties.
type Config struct {
	// Enabled is set by a known authorizer.class.name; without it every
	// request is allowed and the ACL APIs answer SECURITY_DISABLED.
	Enabled bool
	// SuperUsers are the principals allowed everything (super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACL allows an operation on a resource that has no
	// ACLs at all (allow.everyone.if.no.acl.found, default false).
	AllowEveryoneIfNoACL bool
}

// ConfigFromProperties reads authorizer.class.name, super.users
// (semicolon-separated principals) and allow.everyone.if.no.acl.found.
func ConfigFromProperties(props map[string]string) (Config, error) {
	var c Config
	switch class := strings.TrimSpace(props["authorizer.class.name"]); class {
	case "":
	case StandardAuthorizer, AclAuthorizer:
		c.Enabled = true
	default:
		return c, fmt.Errorf("%w: authorizer.class.name %q is not supported (use %s)", ErrBadConfig, class, StandardAuthorizer)
	}
	for _, p := range strings.Split(props["super.users"], ";") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := validPrincipal(p); err != nil {
			return c, fmt.Errorf("%w: super.users: %w", ErrBadConfig, err)
		}
		c.SuperUsers = append(c.SuperUsers, p)
	}
	if v, ok := props["allow.everyone.if.no.acl.found"]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return c, fmt.Errorf("%w: allow.everyone.if.no.acl.found=%s is not a boolean", ErrBadConfig, v)
		}
		c.AllowEveryoneIfNoACL = b
	}
	return c, nil
}

// Action is one operation a principal asks to perform on one resource.
type Action struct {
	Principal    string // Type:Name, e.g. User:alice
	Host         string // the client's IP address
	Operation    kmsg.ACLOperation
	ResourceType kmsg.ACLResourceType
	ResourceName string
}

// Authorizer decides Actions against a fixed set of bindings. It is
// immutable, so any number of goroutines may use it.
type Authorizer struct {
	cfg   Config
	super map[string]bool
	// byType indexes the bindings by resource type: literal ones by name,
	// prefixed ones in a list.
	byType map[kmsg.ACLResourceType]*typeIndex
}

type typeIndex struct {
	literal  map[string][]Binding
	prefixed []Binding
}

// New builds an authorizer over bindings (which it copies).
func New(cfg Config, bindings []Binding) *Authorizer {
	a := &Authorizer{cfg: cfg, super: map[string]bool{}, byType: map[kmsg.ACLResourceType]*typeIndex{}}
	for _, p := range cfg.SuperUsers {
		a.super[p] = true
	}
	for _, b := range bindings {
		ti := a.byType[b.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]Binding{}}
			a.byType[b.ResourceType] = ti
		}
		if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			ti.prefixed = append(ti.prefixed, b)
		} else {
			ti.literal[b.ResourceName] = append(ti.literal[b.ResourceName], b)
		}
	}
	return a
}

// Enabled reports whether authorization is on.
func (a *Authorizer) Enabled() bool { return a != nil && a.cfg.Enabled }

// IsSuperUser reports whether principal is one of super.users.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.super[principal] }

// Authorize decides one action: always allowed with the authorizer off or
// for a super user; otherwise denied if a matching DENY binding covers the
// operation, allowed if a matching ALLOW binding covers it (directly, by
// ALL, or by implication), and for a resource with no bindings at all,
// allowed only with allow.everyone.if.no.acl.found.
func (a *Authorizer) Authorize(act Action) bool {
	if !a.Enabled() || a.super[act.Principal] {
		return true
	}
	ti := a.byType[act.ResourceType]
	if ti == nil {
		return a.cfg.AllowEveryoneIfNoACL
	}
	found, allowed := false, false
	check := func(bs []Binding) bool { // false on a deny
		for _, b := range bs {
			found = true
			if !principalMatches(b.Principal, act.Principal) || !hostMatches(b.Host, act.Host) {
				continue
			}
			if b.Permission == kmsg.ACLPermissionTypeDeny {
				if b.Operation == kmsg.ACLOperationAll || b.Operation == act.Operation {
					return false
				}
				continue
			}
			if implies(b.Operation, act.Operation) {
				allowed = true
			}
		}
		return true
	}
	if !check(ti.literal[act.ResourceName]) {
		return false
	}
	if act.ResourceName != Wildcard && !check(ti.literal[Wildcard]) {
		return false
	}
	for i := range ti.prefixed {
		if strings.HasPrefix(act.ResourceName, ti.prefixed[i].ResourceName) && !check(ti.prefixed[i:i+1]) {
			return false
		}
	}
	if !found {
		return a.cfg.AllowEveryoneIfNoACL
	}
	return allowed
}

// AuthorizeByResourceType reports whether the principal may perform op on
// at least one resource of the type (Kafka's authorizeByResourceType, used
// for idempotent producers that have WRITE on some topic): an ALLOW
// binding for it whose pattern no DENY binding covers.
func (a *Authorizer) AuthorizeByResourceType(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if !a.Enabled() || a.super[principal] {
		return true
	}
	ti := a.byType[rt]
	if ti == nil {
		return a.cfg.AllowEveryoneIfNoACL
	}
	var allows, denies []Binding
	collect := func(b Binding) {
		if !principalMatches(b.Principal, principal) || !hostMatches(b.Host, host) {
			return
		}
		switch {
		case b.Permission == kmsg.ACLPermissionTypeDeny && (b.Operation == kmsg.ACLOperationAll || b.Operation == op):
			denies = append(denies, b)
		case b.Permission == kmsg.ACLPermissionTypeAllow && implies(b.Operation, op):
			allows = append(allows, b)
		}
	}
	for _, bs := range ti.literal {
		for _, b := range bs {
			collect(b)
		}
	}
	for _, b := range ti.prefixed {
		collect(b)
	}
	for _, al := range allows {
		denied := false
		for _, d := range denies {
			if d.PatternType == kmsg.ACLResourcePatternTypeLiteral && (d.ResourceName == Wildcard ||
				(al.PatternType == kmsg.ACLResourcePatternTypeLiteral && d.ResourceName == al.ResourceName)) ||
				d.PatternType == kmsg.ACLResourcePatternTypePrefixed && strings.HasPrefix(al.ResourceName, d.ResourceName) {
				denied = true
				break
			}
		}
		if !denied {
			return true
		}
	}
	return false
}

// Bindings returns every binding, sorted (for DescribeAcls).
func (a *Authorizer) Bindings() []Binding {
	var out []Binding
	for _, ti := range a.byType {
		for _, bs := range ti.literal {
			out = append(out, bs...)
		}
		out = append(out, ti.prefixed...)
	}
	Sort(out)
	return out
}

// Sort orders bindings by resource, then principal, host, operation and
// permission, so listings are stable.
func Sort(bs []Binding) {
	sort.Slice(bs, func(i, j int) bool {
		x, y := bs[i], bs[j]
		switch {
		case x.ResourceType != y.ResourceType:
			return x.ResourceType < y.ResourceType
		case x.ResourceName != y.ResourceName:
			return x.ResourceName < y.ResourceName
		case x.PatternType != y.PatternType:
			return x.PatternType < y.PatternType
		case x.Principal != y.Principal:
			return x.Principal < y.Principal
		case x.Host != y.Host:
			return x.Host < y.Host
		case x.Operation != y.Operation:
			return x.Operation < y.Operation
		}
		return x.Permission < y.Permission
	})
}

func principalMatches(acl, p string) bool { return acl == p || acl == WildcardPrincipal }

func hostMatches(acl, h string) bool { return acl == Wildcard || acl == h }

// implies reports whether an ALLOW of granted allows requested: the same
// operation, ALL, or DESCRIBE through READ, WRITE, DELETE or ALTER, and
// DESCRIBE_CONFIGS through ALTER_CONFIGS.
func implies(granted, requested kmsg.ACLOperation) bool {
	if granted == requested || granted == kmsg.ACLOperationAll {
		return true
	}
	switch requested {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}
