package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestCLIOAuthBearer: the CLI gets tokens from an OAuth token endpoint
// with the client credentials grant and logs in with them over
// OAUTHBEARER; the broker checks them against the endpoint's JWKS.
func TestCLIOAuthBearer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var grants atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "orders-app" || secret != "s3cret" || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "kafka" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		grants.Add(1)
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		tok, _ := jwt.Signed(sig).Claims(jwt.Claims{Subject: id, Audience: jwt.Audience{"kafka"}, Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	})
	idp := httptest.NewServer(mux)
	defer idp.Close()

	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "OAUTHBEARER"),
		brokertest.WithProperty("sasl.oauthbearer.jwks.endpoint.url", idp.URL+"/jwks"),
		brokertest.WithProperty("sasl.oauthbearer.expected.audience", "kafka"),
	)
	cfg := writeFile(t, "oauth.properties", `security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.oauthbearer.token.endpoint.url=`+idp.URL+`/token
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="orders-app" clientSecret="s3cret" scope="kafka";
`)
	ok(t, b.Addr(), "one\n", "--command-config", cfg, "produce", "oauth-topic")
	if grants.Load() == 0 {
		t.Fatal("the CLI never asked the token endpoint")
	}
	bad := writeFile(t, "bad.properties", `security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.oauthbearer.token.endpoint.url=`+idp.URL+`/token
sasl.oauthbearer.client.id=orders-app
sasl.oauthbearer.client.secret=wrong
`)
	fails(t, b.Addr(), "", 1, "invalid_client", "--command-config", bad, "topics", "list")
	fails(t, b.Addr(), "", 2, "sasl.oauthbearer.token.endpoint.url", "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=OAUTHBEARER", "topics", "list")
}
