package auth

import (
	"errors"
)

// SASL mechanism names, as clients ask for them in SaslHandshake.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Errors of a SASL exchange. Both are answered with
// SASL_AUTHENTICATION_FAILED; the message of ErrAuthenticationFailed never
// says which part of the credentials was wrong.
var (
	// ErrAuthenticationFailed: unknown user or wrong password.
	ErrAuthenticationFailed = errors.New("authentication failed: invalid credentials")
	// ErrBadToken: a client token that does not parse, or a step that does
	// not fit the exchange.
	ErrBadToken = errors.New("authentication failed: malformed SASL token")
)

// Mechanism is the server side of one SASL exchange on one connection.
type Mechanism interface {
	// Name is the mechanism's name, e.g. PLAIN.
	Name() string
	// Step takes the client's next token and returns the server's reply
	// and whether the exchange is complete and successful. An error ends
	// the exchange; the client is not authenticated.
	Step(token []byte) (challenge []byte, done bool, err error)
	// Principal is the authenticated principal once Step reported done.
	Principal() Principal
}
