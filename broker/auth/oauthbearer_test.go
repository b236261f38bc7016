package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// issuer signs test tokens.
type issuer struct {
	t   *testing.T
	key any
	alg jose.SignatureAlgorithm
	kid string
}

func newRSAIssuer(t *testing.T, kid string) *issuer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{t: t, key: k, alg: jose.RS256, kid: kid}
}

func newECIssuer(t *testing.T, kid string) *issuer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{t: t, key: k, alg: jose.ES256, kid: kid}
}

func (is *issuer) public() jose.JSONWebKey {
	var pub any
	switch k := is.key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	}
	return jose.JSONWebKey{Key: pub, KeyID: is.kid, Algorithm: string(is.alg), Use: "sig"}
}

func (is *issuer) sign(claims map[string]any) string {
	is.t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if is.kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), is.kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: is.alg, Key: is.key}, opts)
	if err != nil {
		is.t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}

func claims(sub string, exp time.Time, extra ...any) map[string]any {
	c := map[string]any{"sub": sub, "exp": exp.Unix(), "iat": time.Now().Unix(), "iss": "https://idp.example", "aud": []string{"kafka"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	return c
}

func TestJWTValidator(t *testing.T) {
	rsaIss, ecIss := newRSAIssuer(t, "rsa-1"), newECIssuer(t, "ec-1")
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaIss.public(), ecIss.public()}}
	v := &JWTValidator{Keys: func() (*jose.JSONWebKeySet, error) { return set, nil }, Issuer: "https://idp.example",
		Audience: []string{"other", "kafka"}, ClockSkew: 30 * time.Second}
	hour := time.Now().Add(time.Hour)

	for name, tok := range map[string]string{"RS256": rsaIss.sign(claims("alice", hour)), "ES256": ecIss.sign(claims("alice", hour))} {
		sub, exp, err := v.Validate(tok)
		if err != nil || sub != "alice" || exp.Unix() != hour.Unix() {
			t.Errorf("%s: %q %v %v", name, sub, exp, err)
		}
	}
	// Another claim names the user.
	v2 := *v
	v2.SubClaim = "preferred_username"
	if sub, _, err := v2.Validate(rsaIss.sign(claims("x", hour, "preferred_username", "bob"))); err != nil || sub != "bob" {
		t.Errorf("sub.claim.name: %q %v", sub, err)
	}

	stranger := newRSAIssuer(t, "rsa-1") // same kid, another key
	noKid := newRSAIssuer(t, "")
	noKid.key = rsaIss.key
	hmacKey := []byte("a shared secret that the broker must never accept!!")
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey}, (&jose.SignerOptions{}).WithHeader("kid", "rsa-1"))
	hsTok, _ := jwt.Signed(hs).Claims(claims("alice", hour)).Serialize()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"rsa-1"}`))
	body, _ := json.Marshal(claims("alice", hour))
	noneTok := header + "." + base64.RawURLEncoding.EncodeToString(body) + "."
	bad := map[string]string{
		"another key, same kid": stranger.sign(claims("alice", hour)),
		"unknown kid":           newRSAIssuer(t, "rsa-2").sign(claims("alice", hour)),
		"no kid":                noKid.sign(claims("alice", hour)),
		"expired":               rsaIss.sign(claims("alice", time.Now().Add(-time.Minute))),
		"not yet valid":         rsaIss.sign(claims("alice", hour, "nbf", time.Now().Add(10*time.Minute).Unix())),
		"wrong issuer":          rsaIss.sign(claims("alice", hour, "iss", "https://evil.example")),
		"wrong audience":        rsaIss.sign(claims("alice", hour, "aud", []string{"billing"})),
		"no subject":            rsaIss.sign(claims("", hour)),
		"no expiry":             rsaIss.sign(claims("alice", hour, "exp", nil)),
		"HMAC":                  hsTok,
		"alg none":              noneTok,
		"garbage":               "not.a.jwt",
	}
	for name, tok := range bad {
		if sub, _, err := v.Validate(tok); err == nil {
			t.Errorf("%s: accepted as %q", name, sub)
		}
	}
	// Within the clock skew an expired token still passes.
	if _, _, err := v.Validate(rsaIss.sign(claims("alice", time.Now().Add(-10*time.Second)))); err != nil {
		t.Errorf("within clock skew: %v", err)
	}
}

func bearer(tok string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01\x01") }

func TestOAuthBearerExchange(t *testing.T) {
	is := newRSAIssuer(t, "k")
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{is.public()}}
	v := &JWTValidator{Keys: func() (*jose.JSONWebKeySet, error) { return set, nil }}
	exp := time.Now().Add(time.Hour)
	o := NewOAuthBearer(v)
	out, done, err := o.Step(bearer(is.sign(claims("svc-1", exp))))
	if err != nil || !done || len(out) != 0 || o.Principal() != User("svc-1") || o.SessionExpiry().Unix() != exp.Unix() {
		t.Fatalf("exchange: %q %v %v %v", out, done, err, o.Principal())
	}
	o = NewOAuthBearer(v)
	if _, _, err := o.Step(bearer(is.sign(claims("svc-1", time.Now().Add(-time.Hour))))); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("expired token: %v", err)
	}
	o = NewOAuthBearer(v)
	if _, _, err := o.Step([]byte("n,a=other,\x01auth=Bearer " + is.sign(claims("svc-1", exp)) + "\x01\x01")); !errors.Is(err, ErrBadToken) {
		t.Errorf("authzid of another user: %v", err)
	}
}

func TestParseOAuthBearer(t *testing.T) {
	m, err := ParseOAuthBearer([]byte("n,a=alice,\x01host=broker\x01auth=Bearer abc.def.ghi\x01port=9092\x01\x01"))
	if err != nil || m.AuthzID != "alice" || m.Token != "abc.def.ghi" || m.Extensions["host"] != "broker" || m.Extensions["port"] != "9092" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, s := range []string{
		"", "n,,", "n,,\x01auth=Bearer x\x01", "p=x,,\x01auth=Bearer x\x01\x01", "n,b=x,\x01auth=Bearer x\x01\x01",
		"n,,\x01auth=Basic x\x01\x01", "n,,\x01auth=Bearer \x01\x01", "n,,\x01host=x\x01\x01", "n,,\x01junk\x01auth=Bearer x\x01\x01",
	} {
		if _, err := ParseOAuthBearer([]byte(s)); !errors.Is(err, ErrBadToken) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func FuzzParseOAuthBearer(f *testing.F) {
	for _, s := range []string{"n,,\x01auth=Bearer a.b.c\x01\x01", "y,a=u,\x01k=v\x01auth=Bearer t\x01\x01", "n,,\x01\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseOAuthBearer(b)
		if err != nil {
			return
		}
		if m.Token == "" || strings.ContainsAny(m.Token, "\x01") {
			t.Fatalf("accepted %q as %+v", b, m)
		}
	})
}

func TestJWKSSource(t *testing.T) {
	a, b := newRSAIssuer(t, "a"), newECIssuer(t, "b")
	write := func(path string, keys ...jose.JSONWebKey) {
		data, _ := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Rename(tmp, path)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	write(path, a.public())
	src, err := NewJWKSSource("file://"+path, 0)
	if err != nil {
		t.Fatal(err)
	}
	kids := func() string {
		set, err := src.Keys()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range set.Keys {
			ids = append(ids, k.KeyID)
		}
		return strings.Join(ids, ",")
	}
	if kids() != "a" {
		t.Fatalf("keys %s", kids())
	}
	write(path, a.public(), b.public()) // key rotation: the file changes
	if kids() != "a,b" {
		t.Fatalf("after rotation keys %s", kids())
	}
	os.WriteFile(path, []byte("{broken"), 0o600)
	if kids() != "a,b" {
		t.Fatalf("a broken file replaced the keys: %s", kids())
	}
	// A private key in the set is refused.
	priv := jose.JSONWebKey{Key: a.key, KeyID: "p"}
	write(path, priv)
	if _, err := NewJWKSSource(path, 0); err == nil {
		t.Error("a JWKS with a private key loaded")
	}

	// An HTTP endpoint, fetched again after the refresh interval.
	keys := []jose.JSONWebKey{a.public()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	defer srv.Close()
	src, err = NewJWKSSource(srv.URL, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	keys = []jose.JSONWebKey{b.public()}
	time.Sleep(60 * time.Millisecond)
	if kids() != "b" {
		t.Fatalf("endpoint keys %s after refresh", kids())
	}
	if _, err := NewJWKSSource(srv.URL+"/missing\x00", 0); err == nil {
		t.Error("a bad URL loaded")
	}
}
