package kafkasec

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// OAuthBearerLoginModule is the login module class of SASL/OAUTHBEARER.
const OAuthBearerLoginModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"

// oauthClient fetches OAUTHBEARER tokens with the OAuth client
// credentials grant (KIP-768): Kafka's sasl.oauthbearer.token.endpoint.url
// with clientId, clientSecret and scope from the OAuthBearerLoginModule
// options, or librdkafka's sasl.oauthbearer.client.id,
// sasl.oauthbearer.client.secret and sasl.oauthbearer.scope.
type oauthClient struct {
	endpoint, clientID, secret, scope string
	http                              *http.Client
}

// readOAuthClient reads the token endpoint settings.
func readOAuthClient(get func(string) (string, bool), jaas *LoginModule) (*oauthClient, error) {
	c := &oauthClient{http: &http.Client{Timeout: 30 * time.Second}}
	c.endpoint, _ = get("sasl.oauthbearer.token.endpoint.url")
	c.clientID, _ = get("sasl.oauthbearer.client.id")
	c.secret, _ = get("sasl.oauthbearer.client.secret")
	c.scope, _ = get("sasl.oauthbearer.scope")
	if jaas != nil {
		if jaas.Class != OAuthBearerLoginModule {
			return nil, fmt.Errorf("%w: sasl.mechanism=OAUTHBEARER wants %s in sasl.jaas.config, not %s", ErrBadClientConfig, OAuthBearerLoginModule, jaas.Class)
		}
		for k, dst := range map[string]*string{"clientId": &c.clientID, "clientSecret": &c.secret, "scope": &c.scope} {
			if v, ok := jaas.Options[k]; ok {
				*dst = v
			}
		}
	}
	if c.endpoint == "" || c.clientID == "" || c.secret == "" {
		return nil, fmt.Errorf("%w: sasl.mechanism=OAUTHBEARER needs sasl.oauthbearer.token.endpoint.url and a client ID and secret (OAuthBearerLoginModule clientId and clientSecret)", ErrBadClientConfig)
	}
	return c, nil
}

// mechanism fetches a fresh token for every login (and re-login).
func (c *oauthClient) mechanism() sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, err := c.token(ctx)
		return oauth.Auth{Token: tok}, err
	})
}

// token runs the client credentials grant.
func (c *oauthClient) token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.scope != "" {
		form.Set("scope", c.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(c.secret))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint %s: HTTP %s: %s", c.endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("token endpoint %s: no access_token in the response", c.endpoint)
	}
	return out.AccessToken, nil
}
