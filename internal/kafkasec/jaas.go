package kafkasec

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadJAAS is returned for a sasl.jaas.config value that does not parse.
var ErrBadJAAS = errors.New("bad sasl.jaas.config")

// LoginModule is one entry of a JAAS configuration: the login module's
// class, its control flag and its options, as in
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="secret";
type LoginModule struct {
	Class   string
	Flag    string // required, requisite, sufficient or optional
	Options map[string]string
}

// Login module classes Kafka's clients and brokers name.
const (
	PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// ParseJAAS parses a JAAS configuration string: one or more login modules,
// each "Class Flag key=value ... ;". Values are bare words or double-quoted
// strings with backslash escapes; // and /* */ comments are skipped.
func ParseJAAS(s string) ([]LoginModule, error) {
	toks, err := jaasTokens(s)
	if err != nil {
		return nil, err
	}
	var out []LoginModule
	for i := 0; i < len(toks); {
		if toks[i].kind != tokWord {
			return nil, fmt.Errorf("%w: expected a login module class, got %q", ErrBadJAAS, toks[i].text)
		}
		m := LoginModule{Class: toks[i].text, Options: map[string]string{}}
		i++
		if i >= len(toks) || toks[i].kind != tokWord {
			return nil, fmt.Errorf("%w: login module %s has no control flag", ErrBadJAAS, m.Class)
		}
		m.Flag = strings.ToLower(toks[i].text)
		switch m.Flag {
		case "required", "requisite", "sufficient", "optional":
		default:
			return nil, fmt.Errorf("%w: login module %s: control flag %q is not required, requisite, sufficient or optional", ErrBadJAAS, m.Class, toks[i].text)
		}
		i++
		for {
			if i >= len(toks) {
				return nil, fmt.Errorf("%w: login module %s does not end with ';'", ErrBadJAAS, m.Class)
			}
			if toks[i].kind == tokSemi {
				i++
				break
			}
			if toks[i].kind != tokWord || i+2 >= len(toks) || toks[i+1].kind != tokEquals ||
				(toks[i+2].kind != tokWord && toks[i+2].kind != tokQuoted) {
				return nil, fmt.Errorf("%w: login module %s: expected key=value near %q", ErrBadJAAS, m.Class, toks[i].text)
			}
			m.Options[toks[i].text] = toks[i+2].text
			i += 3
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no login module", ErrBadJAAS)
	}
	return out, nil
}

// ParseSingleJAAS parses a sasl.jaas.config value, which Kafka requires to
// hold exactly one login module.
func ParseSingleJAAS(s string) (LoginModule, error) {
	mods, err := ParseJAAS(s)
	if err != nil {
		return LoginModule{}, err
	}
	if len(mods) != 1 {
		return LoginModule{}, fmt.Errorf("%w: %d login modules, want exactly one", ErrBadJAAS, len(mods))
	}
	return mods[0], nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokQuoted
	tokEquals
	tokSemi
)

type jaasToken struct {
	kind tokKind
	text string
}

// jaasTokens splits a JAAS string into words, quoted strings, '=' and ';'.
// Delimiters are ASCII, so it works on bytes and keeps UTF-8 intact.
func jaasTokens(s string) ([]jaasToken, error) {
	var out []jaasToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated comment", ErrBadJAAS)
			}
			i += 2 + end + 2
		case c == '=':
			out = append(out, jaasToken{tokEquals, "="})
			i++
		case c == ';':
			out = append(out, jaasToken{tokSemi, ";"})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i < len(s) {
					c = unescape(s[i])
					i++
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted string", ErrBadJAAS)
			}
			out = append(out, jaasToken{tokQuoted, b.String()})
		default:
			start := i
			for i < len(s) && !isSpace(s[i]) && s[i] != '=' && s[i] != ';' && s[i] != '"' {
				i++
			}
			out = append(out, jaasToken{tokWord, s[start:i]})
		}
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// unescape maps the character after a backslash in a quoted string.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return c
}

// PlainUsers returns the user_<name>="<password>" options of a
// PlainLoginModule, the users a broker's PLAIN mechanism accepts.
func (m LoginModule) PlainUsers() map[string]string {
	out := map[string]string{}
	for k, v := range m.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			out[name] = v
		}
	}
	return out
}
