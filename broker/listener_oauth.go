package broker

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/broker/auth"
)

// OAUTHBEARER on a listener (KIP-768's validator): tokens are JWTs signed
// by a key of the JWKS at sasl.oauthbearer.jwks.endpoint.url (a file or an
// http(s) endpoint), checked against sasl.oauthbearer.expected.issuer and
// sasl.oauthbearer.expected.audience, with the user in the claim named by
// sasl.oauthbearer.sub.claim.name. Each setting may be given for the
// listener (listener.name.<l>.…) or for its mechanism
// (listener.name.<l>.oauthbearer.…). Unsigned ("unsecured") tokens are
// never accepted.

// oauthSettings are a listener's OAUTHBEARER settings.
type oauthSettings struct {
	jwksURL   string
	refresh   time.Duration
	validator *auth.JWTValidator // set by open
}

// readOAuthSettings reads the settings without fetching the key set.
func readOAuthSettings(listener string, get func(string) (string, bool)) (*oauthSettings, error) {
	lookup := func(name string) (string, bool) {
		if v, ok := get("oauthbearer." + name); ok {
			return strings.TrimSpace(v), true
		}
		v, ok := get(name)
		return strings.TrimSpace(v), ok
	}
	ms := func(name string, def int64) (int64, error) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%s: want a number >= 0", name, v)
		}
		return n, nil
	}
	o := &oauthSettings{validator: &auth.JWTValidator{}}
	url, _ := lookup("sasl.oauthbearer.jwks.endpoint.url")
	if url == "" {
		return nil, fmt.Errorf("OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url (a JWKS file or URL); unsecured tokens are not accepted")
	}
	o.jwksURL = url
	refresh, err := ms("sasl.oauthbearer.jwks.endpoint.refresh.ms", 3600000)
	if err != nil {
		return nil, err
	}
	o.refresh = time.Duration(refresh) * time.Millisecond
	skew, err := ms("sasl.oauthbearer.clock.skew.seconds", 30)
	if err != nil {
		return nil, err
	}
	o.validator.ClockSkew = time.Duration(skew) * time.Second
	o.validator.Issuer, _ = lookup("sasl.oauthbearer.expected.issuer")
	if aud, _ := lookup("sasl.oauthbearer.expected.audience"); aud != "" {
		for _, a := range strings.Split(aud, ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.validator.Audience = append(o.validator.Audience, a)
			}
		}
	}
	o.validator.SubClaim, _ = lookup("sasl.oauthbearer.sub.claim.name")
	return o, nil
}

// open loads the key set.
func (o *oauthSettings) open() error {
	src, err := auth.NewJWKSSource(o.jwksURL, o.refresh)
	if err != nil {
		return err
	}
	o.validator.Keys = src.Keys
	return nil
}
