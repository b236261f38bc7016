package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/auth"
)

// Re-authentication (KIP-368): with connections.max.reauth.ms set on a SASL
// listener, a successful SaslAuthenticate (v1+) tells the client how long
// its session lasts (SessionLifetimeMillis). Before then the client runs
// SaslHandshake and SaslAuthenticate again on the same connection, with
// the same mechanism and as the same principal; those two requests reach
// the pipelined handlers (17_sasl_handshake.go, 36_sasl_authenticate.go),
// which hand them here. A connection that sends any other request after
// its session expired is closed, as are failed re-authentications.

// errSessionExpired closes a connection whose SASL session expired.
var errSessionExpired = errors.New("SASL session expired (connections.max.reauth.ms) without re-authentication")

// connSASL is a SASL connection's authentication state, owned by the
// connection's serving goroutine once requests are pipelined.
type connSASL struct {
	mechanism string         // of the last successful exchange; "" before one
	expiry    time.Time      // when the session ends; zero for never
	reauth    auth.Mechanism // a re-authentication under way
	failed    bool           // a re-authentication failed: serve nothing more
}

// startSession records a successful exchange and returns the session
// lifetime to tell the client (0: unlimited).
func (c *conn) startSession(mech auth.Mechanism) int64 {
	c.sasl.mechanism = mech.Name()
	c.sasl.expiry = time.Time{}
	if c.sec.maxReauth <= 0 {
		return 0
	}
	now := time.Now()
	c.sasl.expiry = now.Add(c.sec.maxReauth)
	// A session may not outlive its credential (an OAUTHBEARER token).
	if e, ok := mech.(interface{ SessionExpiry() time.Time }); ok && !e.SessionExpiry().IsZero() && e.SessionExpiry().Before(c.sasl.expiry) {
		c.sasl.expiry = e.SessionExpiry()
	}
	return max(c.sasl.expiry.Sub(now).Milliseconds(), 1)
}

// checkSession refuses requests on a connection whose session expired,
// apart from those that re-authenticate it.
func (c *conn) checkSession(r *request) error {
	if c.sasl.failed {
		return fmt.Errorf("%w after a failed re-authentication", errSessionExpired)
	}
	if c.sasl.expiry.IsZero() || r.key == 17 || (r.key == 36 && c.sasl.reauth != nil) {
		return nil
	}
	if time.Now().After(c.sasl.expiry) {
		c.b.logger.Info("closing connection: SASL session expired", "listener", c.listener, "remote", c.remote,
			"principal", c.principal, "api", kmsg.NameForKey(r.key))
		return errSessionExpired
	}
	return nil
}

// canReauth reports whether the connection may re-authenticate now.
func (c *conn) canReauth() bool {
	return c.sec != nil && c.sec.usesSASL() && c.sec.maxReauth > 0 && c.sasl.mechanism != "" && c.sasl.reauth == nil
}

// reauthHandshake answers a SaslHandshake that starts a re-authentication.
func (c *conn) reauthHandshake(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.sec.mechanisms
	if r.version < 1 || req.Mechanism != c.sasl.mechanism {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.logAuthFailure(req.Mechanism, fmt.Errorf("re-authentication must use SaslHandshake v1+ and the session's mechanism %s", c.sasl.mechanism))
		c.sasl.failed = true
		c.closeAfterDelay()
		return resp
	}
	c.sasl.reauth = c.newMechanism(req.Mechanism)
	return resp
}

// reauthAuthenticate answers a SaslAuthenticate of a re-authentication.
func (c *conn) reauthAuthenticate(r *request) kmsg.Response {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	mech := c.sasl.reauth
	challenge, done, err := mech.Step(req.SASLAuthBytes)
	if err == nil && done && mech.Principal() != c.principal {
		err = fmt.Errorf("%w: re-authentication as %s on a connection of %s", auth.ErrAuthenticationFailed, mech.Principal(), c.principal)
	}
	if err != nil {
		c.sasl.reauth, c.sasl.failed = nil, true
		c.logAuthFailure(mech.Name(), err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := clientAuthMessage(mech, err)
		resp.ErrorMessage = &msg
		c.closeAfterDelay()
		return resp
	}
	resp.SASLAuthBytes = challenge
	if done {
		c.sasl.reauth = nil
		resp.SessionLifetimeMillis = c.startSession(mech)
		c.b.logger.Debug("re-authenticated", "listener", c.listener, "remote", c.remote, "principal", c.principal)
	}
	return resp
}

// closeAfterDelay closes the connection after
// connection.failed.authentication.delay.ms, once the response in hand
// has had time to go out.
func (c *conn) closeAfterDelay() {
	d := time.Duration(c.b.brokerIntSetting("connection.failed.authentication.delay.ms", 100)) * time.Millisecond
	time.AfterFunc(max(d, 10*time.Millisecond), c.close)
}
