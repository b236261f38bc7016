package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/auth"
	"github.com/gregorhq/gregor/broker/meta"
)

// A connection's security handshake, before its requests are pipelined
// (conn.serve): on TLS listeners the TLS handshake and the principal of a
// client certificate; on SASL listeners Kafka's exchange, in which only
// ApiVersions, SaslHandshake and SaslAuthenticate are served:
//
//	ApiVersions*  SaslHandshake v1  (SaslAuthenticate)+   -> authenticated
//	ApiVersions*  SaslHandshake v0  (raw token)+          -> authenticated
//
// After a v0 handshake the client sends the mechanism's tokens in bare
// size-prefixed frames and the broker answers likewise. Any other request
// closes the connection; a handshake or authenticate out of turn is
// answered with ILLEGAL_SASL_STATE, an unknown mechanism with
// UNSUPPORTED_SASL_MECHANISM, and failed credentials with
// SASL_AUTHENTICATION_FAILED, each followed by closing the connection
// after connection.failed.authentication.delay.ms.

// saslMaxReceiveSize bounds frames before authentication (Kafka's
// sasl.server.max.receive.size), so an unauthenticated client cannot make
// the broker allocate socket.request.max.bytes.
const saslMaxReceiveSize = 524288

// authenticate runs the connection's security handshake and sets its
// principal. It returns false when the connection must close.
func (c *conn) authenticate(br *bufio.Reader) bool {
	if c.sec == nil {
		return true
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		if !c.tlsHandshake(tc) {
			return false
		}
	}
	if !c.sec.usesSASL() {
		return true
	}
	return c.saslExchange(br)
}

// tlsHandshake completes the TLS handshake and takes the principal from
// the client's certificate, if it sent one.
func (c *conn) tlsHandshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if idle := c.b.idleTimeout(); idle > 0 {
		ctx, cancel = context.WithTimeout(ctx, idle)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		c.b.logger.Info("TLS handshake failed", "listener", c.listener, "remote", c.remote, "err", err)
		return false
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return true
	}
	dn, err := auth.SubjectDN(certs[0])
	if err == nil {
		var name string
		if name, err = c.sec.mapping.Apply(dn); err == nil && name != "" {
			c.principal = auth.User(name)
			return true
		}
	}
	c.logAuthFailure("SSL", fmt.Errorf("client certificate %q: %w", dn, err))
	return false
}

// saslExchange serves requests one at a time until the client has
// authenticated.
func (c *conn) saslExchange(br *bufio.Reader) bool {
	var mech auth.Mechanism
	raw := false // after a v0 handshake: bare tokens
	for {
		frame, err := c.readAuthFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.b.logger.Info("closing connection during SASL authentication", "listener", c.listener, "remote", c.remote, "err", err)
			}
			return false
		}
		if raw {
			challenge, done, err := mech.Step(frame)
			if err != nil {
				c.logAuthFailure(mech.Name(), err)
				c.failedAuthDelay()
				return false
			}
			out := binary.BigEndian.AppendUint32(nil, uint32(len(challenge)))
			if _, err := c.nc.Write(append(out, challenge...)); err != nil {
				return false
			}
			if done {
				c.startSession(mech) // no lifetime reaches a client of bare tokens; the limit still holds
				return c.authenticated(mech)
			}
			continue
		}
		r, err := decodeRequest(frame)
		if err != nil {
			c.b.logger.Warn("closing connection: malformed request during SASL authentication", "remote", c.remote, "err", err)
			return false
		}
		r.conn = c
		var (
			resp     kmsg.Response
			done     bool
			closeNow bool
		)
		switch {
		case r.key == 18: // ApiVersions
			if resp, err = c.handle(r); err != nil {
				return false
			}
		case r.key == 17 && mech == nil && !r.unsupported:
			resp, mech = c.saslHandshake(r)
			closeNow = mech == nil
			raw = mech != nil && r.version == 0
		case r.key == 36 && mech != nil && !raw:
			resp, done, closeNow = c.saslAuthenticate(r, mech)
		case r.key == 17 || r.key == 36:
			resp = illegalSASLState(r, "SaslHandshake once, then SaslAuthenticate")
			closeNow = true
		default:
			c.b.logger.Warn("closing connection: request before SASL authentication", "listener", c.listener, "remote", c.remote,
				"api", kmsg.NameForKey(r.key), "version", r.version)
			return false
		}
		if _, err := c.nc.Write(appendResponse(nil, r, resp)); err != nil {
			return false
		}
		if closeNow {
			c.failedAuthDelay()
			return false
		}
		if done {
			return c.authenticated(mech)
		}
	}
}

// authenticated records the principal of a finished exchange.
func (c *conn) authenticated(mech auth.Mechanism) bool {
	c.principal = mech.Principal()
	c.b.logger.Debug("authenticated", "listener", c.listener, "remote", c.remote, "mechanism", mech.Name(), "principal", c.principal)
	return true
}

