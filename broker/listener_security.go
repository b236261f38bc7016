package broker

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/broker/auth"
	"github.com/gregorhq/gregor/internal/kafkasec"
)

// Listener security, by Kafka's settings: listener.security.protocol.map
// names each listener's protocol (a listener named PLAINTEXT, SSL,
// SASL_PLAINTEXT or SASL_SSL needs no entry); ssl.* and sasl.* settings
// apply to every listener unless listener.name.<listener>.<setting>
// overrides them; a SASL mechanism's JAAS options come from
// listener.name.<listener>.<mechanism>.sasl.jaas.config.

// Security protocols of a listener.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
)

// listenerSecurity is what one client listener asks of its connections.
// It is built once in New and read by every connection of the listener.
type listenerSecurity struct {
	listener   string
	protocol   string
	tlsConfig  kafkasec.TLSSettings
	tls        *auth.ReloadingTLS // SSL and SASL_SSL, loaded by New
	serverTLS  *tls.Config        // tls.ServerConfig(), for tls.Server
	mapping    *auth.MappingRules // ssl.principal.mapping.rules
	mechanisms []string           // sasl.enabled.mechanisms (SASL_*)
	plainUsers map[string]string  // PLAIN's users from its JAAS options
	failLog    logLimiter         // failed authentications logged (sasl_conn.go)
	maxReauth  time.Duration      // connections.max.reauth.ms (sasl_reauth.go); 0: sessions do not expire
	oauth      *oauthSettings     // OAUTHBEARER's token checks (listener_oauth.go)
}

func (s *listenerSecurity) usesTLS() bool {
	return s.protocol == protoSSL || s.protocol == protoSASLSSL
}

func (s *listenerSecurity) usesSASL() bool {
	return s.protocol == protoSASLPlaintext || s.protocol == protoSASLSSL
}

// listenerSetting looks up a setting for a listener: its
// listener.name.<listener>.<name> override, else the broker-wide value.
func (c *Config) listenerSetting(listener, name string) (string, bool) {
	prefix := "listener.name." + strings.ToLower(listener) + "."
	for k, v := range c.Properties {
		if strings.HasPrefix(strings.ToLower(k), prefix) && k[len(prefix):] == name {
			return v, true
		}
	}
	v, ok := c.Properties[name]
	return v, ok
}

