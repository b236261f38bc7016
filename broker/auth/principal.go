package auth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Principal is who a connection acts as, in Kafka's form Type:Name.
type Principal struct {
	Type string // "User"
	Name string
}

// Anonymous is the principal of a connection that did not authenticate
// (PLAINTEXT, or SSL without a client certificate).
var Anonymous = Principal{Type: "User", Name: "ANONYMOUS"}

// User returns the User principal of name.
func User(name string) Principal { return Principal{Type: "User", Name: name} }

// String renders Type:Name, as Kafka's ACLs name principals.
func (p Principal) String() string { return p.Type + ":" + p.Name }

// ErrBadMappingRules is returned for ssl.principal.mapping.rules that do
// not parse.
var ErrBadMappingRules = errors.New("bad ssl.principal.mapping.rules")

// ErrNoMatchingRule is returned when no mapping rule applies to a
// certificate's subject.
var ErrNoMatchingRule = errors.New("no ssl.principal.mapping.rules rule applies")

// MappingRules maps a certificate subject's distinguished name (RFC 2253
// form, such as "CN=alice,OU=eng,O=Acme") to a principal name, the way
// Kafka's ssl.principal.mapping.rules do: rules are tried in order; the
// first whose pattern matches the whole name gives the result.
type MappingRules struct {
	rules []mappingRule
	text  string
}

type mappingRule struct {
	isDefault bool
	pattern   *regexp.Regexp
	template  string // regexp.Expand template
	toLower   bool
	toUpper   bool
}

// ParseMappingRules parses a comma-separated rule list. Each rule is
// DEFAULT (the name unchanged) or RULE:pattern/replacement/ optionally
// followed by L (lower case) or U (upper case); a backslash escapes the
// next character in pattern and replacement, $1.. in the replacement are
// the pattern's groups. An empty list means DEFAULT.
func ParseMappingRules(s string) (*MappingRules, error) {
	m := &MappingRules{text: s}
	rest := strings.TrimSpace(s)
	if rest == "" {
		rest = "DEFAULT"
	}
	for rest != "" {
		var r mappingRule
		var err error
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			r.isDefault = true
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			r, rest, err = parseRule(rest[len("RULE:"):])
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: %q: each rule is DEFAULT or RULE:pattern/replacement/[LU]", ErrBadMappingRules, rest)
		}
		m.rules = append(m.rules, r)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("%w: unexpected %q after a rule", ErrBadMappingRules, rest)
		}
		rest = strings.TrimSpace(rest[1:])
		if rest == "" {
			return nil, fmt.Errorf("%w: trailing comma", ErrBadMappingRules)
		}
	}
	return m, nil
}

// parseRule parses "pattern/replacement/[LU]" and returns what follows.
func parseRule(s string) (mappingRule, string, error) {
	var r mappingRule
	pat, s, ok := cutUnescaped(s)
	if !ok {
		return r, "", fmt.Errorf("%w: RULE:%s has no '/' after its pattern", ErrBadMappingRules, s)
	}
	repl, s, ok := cutUnescaped(s)
	if !ok {
		return r, "", fmt.Errorf("%w: RULE:%s/ has no '/' after its replacement", ErrBadMappingRules, pat)
	}
	if s != "" && (s[0] == 'L' || s[0] == 'U') {
		r.toLower, r.toUpper = s[0] == 'L', s[0] == 'U'
		s = s[1:]
	}
	re, err := regexp.Compile("^(?:" + pat + ")$")
	if err != nil {
		return r, "", fmt.Errorf("%w: pattern %q: %w", ErrBadMappingRules, pat, err)
	}
	r.pattern = re
	r.template = replacementTemplate(repl)
	return r, s, nil
}

// cutUnescaped splits s at its first '/' not escaped by a backslash; the
// escapes stay in the part before it.
func cutUnescaped(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '/':
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// replacementTemplate turns a Java-style replacement ($1 for a group, a
// backslash quoting the next character) into a regexp.Expand template.
func replacementTemplate(repl string) string {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		switch {
		case c == '\\' && i+1 < len(repl):
			i++
			if repl[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(repl[i])
			}
		case c == '$' && i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9':
			j := i + 1
			for j < len(repl) && repl[j] >= '0' && repl[j] <= '9' {
				j++
			}
			b.WriteString("${" + repl[i+1:j] + "}")
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Apply maps a distinguished name to a principal name.
func (m *MappingRules) Apply(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		match := r.pattern.FindStringSubmatchIndex(dn)
		if match == nil {
			continue
		}
		out := string(r.pattern.ExpandString(nil, r.template, dn, match))
		switch {
		case r.toLower:
			out = strings.ToLower(out)
		case r.toUpper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w to %q (rules %q)", ErrNoMatchingRule, dn, m.text)
}
