package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// PlainMessage is a decoded SASL/PLAIN client message (RFC 4616):
// authzid NUL authcid NUL passwd.
type PlainMessage struct {
	AuthzID  string
	Username string
	Password string
}

// ParsePlain decodes a SASL/PLAIN message. It must have exactly three
// NUL-separated parts with a non-empty user name and password.
func ParsePlain(token []byte) (PlainMessage, error) {
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return PlainMessage{}, fmt.Errorf("%w: SASL/PLAIN wants 3 NUL-separated parts, got %d", ErrBadToken, len(parts))
	}
	m := PlainMessage{AuthzID: string(parts[0]), Username: string(parts[1]), Password: string(parts[2])}
	if m.Username == "" {
		return m, fmt.Errorf("%w: SASL/PLAIN user name is empty", ErrBadToken)
	}
	if m.Password == "" {
		return m, fmt.Errorf("%w: SASL/PLAIN password is empty", ErrBadToken)
	}
	return m, nil
}

// Plain is the server side of SASL/PLAIN against a fixed user list, such
// as the user_<name>="<password>" options of a broker's
// PlainLoginModule.
type Plain struct {
	users     map[string]string
	principal Principal
	done      bool
}

// NewPlain returns a PLAIN exchange that accepts the given users (name to
// password). The map is read, never changed.
func NewPlain(users map[string]string) *Plain { return &Plain{users: users} }

// Name is PLAIN.
func (p *Plain) Name() string { return MechanismPlain }

// Principal is User:<name> after a successful Step.
func (p *Plain) Principal() Principal { return p.principal }

// Step checks the client's one message. PLAIN answers with an empty token.
func (p *Plain) Step(token []byte) ([]byte, bool, error) {
	if p.done {
		return nil, false, fmt.Errorf("%w: SASL/PLAIN takes one message", ErrBadToken)
	}
	p.done = true
	m, err := ParsePlain(token)
	if err != nil {
		return nil, false, err
	}
	if m.AuthzID != "" && m.AuthzID != m.Username {
		return nil, false, fmt.Errorf("%w: the authorization ID differs from the user name", ErrBadToken)
	}
	want, ok := p.users[m.Username]
	// Compare digests so the time taken says nothing about the password's
	// length or whether the user exists.
	a, b := sha256.Sum256([]byte(m.Password)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 || !ok {
		return nil, false, fmt.Errorf("%w for SASL mechanism PLAIN", ErrAuthenticationFailed)
	}
	p.principal = User(m.Username)
	return []byte{}, true, nil
}
