package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// tokenIssuer signs JWTs with an EC key published in a JWKS file.
type tokenIssuer struct {
	t    *testing.T
	key  *ecdsa.PrivateKey
	jwks string
}

func newTokenIssuer(t *testing.T) *tokenIssuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "test-key", Algorithm: "ES256", Use: "sig"}}}
	data, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tokenIssuer{t: t, key: key, jwks: path}
}

func (ti *tokenIssuer) token(sub, aud string, ttl time.Duration) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ti.key}, (&jose.SignerOptions{}).WithHeader("kid", "test-key"))
	if err != nil {
		ti.t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Subject: sub, Issuer: "https://idp.test", Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl))}).Serialize()
	if err != nil {
		ti.t.Fatal(err)
	}
	return tok
}

func TestSASLOAuthBearer(t *testing.T) {
	ti := newTokenIssuer(t)
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "OAUTHBEARER"),
		brokertest.WithProperty("listener.name.sasl_plaintext.oauthbearer.sasl.oauthbearer.jwks.endpoint.url", "file://"+ti.jwks),
		brokertest.WithProperty("sasl.oauthbearer.expected.audience", "kafka"),
		brokertest.WithProperty("sasl.oauthbearer.expected.issuer", "https://idp.test"),
		brokertest.WithProperty("sasl.oauthbearer.clock.skew.seconds", "0"),
		brokertest.WithProperty("connections.max.reauth.ms", "600000"),
	)
	good := kgo.SASL(oauth.Auth{Token: ti.token("svc-orders", "kafka", time.Hour)}.AsMechanism())
	if err := produceConsume(t, b.Addr(), "oauth", good); err != nil {
		t.Fatalf("a valid token: %v", err)
	}
	for name, tok := range map[string]string{
		"expired":        ti.token("svc-orders", "kafka", -time.Minute),
		"wrong audience": ti.token("svc-orders", "billing", time.Hour),
		"another key":    newTokenIssuer(t).token("svc-orders", "kafka", time.Hour),
	} {
		err := requestErr(t, b.Addr(), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: got %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}

	// The session lasts no longer than the token: a 3-second token gets a
	// lifetime of at most 3 seconds (connections.max.reauth.ms is 10 min),
	// and franz-go logs in again with a fresh token before it ends.
	var fetched atomic.Int32
	fresh := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		fetched.Add(1)
		return oauth.Auth{Token: ti.token("svc-orders", "kafka", 3*time.Second)}, nil
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.SASL(fresh))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatalf("request with short-lived tokens: %v", err)
		}
	}
	if n := fetched.Load(); n < 3 {
		t.Fatalf("franz-go fetched %d tokens in 5s of 3-second tokens; the session lifetime did not follow the token", n)
	}
}
