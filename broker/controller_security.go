package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gregorhq/gregor/broker/auth"
	"github.com/gregorhq/gregor/internal/kafkasec"
)

// The controller listener may be PLAINTEXT or SSL, by
// listener.security.protocol.map as for any listener (e.g.
// CONTROLLER:SSL), with its TLS settings under
// listener.name.<controller listener>.ssl.* (or the broker-wide ssl.*).
// An SSL controller listener serves both the raft stream between voters
// and the controller API over TLS, and every node connects to the
// controllers with TLS: it trusts the listener's trust store and presents
// its key store, so listener.name.controller.ssl.client.auth=required
// makes the controllers accept only nodes with a certificate the trust
// store vouches for (mTLS). Broker-only nodes have no controller listener
// of their own but read the same settings to reach the controllers.

// controllerListenerTLS checks a controller listener's protocol and
// returns its TLS settings (nil for PLAINTEXT).
func (c *Config) controllerListenerTLS(listener, proto string) (*kafkasec.TLSSettings, error) {
	switch proto {
	case protoPlaintext:
		return nil, nil
	case protoSSL:
	default:
		return nil, fmt.Errorf("%w: controller listener %s uses %s; controller listeners are PLAINTEXT or SSL", ErrBadConfig, listener, proto)
	}
	ts := kafkasec.ReadTLSSettings(func(name string) (string, bool) { return c.listenerSetting(listener, name) })
	if err := ts.Validate(); err != nil {
		return nil, fmt.Errorf("%w: controller listener %s: %w", ErrBadConfig, listener, err)
	}
	if !ts.HasKeystore() {
		return nil, fmt.Errorf("%w: controller listener %s (SSL): set ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key)", ErrBadConfig, listener)
	}
	return &ts, nil
}

// controllerProtocol is the controller listener's name (the first of
// controller.listener.names) and protocol, known on broker-only nodes too.
func (c *Config) controllerProtocol() (string, string, error) {
	if len(c.Cluster.ControllerListeners) == 0 {
		return "", protoPlaintext, nil
	}
	name := c.Cluster.ControllerListeners[0]
	protos, err := c.protocolMap()
	if err != nil {
		return "", "", err
	}
	proto, ok := protos[name]
	if !ok {
		proto = name
		if proto != protoSSL {
			proto = protoPlaintext
		}
	}
	return name, proto, nil
}

// controllerSecurity is how this node talks on controller listeners.
type controllerSecurity struct {
	// server maps each SSL controller listener of this node to its TLS
	// configuration (reloaded when the files change).
	server map[string]*tls.Config
	// client is the TLS configuration for connecting to the controllers;
	// nil when their listener is PLAINTEXT.
	client *tls.Config
}

// openControllerSecurity reads the controller listeners' TLS settings and
// points the controller client at them. It runs in New before the quorum
// opens.
func (b *Broker) openControllerSecurity() error {
	b.ctrlSec = controllerSecurity{server: map[string]*tls.Config{}}
	protos, err := b.cfg.securityProtocols()
	if err != nil {
		return err
	}
	for _, l := range b.cfg.Listeners {
		if !b.cfg.isControllerListener(l.Name) {
			continue
		}
		ts, err := b.cfg.controllerListenerTLS(l.Name, protos[l.Name])
		if err != nil || ts == nil {
			if err != nil {
				return err
			}
			continue
		}
		r, err := auth.NewReloadingTLS(*ts, b.logger.With("listener", l.Name))
		if err != nil {
			return fmt.Errorf("%w: controller listener %s: %w", ErrBadConfig, l.Name, err)
		}
		b.ctrlSec.server[l.Name] = r.ServerConfig()
	}
	name, proto, err := b.cfg.controllerProtocol()
	if err != nil {
		return err
	}
	ts, err := b.cfg.controllerListenerTLS(name, proto)
	if err != nil {
		return err
	}
	if ts == nil {
		return nil
	}
	cfg, err := ts.Config(false)
	if err != nil {
		return fmt.Errorf("%w: controller listener %s (client side): %w", ErrBadConfig, name, err)
	}
	b.ctrlSec.client = cfg
	b.ctrlClient.useTLS(cfg, b.dialController)
	return nil
}

// controllerConn wraps a connection accepted on a controller listener in
// TLS when the listener is SSL; the handshake runs on the first read.
func (b *Broker) controllerConn(listener string, nc net.Conn) net.Conn {
	if cfg := b.ctrlSec.server[listener]; cfg != nil {
		return tls.Server(nc, cfg)
	}
	return nc
}

// dialController connects to a controller listener at addr, with TLS
// when it is SSL; the quorum's transport and the controller API client
// dial with it.
func (b *Broker) dialController(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil || b.ctrlSec.client == nil {
		return nc, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("controller address %s: %w", addr, err)
	}
	cfg := b.ctrlSec.client.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		b.logger.Warn("TLS handshake with a controller failed; check the controller listener's ssl.* settings (trust store, key store, ssl.client.auth)",
			"addr", addr, "err", err)
		return nil, fmt.Errorf("TLS handshake with controller %s: %w", addr, err)
	}
	return tc, nil
}

// useTLS makes the controller client speak HTTPS through dial.
func (c *controllerClient) useTLS(cfg *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	c.scheme = "https"
	tr := &http.Transport{
		// dial returns a TLS connection already; the transport takes it
		// as such.
		DialTLSContext:      dial,
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	c.http = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	c.poll = &http.Client{Transport: tr}
}

// controllerDial is the quorum transport's dial function: nil (plain
// TCP) unless the controller listener is SSL.
func (b *Broker) controllerDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if b.ctrlSec.client == nil {
		return nil
	}
	return b.dialController
}
