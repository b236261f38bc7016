package acl

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic    = kmsg.ACLResourceTypeTopic
	group    = kmsg.ACLResourceTypeGroup
	cluster  = kmsg.ACLResourceTypeCluster
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny
)

func bind(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func TestAuthorize(t *testing.T) {
	on := Config{Enabled: true, SuperUsers: []string{"User:admin"}}
	tests := []struct {
		name     string
		cfg      Config
		bindings []Binding
		act      Action
		want     bool
	}{
		{"disabled allows all", Config{}, nil, Action{"User:x", "1.2.3.4", kmsg.ACLOperationWrite, topic, "t"}, true},
		{"no acls denies", on, nil, Action{"User:x", "1.2.3.4", kmsg.ACLOperationWrite, topic, "t"}, false},
		{"no acls, allow everyone", Config{Enabled: true, AllowEveryoneIfNoACL: true}, nil, Action{"User:x", "1.2.3.4", kmsg.ACLOperationWrite, topic, "t"}, true},
		{"allow everyone, but the resource has acls for someone else", Config{Enabled: true, AllowEveryoneIfNoACL: true},
			[]Binding{bind(topic, "t", literal, "User:bob", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:x", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, false},
		{"allow everyone, acls on another topic", Config{Enabled: true, AllowEveryoneIfNoACL: true},
			[]Binding{bind(topic, "u", literal, "User:bob", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:x", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, true},
		{"super user", on, nil, Action{"User:admin", "1.2.3.4", kmsg.ACLOperationAlter, cluster, ClusterName}, true},
		{"super user beats deny", on, []Binding{bind(topic, "t", literal, "User:admin", "*", kmsg.ACLOperationAll, deny)},
			Action{"User:admin", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, true},
		{"literal allow", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, true},
		{"literal allow, other principal", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, false},
		{"literal allow, other name", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "t2"}, false},
		{"literal allow, other op", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "t"}, false},
		{"literal allow, other type", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, group, "t"}, false},
		{"prefixed allow", on, []Binding{bind(topic, "orders", prefixed, "User:alice", "*", kmsg.ACLOperationWrite, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders-eu"}, true},
		{"prefixed does not match a shorter name", on, []Binding{bind(topic, "orders", prefixed, "User:alice", "*", kmsg.ACLOperationWrite, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "order"}, false},
		{"wildcard resource", on, []Binding{bind(topic, "*", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "anything"}, true},
		{"wildcard principal", on, []Binding{bind(topic, "t", literal, "User:*", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:carol", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, true},
		{"host match", on, []Binding{bind(topic, "t", literal, "User:alice", "10.0.0.1", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "10.0.0.1", kmsg.ACLOperationRead, topic, "t"}, true},
		{"host mismatch", on, []Binding{bind(topic, "t", literal, "User:alice", "10.0.0.1", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "10.0.0.2", kmsg.ACLOperationRead, topic, "t"}, false},
		{"deny wins over allow", on, []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow),
			bind(topic, "t", prefixed, "User:alice", "*", kmsg.ACLOperationRead, deny)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, false},
		{"deny from one host", on, []Binding{
			bind(topic, "*", literal, "User:*", "*", kmsg.ACLOperationRead, allow),
			bind(topic, "t", literal, "User:*", "10.0.0.9", kmsg.ACLOperationRead, deny)},
			Action{"User:alice", "10.0.0.9", kmsg.ACLOperationRead, topic, "t"}, false},
		{"deny ALL", on, []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow),
			bind(topic, "*", literal, "User:alice", "*", kmsg.ACLOperationAll, deny)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, false},
		{"deny READ does not deny DESCRIBE", on, []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationDescribe, allow),
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, deny)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, true},
		{"allow ALL", on, []Binding{bind(group, "g", literal, "User:alice", "*", kmsg.ACLOperationAll, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDelete, group, "g"}, true},
		{"READ implies DESCRIBE", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, true},
		{"WRITE implies DESCRIBE", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, true},
		{"DELETE implies DESCRIBE", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationDelete, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, true},
		{"ALTER implies DESCRIBE", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationAlter, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, true},
		{"CREATE does not imply DESCRIBE", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationCreate, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "t"}, false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationAlterConfigs, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationDescribeConfigs, topic, "t"}, true},
		{"DESCRIBE does not imply READ", on, []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationDescribe, allow)},
			Action{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "t"}, false},
		{"cluster action", on, []Binding{bind(cluster, ClusterName, literal, "User:broker", "*", kmsg.ACLOperationClusterAction, allow)},
			Action{"User:broker", "1.2.3.4", kmsg.ACLOperationClusterAction, cluster, ClusterName}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.cfg, tt.bindings)
			if got := a.Authorize(tt.act); got != tt.want {
				t.Fatalf("Authorize(%+v) = %v, want %v", tt.act, got, tt.want)
			}
		})
	}
}

func TestAuthorizeByResourceType(t *testing.T) {
	on := Config{Enabled: true}
	tests := []struct {
		name     string
		bindings []Binding
		want     bool
	}{
		{"none", nil, false},
		{"literal write", []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow)}, true},
		{"read only", []Binding{bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)}, false},
		{"denied by literal", []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow),
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, deny)}, false},
		{"denied by prefix", []Binding{
			bind(topic, "tx", prefixed, "User:alice", "*", kmsg.ACLOperationWrite, allow),
			bind(topic, "t", prefixed, "User:alice", "*", kmsg.ACLOperationAll, deny)}, false},
		{"denied by wildcard", []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow),
			bind(topic, "*", literal, "User:*", "*", kmsg.ACLOperationWrite, deny)}, false},
		{"one of two denied", []Binding{
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow),
			bind(topic, "u", literal, "User:alice", "*", kmsg.ACLOperationWrite, allow),
			bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationWrite, deny)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(on, tt.bindings).AuthorizeByResourceType("User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	str := func(s string) *string { return &s }
	lit := bind(topic, "orders", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)
	pre := bind(topic, "ord", prefixed, "User:alice", "*", kmsg.ACLOperationRead, allow)
	wild := bind(topic, "*", literal, "User:bob", "10.0.0.1", kmsg.ACLOperationWrite, deny)
	grp := bind(group, "orders", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)
	all := []Binding{lit, pre, wild, grp}
	any := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	with := func(fn func(*Filter)) Filter { f := any; fn(&f); return f }
	tests := []struct {
		name string
		f    Filter
		want []Binding
	}{
		{"any", any, all},
		{"topic", with(func(f *Filter) { f.ResourceType = topic }), []Binding{lit, pre, wild}},
		{"any pattern, exact name", with(func(f *Filter) { f.ResourceName = str("orders") }), []Binding{lit, grp}},
		{"literal", with(func(f *Filter) { f.PatternType = literal }), []Binding{lit, wild, grp}},
		{"prefixed named", with(func(f *Filter) { f.PatternType = prefixed; f.ResourceName = str("ord") }), []Binding{pre}},
		{"match", with(func(f *Filter) {
			f.ResourceType = topic
			f.PatternType = kmsg.ACLResourcePatternTypeMatch
			f.ResourceName = str("orders")
		}), []Binding{lit, pre, wild}},
		{"match other", with(func(f *Filter) {
			f.ResourceType = topic
			f.PatternType = kmsg.ACLResourcePatternTypeMatch
			f.ResourceName = str("x")
		}), []Binding{wild}},
		{"principal", with(func(f *Filter) { f.Principal = str("User:bob") }), []Binding{wild}},
		{"host", with(func(f *Filter) { f.Host = str("*") }), []Binding{lit, pre, grp}},
		{"operation", with(func(f *Filter) { f.Operation = kmsg.ACLOperationWrite }), []Binding{wild}},
		{"permission", with(func(f *Filter) { f.Permission = allow }), []Binding{lit, pre, grp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Binding
			for _, b := range all {
				if tt.f.Matches(b) {
					got = append(got, b)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := bind(topic, "t", literal, "User:alice", "*", kmsg.ACLOperationRead, allow)
	with := func(fn func(*Binding)) Binding { b := good; fn(&b); return b }
	tests := []struct {
		name string
		b    Binding
		ok   bool
	}{
		{"good", good, true},
		{"ipv6 host", with(func(b *Binding) { b.Host = "::1" }), true},
		{"cluster", bind(cluster, ClusterName, literal, "User:a", "*", kmsg.ACLOperationAlter, allow), true},
		{"cluster misnamed", bind(cluster, "c", literal, "User:a", "*", kmsg.ACLOperationAlter, allow), false},
		{"any type", with(func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }), false},
		{"match pattern", with(func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeMatch }), false},
		{"empty name", with(func(b *Binding) { b.ResourceName = "" }), false},
		{"bad principal", with(func(b *Binding) { b.Principal = "alice" }), false},
		{"bad host", with(func(b *Binding) { b.Host = "example.com" }), false},
		{"any operation", with(func(b *Binding) { b.Operation = kmsg.ACLOperationAny }), false},
		{"any permission", with(func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }), false},
	}
	for _, tt := range tests {
		err := tt.b.Validate()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidBinding)) {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
}

func TestConfigFromProperties(t *testing.T) {
	c, err := ConfigFromProperties(map[string]string{"authorizer.class.name": AclAuthorizer, "super.users": "User:admin; User:broker",
		"allow.everyone.if.no.acl.found": "true"})
	if err != nil || !c.Enabled || len(c.SuperUsers) != 2 || c.SuperUsers[1] != "User:broker" || !c.AllowEveryoneIfNoACL {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := ConfigFromProperties(nil); err != nil || c.Enabled {
		t.Fatalf("empty: %+v %v", c, err)
	}
	for _, bad := range []map[string]string{
		{"authorizer.class.name": "com.example.Custom"},
		{"super.users": "admin"},
		{"allow.everyone.if.no.acl.found": "maybe"},
	} {
		if _, err := ConfigFromProperties(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
