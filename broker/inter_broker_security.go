package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/kafkasec"
)

// Brokers authenticate to each other as Kafka's do: a broker connecting
// to a peer's listener (the inter-broker listener: the replica fetcher's)
// uses that listener's own settings from its configuration. TLS trusts
// the listener's trust store and presents its key store (for
// ssl.client.auth); SASL uses sasl.mechanism.inter.broker.protocol with
// the username and password options of the listener's JAAS config for
// that mechanism, e.g.
//
//	sasl.mechanism.inter.broker.protocol=PLAIN
//	listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
//	    username="broker" password="broker-secret" user_broker="broker-secret" user_alice="alice-secret";

// interBrokerClientOpts returns the kgo options with which this broker
// connects to a peer's listener of the given name.
func (b *Broker) interBrokerClientOpts(listener string) ([]kgo.Opt, error) {
	protos, err := b.cfg.securityProtocols()
	if err != nil {
		return nil, err
	}
	proto, ok := protos[listener]
	if !ok {
		return nil, fmt.Errorf("%w: inter-broker listener %s is not among this broker's listeners", ErrBadConfig, listener)
	}
	props := map[string]string{"security.protocol": proto}
	for _, k := range kafkasec.TLSSettingNames {
		if k == "ssl.client.auth" {
			continue
		}
		if v, ok := b.cfg.listenerSetting(listener, k); ok {
			props[k] = v
		}
	}
	if proto == protoSASLPlaintext || proto == protoSASLSSL {
		mech := strings.ToUpper(strings.TrimSpace(b.cfg.Properties["sasl.mechanism.inter.broker.protocol"]))
		if mech == "" {
			mech = "GSSAPI" // Kafka's default
		}
		key := strings.ToLower(mech) + ".sasl.jaas.config"
		jaas, ok := b.cfg.listenerSetting(listener, key)
		if !ok {
			return nil, fmt.Errorf("%w: inter-broker SASL (%s) on listener %s needs username and password in listener.name.%s.%s",
				ErrBadConfig, mech, listener, strings.ToLower(listener), key)
		}
		mod, err := kafkasec.ParseSingleJAAS(jaas)
		if err != nil {
			return nil, fmt.Errorf("%w: listener %s: %w", ErrBadConfig, listener, err)
		}
		props["sasl.mechanism"] = mech
		props["sasl.username"], props["sasl.password"] = mod.Options["username"], mod.Options["password"]
	}
	opts, err := kafkasec.ClientOpts(props)
	if err != nil {
		return nil, fmt.Errorf("%w: inter-broker client for listener %s: %w", ErrBadConfig, listener, err)
	}
	return opts, nil
}

// interBrokerListener is the listener brokers reach each other on, as
// Kafka chooses it: inter.broker.listener.name, else the listener named
// after security.inter.broker.protocol (Kafka's listener for a protocol
// has the protocol's name), else this node's first client listener.
func (b *Broker) interBrokerListener() string {
	if name := b.cfg.Properties["inter.broker.listener.name"]; name != "" {
		return strings.ToUpper(strings.TrimSpace(name))
	}
	if proto := b.cfg.Properties["security.inter.broker.protocol"]; proto != "" {
		return strings.ToUpper(strings.TrimSpace(proto))
	}
	if ls := b.cfg.clientListeners(); len(ls) > 0 {
		return ls[0].Name
	}
	return "PLAINTEXT"
}

// checkInterBroker checks the inter-broker settings as Kafka does: at
// most one of inter.broker.listener.name and
// security.inter.broker.protocol, naming a client listener of this node.
func (c *Config) checkInterBroker() error {
	name := strings.TrimSpace(c.Properties["inter.broker.listener.name"])
	proto := strings.TrimSpace(c.Properties["security.inter.broker.protocol"])
	if name != "" && proto != "" {
		return fmt.Errorf("%w: set inter.broker.listener.name or security.inter.broker.protocol, not both", ErrBadConfig)
	}
	key, l := "inter.broker.listener.name", name
	if proto != "" {
		key, l = "security.inter.broker.protocol", proto
		switch strings.ToUpper(proto) {
		case protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL:
		default:
			return fmt.Errorf("%w: security.inter.broker.protocol=%s: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", ErrBadConfig, proto)
		}
	}
	if l == "" || !c.Cluster.IsBroker() {
		return nil
	}
	l = strings.ToUpper(l)
	for _, cl := range c.clientListeners() {
		if cl.Name == l {
			return nil
		}
	}
	return fmt.Errorf("%w: %s=%s names no client listener of this broker (listeners: %s)", ErrBadConfig, key, l, listenerNames(c.clientListeners()))
}

func listenerNames(ls []Listener) string {
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return strings.Join(names, ",")
}

// interBrokerLogEvery is how often a peer connection that keeps failing
// to authenticate is logged at warning level.
const interBrokerLogEvery = 30 * time.Second

// logInterBrokerError logs a failed request to a peer broker. A failure to
// authenticate (a wrong inter-broker password, an untrusted certificate)
// stops replication for good, so it is a warning that says what to check,
// at most every interBrokerLogEvery per peer (*last is the caller's);
// other failures are transient and logged at debug level. It reports
// whether err was an authentication failure.
func (b *Broker) logInterBrokerError(last *time.Time, peer int32, msg string, err error) bool {
	var certErr *tls.CertificateVerificationError
	var authErr bool
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.As(err, &certErr), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		authErr = true
	}
	if !authErr {
		b.logger.Debug(msg, "peer", peer, "err", err)
		return false
	}
	if time.Since(*last) < interBrokerLogEvery {
		return true
	}
	*last = time.Now()
	l := b.interBrokerListener()
	b.logger.Warn(msg+": cannot authenticate to the peer broker; check security.inter.broker.protocol / inter.broker.listener.name, "+
		"sasl.mechanism.inter.broker.protocol and the username and password in listener.name."+strings.ToLower(l)+".<mechanism>.sasl.jaas.config, "+
		"and the listener's ssl.* trust and key stores",
		"peer", peer, "listener", l, "err", err)
	return true
}
