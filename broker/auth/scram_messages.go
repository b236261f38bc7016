package auth

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ClientFirst is a decoded SCRAM client-first message (RFC 5802 §7).
type ClientFirst struct {
	CBindFlag  string // "n", "y" or "p" (channel binding, with CBindName)
	CBindName  string
	AuthzID    string
	GS2Header  string // "n,," and the like, as sent
	User       string // saslname decoded (=2C is ',', =3D is '=')
	Nonce      string
	Extensions map[string]string // Kafka's SCRAM extensions, e.g. tokenauth
	Bare       string            // the message without the GS2 header
}

// ParseClientFirst decodes a client-first message:
// gs2-cbind-flag "," [a=authzid] "," n=user ",r=" nonce *("," key=value).
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM client-first has no GS2 header", ErrBadToken)
	}
	switch {
	case flag == "n" || flag == "y":
		cf.CBindFlag = flag
	case strings.HasPrefix(flag, "p=") && len(flag) > 2:
		cf.CBindFlag, cf.CBindName = "p", flag[2:]
	default:
		return cf, fmt.Errorf("%w: SCRAM channel-binding flag %q", ErrBadToken, flag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM client-first has no GS2 header", ErrBadToken)
	}
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return cf, fmt.Errorf("%w: SCRAM authorization ID must start with a=", ErrBadToken)
		}
		name, err := decodeSaslName(v)
		if err != nil {
			return cf, err
		}
		cf.AuthzID = name
	}
	cf.GS2Header = msg[:len(msg)-len(bare)]
	cf.Bare = bare
	fields := strings.Split(bare, ",")
	if strings.HasPrefix(fields[0], "m=") {
		return cf, fmt.Errorf("%w: SCRAM mandatory extensions are not supported", ErrBadToken)
	}
	if len(fields) < 2 {
		return cf, fmt.Errorf("%w: SCRAM client-first wants n= and r=", ErrBadToken)
	}
	user, ok := strings.CutPrefix(fields[0], "n=")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM client-first wants n= first", ErrBadToken)
	}
	var err error
	if cf.User, err = decodeSaslName(user); err != nil {
		return cf, err
	}
	if cf.User == "" {
		return cf, fmt.Errorf("%w: SCRAM user name is empty", ErrBadToken)
	}
	if cf.Nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || !printableNonce(cf.Nonce) {
		return cf, fmt.Errorf("%w: SCRAM client-first wants a printable nonce r=", ErrBadToken)
	}
	cf.Extensions, err = parseExtensions(fields[2:])
	return cf, err
}

// ClientFinal is a decoded SCRAM client-final message.
type ClientFinal struct {
	ChannelBinding []byte // c=, decoded: the GS2 header (plus binding data)
	Nonce          string
	Proof          []byte
	WithoutProof   string // the message up to ",p=", part of AuthMessage
}

// ParseClientFinal decodes a client-final message:
// "c=" base64 ",r=" nonce *("," key=value) ",p=" base64.
func ParseClientFinal(msg string) (ClientFinal, error) {
	var cf ClientFinal
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return cf, fmt.Errorf("%w: SCRAM client-final has no proof", ErrBadToken)
	}
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return cf, fmt.Errorf("%w: SCRAM proof is not base64", ErrBadToken)
	}
	cf.Proof = proof
	fields := strings.Split(cf.WithoutProof, ",")
	if len(fields) < 2 {
		return cf, fmt.Errorf("%w: SCRAM client-final wants c= and r=", ErrBadToken)
	}
	cb, ok := strings.CutPrefix(fields[0], "c=")
	if !ok {
		return cf, fmt.Errorf("%w: SCRAM client-final wants c= first", ErrBadToken)
	}
	if cf.ChannelBinding, err = base64.StdEncoding.DecodeString(cb); err != nil {
		return cf, fmt.Errorf("%w: SCRAM channel binding is not base64", ErrBadToken)
	}
	if cf.Nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || cf.Nonce == "" {
		return cf, fmt.Errorf("%w: SCRAM client-final wants r= second", ErrBadToken)
	}
	if _, err := parseExtensions(fields[2:]); err != nil {
		return cf, err
	}
	return cf, nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in SCRAM name", ErrBadToken)
		}
		i += 2
	}
	return b.String(), nil
}

// printableNonce: RFC 5802's printable characters except ','.
func printableNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// parseExtensions reads key=value attributes.
func parseExtensions(fields []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: SCRAM attribute %q is not key=value", ErrBadToken, f)
		}
		out[k] = v
	}
	return out, nil
}