// readAuthFrame reads one size-prefixed frame of at most
// saslMaxReceiveSize bytes.
func (c *conn) readAuthFrame(br *bufio.Reader) ([]byte, error) {
	if idle := c.b.idleTimeout(); idle > 0 {
		c.nc.SetReadDeadline(time.Now().Add(idle))
		defer c.nc.SetReadDeadline(time.Time{})
	}
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > saslMaxReceiveSize {
		return nil, fmt.Errorf("frame of %d bytes before authentication (limit %d)", n, saslMaxReceiveSize)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(br, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// saslHandshake answers SaslHandshake: the mechanism's exchange, or nil
// when the listener does not enable the mechanism.
func (c *conn) saslHandshake(r *request) (kmsg.Response, auth.Mechanism) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.sec.mechanisms
	mech := c.newMechanism(req.Mechanism)
	if mech == nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.logAuthFailure(req.Mechanism, fmt.Errorf("SASL mechanism %q is not enabled on this listener (enabled: %v)", req.Mechanism, c.sec.mechanisms))
	}
	return resp, mech
}

// saslAuthenticate answers one SaslAuthenticate step.
func (c *conn) saslAuthenticate(r *request, mech auth.Mechanism) (resp kmsg.Response, done, closeNow bool) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	out := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	challenge, done, err := mech.Step(req.SASLAuthBytes)
	if err != nil {
		c.logAuthFailure(mech.Name(), err)
		out.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := clientAuthMessage(mech, err)
		out.ErrorMessage = &msg
		return out, false, true
	}
	out.SASLAuthBytes = challenge
	if done {
		out.SessionLifetimeMillis = c.startSession(mech) // sasl_reauth.go
	}
	return out, done, false
}

// clientAuthMessage is what a client is told of a failed step: for wrong
// credentials only that they were wrong (the log has the details), for a
// malformed token what was malformed.
func clientAuthMessage(mech auth.Mechanism, err error) string {
	if errors.Is(err, auth.ErrAuthenticationFailed) {
		return fmt.Sprintf("%s for SASL mechanism %s", auth.ErrAuthenticationFailed, mech.Name())
	}
	return err.Error()
}

// illegalSASLState answers a SaslHandshake or SaslAuthenticate that does
// not fit the connection's state.
func illegalSASLState(r *request, want string) kmsg.Response {
	switch req := r.kreq.(type) {
	case *kmsg.SASLHandshakeRequest:
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	case *kmsg.SASLAuthenticateRequest:
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "unexpected " + kmsg.NameForKey(r.key) + ": " + want
		resp.ErrorMessage = &msg
		return resp
	}
	return nil
}

// newMechanism starts an exchange of a mechanism the listener enables.
func (c *conn) newMechanism(name string) auth.Mechanism {
	enabled := false
	for _, m := range c.sec.mechanisms {
		enabled = enabled || m == name
	}
	if !enabled {
		return nil
	}
	switch name {
	case auth.MechanismPlain:
		return auth.NewPlain(c.sec.plainUsers)
	case auth.MechanismOAuthBearer:
		return auth.NewOAuthBearer(c.sec.oauth.validator)
	}
	sm, ok := auth.ScramByName(name)
	if !ok {
		return nil
	}
	return auth.NewScram(sm, c.b.scramLookup(name), c.b.scramSecret, nil)
}

// scramLookup finds SCRAM credentials in the cluster metadata.
func (b *Broker) scramLookup(mechanism string) auth.ScramLookup {
	return func(user string) (auth.ScramCredential, bool) {
		b.mu.RLock()
		cred, ok := b.meta.ScramCredential(user, mechanism)
		b.mu.RUnlock()
		if !ok {
			return auth.ScramCredential{}, false
		}
		return fromMetaScram(cred), true
	}
}

func fromMetaScram(c meta.ScramCredential) auth.ScramCredential {
	return auth.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int(c.Iterations)}
}

// failedAuthDelay waits connection.failed.authentication.delay.ms (Kafka's
// default 100) before a failed connection closes, slowing password
// guessing; a closing broker cuts it short.
func (c *conn) failedAuthDelay() {
	d := time.Duration(c.b.brokerIntSetting("connection.failed.authentication.delay.ms", 100)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
	case <-c.b.closing:
	}
}

// logAuthFailure logs a failed authentication, at most authLogBurst lines
// a second per listener; the next line logged says how many were skipped.
func (c *conn) logAuthFailure(mechanism string, err error) {
	ok, skipped := c.sec.failLog.allow(time.Now())
	if !ok {
		return
	}
	c.b.logger.Warn("failed authentication", "listener", c.listener, "remote", c.remote, "mechanism", mechanism, "err", err, "suppressed", skipped)
}

// authLogBurst is how many failed-authentication lines a listener logs in
// one second.
const authLogBurst = 10

// logLimiter lets through authLogBurst events a second.
type logLimiter struct {
	mu         sync.Mutex
	second     time.Time
	n          int
	suppressed int
}

// allow reports whether an event at now may be logged, and how many were
// suppressed since the last one that was.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Truncate(time.Second); !s.Equal(l.second) {
		l.second, l.n = s, 0
	}
	if l.n >= authLogBurst {
		l.suppressed++
		return false, 0
	}
	l.n++
	skipped := l.suppressed
	l.suppressed = 0
	return true, skipped
}
