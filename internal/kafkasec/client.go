package kafkasec

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ErrBadClientConfig is returned for client properties that cannot be used.
var ErrBadClientConfig = errors.New("bad client security config")

// clientKeys are the client properties ClientOpts reads: Kafka's Java
// client names, plus librdkafka's (kcat's) for the same settings.
var clientKeys = map[string]bool{
	"security.protocol": true, "sasl.mechanism": true, "sasl.mechanisms": true, "sasl.jaas.config": true,
	"sasl.username": true, "sasl.password": true, "client.id": true,
	"ssl.ca.location": true, "ssl.certificate.location": true, "ssl.key.location": true,
	"enable.ssl.certificate.verification": true,
	"sasl.oauthbearer.token.endpoint.url": true, "sasl.oauthbearer.client.id": true,
	"sasl.oauthbearer.client.secret": true, "sasl.oauthbearer.scope": true, "sasl.oauthbearer.method": true,
}

func init() {
	for _, k := range TLSSettingNames {
		clientKeys[k] = true
	}
}

// UnusedClientKeys lists the properties ClientOpts does not read, sorted,
// so a caller can warn about typos.
func UnusedClientKeys(props map[string]string) []string {
	var out []string
	for k := range props {
		if !clientKeys[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// ClientOpts turns a client's properties (a --command-config file, say)
// into franz-go options: security.protocol (PLAINTEXT, SSL,
// SASL_PLAINTEXT or SASL_SSL), the ssl.* stores (PEM), sasl.mechanism
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the user name and password
// from sasl.jaas.config or sasl.username and sasl.password, OAUTHBEARER
// with tokens from sasl.oauthbearer.token.endpoint.url (oauth.go), and
// client.id.
// librdkafka's names are read too: sasl.mechanisms, ssl.ca.location,
// ssl.certificate.location, ssl.key.location and
// enable.ssl.certificate.verification.
func ClientOpts(props map[string]string) ([]kgo.Opt, error) {
	get := func(k string) (string, bool) { v, ok := props[k]; return strings.TrimSpace(v), ok }
	var opts []kgo.Opt
	if id, ok := get("client.id"); ok && id != "" {
		opts = append(opts, kgo.ClientID(id))
	}
	proto, _ := get("security.protocol")
	proto = strings.ToUpper(proto)
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("%w: security.protocol=%s: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", ErrBadClientConfig, proto)
	}
	if useTLS {
		cfg, err := clientTLS(get)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if useSASL {
		m, err := clientSASL(get)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// clientTLS builds the TLS configuration, mapping librdkafka's file
// settings onto Kafka's.
func clientTLS(get func(string) (string, bool)) (*tls.Config, error) {
	s := ReadTLSSettings(get)
	if v, ok := get("ssl.ca.location"); ok && s.TruststoreLocation == "" && s.TruststoreCertificates == "" {
		s.TruststoreLocation = v
	}
	cert, hasCert := get("ssl.certificate.location")
	key, hasKey := get("ssl.key.location")
	if hasCert || hasKey {
		if !hasCert || !hasKey {
			return nil, fmt.Errorf("%w: ssl.certificate.location and ssl.key.location go together", ErrBadClientConfig)
		}
		c, err := os.ReadFile(cert)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl.certificate.location: %w", ErrBadClientConfig, err)
		}
		k, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("%w: ssl.key.location: %w", ErrBadClientConfig, err)
		}
		s.KeystoreCertChain, s.KeystoreKey = string(c), string(k)
	}
	if strings.EqualFold(s.EndpointIdentification, "none") {
		s.EndpointIdentification = ""
	}
	cfg, err := s.Config(false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadClientConfig, err)
	}
	if v, ok := get("enable.ssl.certificate.verification"); ok && strings.EqualFold(v, "false") {
		cfg.InsecureSkipVerify, cfg.VerifyConnection = true, nil
	}
	return cfg, nil
}

// clientSASL picks the mechanism and its credentials.
func clientSASL(get func(string) (string, bool)) (sasl.Mechanism, error) {
	mech, ok := get("sasl.mechanism")
	if !ok {
		mech, ok = get("sasl.mechanisms")
	}
	if !ok || mech == "" {
		mech = "GSSAPI" // Kafka's default
	}
	mech = strings.ToUpper(mech)
	user, _ := get("sasl.username")
	pass, _ := get("sasl.password")
	var mod *LoginModule
	if jaas, ok := get("sasl.jaas.config"); ok {
		m, err := ParseSingleJAAS(jaas)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadClientConfig, err)
		}
		mod = &m
	}
	if mech == "OAUTHBEARER" {
		c, err := readOAuthClient(get, mod)
		if err != nil {
			return nil, err
		}
		return c.mechanism(), nil
	}
	if mod != nil {
		want := PlainLoginModule
		if strings.HasPrefix(mech, "SCRAM-") {
			want = ScramLoginModule
		}
		if mod.Class != want {
			return nil, fmt.Errorf("%w: sasl.mechanism=%s wants %s in sasl.jaas.config, not %s", ErrBadClientConfig, mech, want, mod.Class)
		}
		user, pass = mod.Options["username"], mod.Options["password"]
	}
	if mech != "GSSAPI" && (user == "" || pass == "") {
		return nil, fmt.Errorf("%w: sasl.mechanism=%s needs a user name and password (sasl.jaas.config username=\"...\" password=\"...\", or sasl.username and sasl.password)", ErrBadClientConfig, mech)
	}
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%w: sasl.mechanism=%s is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)", ErrBadClientConfig, mech)
}
