package auth

import (
	"errors"
	"testing"
)

func TestMappingRules(t *testing.T) {
	tests := []struct {
		rules, dn, want string
		err             error
	}{
		{"", "CN=alice,OU=eng,O=Acme", "CN=alice,OU=eng,O=Acme", nil},
		{"DEFAULT", "CN=alice,OU=eng", "CN=alice,OU=eng", nil},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, DEFAULT", "CN=Alice,OU=Eng,O=Acme", "alice@eng", nil},
		{"RULE:^CN=(.*?),OU=(.*?)$/$1/U", "CN=alice,OU=eng", "ALICE", nil},
		// The first rule does not match (no OU): the next one does.
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),.*$/user-$1/", "CN=svc,O=Acme", "user-svc", nil},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=svc,OU=ServiceUsers,O=Acme", "svc", nil},
		// The pattern must match the whole name.
		{"RULE:CN=([a-z]+)/$1/", "CN=bob,O=x", "", ErrNoMatchingRule},
		{"RULE:CN=([a-z]+)/$1/", "CN=bob", "bob", nil},
		// Escaped slashes in pattern and replacement; $1 followed by digits and
		// letters; a literal dollar.
		{`RULE:^CN=(.*)\/x$/$1\/y/`, "CN=a/x", "a/y", nil},
		{`RULE:^CN=(.*)$/$1abc\$/`, "CN=z", "zabc$", nil},
		{"RULE:^CN=(.*)$/$10/", "CN=z", "", nil}, // group 10 does not exist: empty, as Go expands it
	}
	for _, tt := range tests {
		m, err := ParseMappingRules(tt.rules)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.rules, err)
		}
		got, err := m.Apply(tt.dn)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("rules %q on %q: got %q, %v; want %q, %v", tt.rules, tt.dn, got, err, tt.want, tt.err)
		}
	}
}

func TestMappingRulesInvalid(t *testing.T) {
	for _, rules := range []string{
		"RULE:abc",          // no slash
		"RULE:abc/def",      // no closing slash
		"RULE:(/x/",         // bad regexp
		"DEFAULT,",          // trailing comma
		"SOMETHING",         // not a rule
		"RULE:a/b/X",        // junk after the rule
		"DEFAULT RULE:a/b/", // no comma
	} {
		if _, err := ParseMappingRules(rules); !errors.Is(err, ErrBadMappingRules) {
			t.Errorf("%q: got %v, want ErrBadMappingRules", rules, err)
		}
	}
}

func TestPrincipalString(t *testing.T) {
	if got := User("alice").String(); got != "User:alice" {
		t.Errorf("got %q", got)
	}
	if Anonymous.String() != "User:ANONYMOUS" {
		t.Errorf("anonymous is %q", Anonymous)
	}
}
