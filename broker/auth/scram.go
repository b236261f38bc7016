package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// ScramMechanism is one SCRAM variant (RFC 5802, RFC 7677) with Kafka's
// iteration bounds.
type ScramMechanism struct {
	Name          string
	Code          int8 // Kafka's mechanism code in the SCRAM credential APIs
	Hash          func() hash.Hash
	MinIterations int
	MaxIterations int
}

// The SCRAM mechanisms Kafka defines.
var (
	ScramSHA256 = ScramMechanism{Name: MechanismScramSHA256, Code: 1, Hash: sha256.New, MinIterations: 4096, MaxIterations: 16384}
	ScramSHA512 = ScramMechanism{Name: MechanismScramSHA512, Code: 2, Hash: sha512.New, MinIterations: 4096, MaxIterations: 16384}
)

// ScramByName returns the SCRAM mechanism of a name.
func ScramByName(name string) (ScramMechanism, bool) {
	switch name {
	case MechanismScramSHA256:
		return ScramSHA256, true
	case MechanismScramSHA512:
		return ScramSHA512, true
	}
	return ScramMechanism{}, false
}

// ScramByCode returns the SCRAM mechanism of Kafka's code (1 or 2).
func ScramByCode(code int8) (ScramMechanism, bool) {
	switch code {
	case 1:
		return ScramSHA256, true
	case 2:
		return ScramSHA512, true
	}
	return ScramMechanism{}, false
}

// ScramCredential is what a server keeps of a SCRAM password: never the
// password, only the salt, the iteration count and the derived keys.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// SaltedPassword is Hi(password, salt, iterations): PBKDF2 with the
// mechanism's HMAC.
func (m ScramMechanism) SaltedPassword(password string, salt []byte, iterations int) ([]byte, error) {
	out, err := pbkdf2.Key(m.Hash, password, salt, iterations, m.Hash().Size())
	if err != nil {
		return nil, fmt.Errorf("auth: %s salted password: %w", m.Name, err)
	}
	return out, nil
}

// CredentialFromSalted derives the stored credential from a salted
// password (what AlterUserScramCredentials carries).
func (m ScramMechanism) CredentialFromSalted(salted, salt []byte, iterations int) ScramCredential {
	clientKey := m.hmac(salted, []byte("Client Key"))
	h := m.Hash()
	h.Write(clientKey)
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  h.Sum(nil),
		ServerKey:  m.hmac(salted, []byte("Server Key")),
		Iterations: iterations,
	}
}

// NewCredential salts password with a fresh random salt.
func (m ScramMechanism) NewCredential(password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := m.SaltedPassword(password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return m.CredentialFromSalted(salted, salt, iterations), nil
}

func (m ScramMechanism) hmac(key, msg []byte) []byte {
	mac := hmac.New(m.Hash, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// ScramLookup finds a user's credential for a mechanism.
type ScramLookup func(user string) (ScramCredential, bool)

// Scram is the server side of one SCRAM exchange: client-first, then
// client-final; it answers server-first, then server-final.
type Scram struct {
	mech   ScramMechanism
	lookup ScramLookup
	// secret makes the made-up credential of an unknown user, so the
	// exchange goes on as for a known one and fails at the proof.
	secret []byte
	nonce  func() string

	step      int
	first     ClientFirst
	cred      ScramCredential
	known     bool
	fullNonce string
	serverMsg string
	principal Principal
}

// NewScram returns a SCRAM exchange. secret (any bytes stable for the
// broker's life) derives the decoy salt of unknown users; nonce makes the
// server's nonce (nil for 24 random bytes).
func NewScram(mech ScramMechanism, lookup ScramLookup, secret []byte, nonce func() string) *Scram {
	if nonce == nil {
		nonce = randomNonce
	}
	return &Scram{mech: mech, lookup: lookup, secret: secret, nonce: nonce}
}

func randomNonce() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Name is the mechanism's name.
func (s *Scram) Name() string { return s.mech.Name }

// Principal is User:<name> after a successful exchange.
func (s *Scram) Principal() Principal { return s.principal }

// Step takes client-first (returning server-first) and then client-final
// (returning server-final and done).
func (s *Scram) Step(token []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		return s.clientFirst(token)
	case 2:
		return s.final(token)
	}
	return nil, false, fmt.Errorf("%w: the %s exchange is over", ErrBadToken, s.mech.Name)
}

func (s *Scram) clientFirst(token []byte) ([]byte, bool, error) {
	cf, err := ParseClientFirst(string(token))
	if err != nil {
		return nil, false, err
	}
	if cf.CBindFlag == "p" {
		return nil, false, fmt.Errorf("%w: channel binding is not supported", ErrBadToken)
	}
	if cf.AuthzID != "" && cf.AuthzID != cf.User {
		return nil, false, fmt.Errorf("%w: the authorization ID differs from the user name", ErrBadToken)
	}
	if cf.Extensions["tokenauth"] == "true" {
		return nil, false, fmt.Errorf("%w: delegation tokens are not supported", ErrBadToken)
	}
	s.first = cf
	s.cred, s.known = s.lookup(cf.User)
	if !s.known {
		s.cred = s.decoy(cf.User)
	}
	s.fullNonce = cf.Nonce + s.nonce()
	s.serverMsg = "r=" + s.fullNonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.serverMsg), false, nil
}

// decoy is a stable made-up credential for an unknown user: the same
// salt every time, and keys no password produces.
func (s *Scram) decoy(user string) ScramCredential {
	salt := s.mech.hmac(s.secret, []byte("salt:"+user))
	return ScramCredential{
		Salt:       salt[:16],
		StoredKey:  s.mech.hmac(s.secret, []byte("stored:"+user)),
		ServerKey:  s.mech.hmac(s.secret, []byte("server:"+user)),
		Iterations: s.mech.MinIterations,
	}
}

func (s *Scram) final(token []byte) ([]byte, bool, error) {
	cf, err := ParseClientFinal(string(token))
	if err != nil {
		return nil, false, err
	}
	if string(cf.ChannelBinding) != s.first.GS2Header {
		return nil, false, fmt.Errorf("%w: channel binding does not match the first message", ErrBadToken)
	}
	// The nonce must end with the one the server sent. librdkafka (2.0 at
	// least) puts its own nonce in front of it once more, and Kafka's
	// brokers accept that; the proof covers the message as sent.
	if !strings.HasSuffix(cf.Nonce, s.fullNonce) {
		return nil, false, fmt.Errorf("%w: nonce does not match", ErrBadToken)
	}
	authMsg := s.first.Bare + "," + s.serverMsg + "," + cf.WithoutProof
	clientSig := s.mech.hmac(s.cred.StoredKey, []byte(authMsg))
	if len(cf.Proof) != len(clientSig) {
		return nil, false, fmt.Errorf("%w for SASL mechanism %s", ErrAuthenticationFailed, s.mech.Name)
	}
	clientKey := make([]byte, len(clientSig))
	for i := range clientKey {
		clientKey[i] = cf.Proof[i] ^ clientSig[i]
	}
	h := s.mech.Hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) || !s.known {
		return nil, false, fmt.Errorf("%w for SASL mechanism %s", ErrAuthenticationFailed, s.mech.Name)
	}
	s.principal = User(s.first.User)
	serverSig := s.mech.hmac(s.cred.ServerKey, []byte(authMsg))
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
}
