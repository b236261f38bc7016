package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MechanismOAuthBearer is SASL/OAUTHBEARER (RFC 7628, KIP-255, KIP-768).
const MechanismOAuthBearer = "OAUTHBEARER"

// OAuthBearerMessage is a decoded OAUTHBEARER client message (RFC 7628
// §3.1): a GS2 header, then key=value pairs separated by %x01, one of
// them auth=Bearer <token>.
type OAuthBearerMessage struct {
	AuthzID    string
	Token      string
	Extensions map[string]string // the other key=value pairs
}

// ParseOAuthBearer decodes an OAUTHBEARER client message.
func ParseOAuthBearer(msg []byte) (OAuthBearerMessage, error) {
	var m OAuthBearerMessage
	s := string(msg)
	gs2, rest, ok := strings.Cut(s, "\x01")
	if !ok || !strings.HasSuffix(rest, "\x01\x01") {
		return m, fmt.Errorf("%w: OAUTHBEARER message is not gs2-header %%x01 key=value... %%x01 %%x01", ErrBadToken)
	}
	flag, authz, ok := strings.Cut(gs2, ",")
	if !ok || (flag != "n" && flag != "y") || !strings.HasSuffix(authz, ",") {
		return m, fmt.Errorf("%w: OAUTHBEARER GS2 header %q", ErrBadToken, gs2)
	}
	authz = strings.TrimSuffix(authz, ",")
	if authz != "" {
		name, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return m, fmt.Errorf("%w: OAUTHBEARER authorization ID must start with a=", ErrBadToken)
		}
		var err error
		if m.AuthzID, err = decodeSaslName(name); err != nil {
			return m, err
		}
	}
	m.Extensions = map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return m, fmt.Errorf("%w: OAUTHBEARER pair %q is not key=value", ErrBadToken, kv)
		}
		if k == "auth" {
			tok, ok := strings.CutPrefix(v, "Bearer ")
			if !ok || strings.TrimSpace(tok) == "" {
				return m, fmt.Errorf("%w: OAUTHBEARER auth is not \"Bearer <token>\"", ErrBadToken)
			}
			m.Token = strings.TrimSpace(tok)
			continue
		}
		m.Extensions[k] = v
	}
	if m.Token == "" {
		return m, fmt.Errorf("%w: OAUTHBEARER message has no auth=Bearer token", ErrBadToken)
	}
	return m, nil
}

// JWTValidator checks OAUTHBEARER tokens: JWS-signed JWTs whose key (by
// the header's kid) is in a JWKS, with an expiry, an optional expected
// issuer and audience, and a subject claim naming the user.
type JWTValidator struct {
	// Keys returns the current key set (a JWKS file or endpoint, reloaded
	// by its owner).
	Keys      func() (*jose.JSONWebKeySet, error)
	Issuer    string        // sasl.oauthbearer.expected.issuer ("" skips the check)
	Audience  []string      // sasl.oauthbearer.expected.audience (any of them; empty skips)
	SubClaim  string        // sasl.oauthbearer.sub.claim.name (default sub)
	ClockSkew time.Duration // sasl.oauthbearer.clock.skew.seconds
	Now       func() time.Time
}

// jwtAlgorithms are the signature algorithms accepted (never "none", never
// HMAC: the key set holds public keys).
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Validate checks a token and returns its subject and expiry.
func (v *JWTValidator) Validate(token string) (string, time.Time, error) {
	tok, err := jwt.ParseSigned(token, jwtAlgorithms)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: %w", err)
	}
	keys, err := v.Keys()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("key set: %w", err)
	}
	var claims jwt.Claims
	extra := map[string]any{}
	if err := tok.Claims(keys, &claims, &extra); err != nil {
		return "", time.Time{}, fmt.Errorf("signature: %w", err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if claims.Expiry == nil {
		return "", time.Time{}, errors.New("the token has no exp claim")
	}
	exp := jwt.Expected{Issuer: v.Issuer, AnyAudience: v.Audience, Time: now()}
	if err := claims.ValidateWithLeeway(exp, v.ClockSkew); err != nil {
		return "", time.Time{}, err
	}
	name := v.SubClaim
	if name == "" {
		name = "sub"
	}
	sub, _ := extra[name].(string)
	if strings.TrimSpace(sub) == "" {
		return "", time.Time{}, fmt.Errorf("the token has no %s claim", name)
	}
	return sub, claims.Expiry.Time(), nil
}

// OAuthBearer is the server side of one OAUTHBEARER exchange.
type OAuthBearer struct {
	validator *JWTValidator
	done      bool
	principal Principal
	expiry    time.Time
}

// NewOAuthBearer returns an exchange checking tokens with v.
func NewOAuthBearer(v *JWTValidator) *OAuthBearer { return &OAuthBearer{validator: v} }

// Name is OAUTHBEARER.
func (o *OAuthBearer) Name() string { return MechanismOAuthBearer }

// Principal is User:<subject> after a successful Step.
func (o *OAuthBearer) Principal() Principal { return o.principal }

// SessionExpiry is when the token expires: the session may not outlive it.
func (o *OAuthBearer) SessionExpiry() time.Time { return o.expiry }

// Step checks the client's one message and answers with an empty token.
func (o *OAuthBearer) Step(msg []byte) ([]byte, bool, error) {
	if o.done {
		return nil, false, fmt.Errorf("%w: OAUTHBEARER takes one message", ErrBadToken)
	}
	o.done = true
	m, err := ParseOAuthBearer(msg)
	if err != nil {
		return nil, false, err
	}
	sub, exp, err := o.validator.Validate(m.Token)
	if err != nil {
		return nil, false, fmt.Errorf("%w for SASL mechanism OAUTHBEARER: %w", ErrAuthenticationFailed, err)
	}
	if m.AuthzID != "" && m.AuthzID != sub {
		return nil, false, fmt.Errorf("%w: the authorization ID differs from the token's subject", ErrBadToken)
	}
	o.principal, o.expiry = User(sub), exp
	return []byte{}, true, nil
}