// protocolMap parses listener.security.protocol.map.
func (c *Config) protocolMap() (map[string]string, error) {
	protos := map[string]string{}
	if m := c.Properties["listener.security.protocol.map"]; m != "" {
		for _, pair := range strings.Split(m, ",") {
			name, proto, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok {
				return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q is not NAME:PROTOCOL", ErrBadConfig, pair)
			}
			protos[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
		}
	}
	return protos, nil
}

// securityProtocols maps every listener name to its security protocol.
func (c *Config) securityProtocols() (map[string]string, error) {
	protos, err := c.protocolMap()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range c.Listeners {
		proto, ok := protos[l.Name]
		if !ok {
			proto = l.Name
		}
		switch proto {
		case protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL:
		default:
			if !ok {
				return nil, fmt.Errorf("%w: listener %s has no entry in listener.security.protocol.map", ErrBadConfig, l.Name)
			}
			return nil, fmt.Errorf("%w: listener %s: unknown security protocol %s (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", ErrBadConfig, l.Name, proto)
		}
		out[l.Name] = proto
	}
	return out, nil
}

// checkSecurityProtocols checks every listener's protocol and its
// settings, without reading certificate files (New does that).
func (c *Config) checkSecurityProtocols() error {
	protos, err := c.securityProtocols()
	if err != nil {
		return err
	}
	if err := c.checkInterBroker(); err != nil { // inter_broker_security.go
		return err
	}
	for _, l := range c.Listeners {
		proto := protos[l.Name]
		if c.isControllerListener(l.Name) {
			if _, err := c.controllerListenerTLS(l.Name, proto); err != nil { // controller_security.go
				return err
			}
			continue
		}
		if _, err := c.listenerSecurityFor(l.Name, proto); err != nil {
			return err
		}
	}
	return nil
}

// supportedMechanisms are the SASL mechanisms the broker serves.
var supportedMechanisms = []string{auth.MechanismPlain, auth.MechanismScramSHA256, auth.MechanismScramSHA512, auth.MechanismOAuthBearer}

// listenerSecurityFor reads one client listener's security settings.
func (c *Config) listenerSecurityFor(listener, proto string) (*listenerSecurity, error) {
	s := &listenerSecurity{listener: listener, protocol: proto}
	get := func(name string) (string, bool) { return c.listenerSetting(listener, name) }
	bad := func(err error) error {
		return fmt.Errorf("%w: listener %s (%s): %w", ErrBadConfig, listener, proto, err)
	}
	if s.usesTLS() {
		ts := kafkasec.ReadTLSSettings(get)
		if err := ts.Validate(); err != nil {
			return nil, bad(err)
		}
		if !ts.HasKeystore() {
			return nil, bad(fmt.Errorf("set ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key) for the listener's certificate"))
		}
		rules, _ := get("ssl.principal.mapping.rules")
		m, err := auth.ParseMappingRules(rules)
		if err != nil {
			return nil, bad(err)
		}
		s.mapping = m
		s.tlsConfig = ts
	}
	if s.usesSASL() {
		mechs, ok := get("sasl.enabled.mechanisms")
		if !ok {
			mechs = "GSSAPI" // Kafka's default
		}
		for _, m := range strings.Split(mechs, ",") {
			m = strings.ToUpper(strings.TrimSpace(m))
			if m == "" {
				continue
			}
			if !slices.Contains(supportedMechanisms, m) {
				return nil, bad(fmt.Errorf("SASL mechanism %s (sasl.enabled.mechanisms=%s) is not supported; use %s", m, mechs, strings.Join(supportedMechanisms, ", ")))
			}
			s.mechanisms = append(s.mechanisms, m)
		}
		if len(s.mechanisms) == 0 {
			return nil, bad(fmt.Errorf("sasl.enabled.mechanisms is empty"))
		}
		if v, ok := get("connections.max.reauth.ms"); ok {
			ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || ms < 0 {
				return nil, bad(fmt.Errorf("connections.max.reauth.ms=%s: want a number of milliseconds >= 0", v))
			}
			s.maxReauth = time.Duration(ms) * time.Millisecond
		}
		if slices.Contains(s.mechanisms, auth.MechanismPlain) {
			key := "plain.sasl.jaas.config"
			jaas, ok := get(key)
			if !ok {
				return nil, bad(fmt.Errorf("PLAIN needs its users in listener.name.%s.%s (PlainLoginModule user_<name>=\"<password>\" options)", strings.ToLower(listener), key))
			}
			mod, err := kafkasec.ParseSingleJAAS(jaas)
			if err != nil {
				return nil, bad(err)
			}
			if mod.Class != kafkasec.PlainLoginModule {
				return nil, bad(fmt.Errorf("%s names %s, want %s", key, mod.Class, kafkasec.PlainLoginModule))
			}
			s.plainUsers = mod.PlainUsers()
		}
		if slices.Contains(s.mechanisms, auth.MechanismOAuthBearer) {
			o, err := readOAuthSettings(listener, get)
			if err != nil {
				return nil, bad(err)
			}
			s.oauth = o
		}
	}
	return s, nil
}

// openListenerSecurity reads every client listener's security settings
// and loads the certificates of its TLS listeners.
func (b *Broker) openListenerSecurity() error {
	protos, err := b.cfg.securityProtocols()
	if err != nil {
		return err
	}
	b.security = map[string]*listenerSecurity{}
	for _, l := range b.cfg.clientListeners() {
		s, err := b.cfg.listenerSecurityFor(l.Name, protos[l.Name])
		if err != nil {
			return err
		}
		if s.usesTLS() {
			s.tls, err = auth.NewReloadingTLS(s.tlsConfig, b.logger.With("listener", l.Name))
			if err != nil {
				return fmt.Errorf("%w: listener %s: %w", ErrBadConfig, l.Name, err)
			}
			s.serverTLS = s.tls.ServerConfig()
		}
		if s.oauth != nil {
			if err := s.oauth.open(); err != nil {
				return fmt.Errorf("%w: listener %s: %w", ErrBadConfig, l.Name, err)
			}
		}
		b.security[l.Name] = s
	}
	return nil
}

// newSecret returns 32 random bytes.
func newSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// ClientListener is a client listener's name and what it asks of its
// clients, for a process that connects to its own broker (the web
// console of gregor broker --http).
type ClientListener struct {
	Name string
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// Mechanisms are sasl.enabled.mechanisms of a SASL listener.
	Mechanisms []string
}

// ClientListeners lists the client listeners (not the controller ones) in
// the order of the listeners setting.
func (c *Config) ClientListeners() ([]ClientListener, error) {
	protos, err := c.securityProtocols()
	if err != nil {
		return nil, err
	}
	var out []ClientListener
	for _, l := range c.Listeners {
		if c.isControllerListener(l.Name) {
			continue
		}
		s, err := c.listenerSecurityFor(l.Name, protos[l.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, ClientListener{Name: l.Name, Protocol: s.protocol, Mechanisms: s.mechanisms})
	}
	return out, nil
}
