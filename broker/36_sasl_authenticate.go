package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate: v0-2
//
// Carries the SASL tokens after a v1 SaslHandshake, served before the
// connection's requests are pipelined (sasl_conn.go): each request holds
// the client's next token and the response the broker's challenge, or
// SASL_AUTHENTICATION_FAILED with a message that does not say which part
// of the credentials was wrong. This handler answers the requests that
// reach the pipeline: the steps of a re-authentication (sasl_reauth.go),
// or else ILLEGAL_SASL_STATE, as Kafka answers after authentication or on
// a listener without SASL.
//
// Version notes:
//   - v1: SessionLifetimeMillis in the response (KIP-368): the listener's
//     connections.max.reauth.ms, 0 for no limit
//   - v2: flexible

func init() { register(36, 0, 2, handleSASLAuthenticate) }

func handleSASLAuthenticate(b *Broker, r *request) (kmsg.Response, error) {
	if r.conn != nil && r.conn.sasl.reauth != nil {
		return r.conn.reauthAuthenticate(r), nil // sasl_reauth.go
	}
	return illegalSASLState(r, "the connection is not in a SASL exchange"), nil
}
