package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: v0-1
//
// The handshake of a SASL listener is served before the connection's
// requests are pipelined (sasl_conn.go): the client names a mechanism and
// the broker answers with the listener's enabled mechanisms, or
// UNSUPPORTED_SASL_MECHANISM. This handler answers the handshakes that
// reach the pipeline: a re-authentication (KIP-368, sasl_reauth.go) on a
// listener with connections.max.reauth.ms, or else ILLEGAL_SASL_STATE, as
// Kafka answers on a connection that already authenticated or on a
// listener without SASL.
//
// Version notes:
//   - v0: after the handshake the client sends bare SASL tokens
//   - v1: the tokens travel in SaslAuthenticate requests (KIP-152)

func init() { register(17, 0, 1, handleSASLHandshake) }

func handleSASLHandshake(b *Broker, r *request) (kmsg.Response, error) {
	if r.conn != nil && r.conn.canReauth() {
		return r.conn.reauthHandshake(r), nil // sasl_reauth.go
	}
	resp := illegalSASLState(r, "no SASL handshake on this connection")
	if r.conn != nil && r.conn.sec != nil {
		resp.(*kmsg.SASLHandshakeResponse).SupportedMechanisms = r.conn.sec.mechanisms
	}
	return resp, nil
}
