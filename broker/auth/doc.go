// Package auth holds the broker's authentication pieces, free of I/O so
// they can be tested alone: the principal a connection carries, the
// mapping of a client certificate's subject to a principal
// (ssl.principal.mapping.rules), the server sides of the SASL mechanisms
// PLAIN and SCRAM-SHA-256/512, and a TLS configuration that picks up
// renewed certificate files for new handshakes.
//
// A SASL exchange is a Mechanism: feed it each client token with Step
// until it reports done, then read the authenticated principal.
//
//	m := auth.NewPlain(map[string]string{"alice": "secret"})
//	challenge, done, err := m.Step([]byte("\x00alice\x00secret"))
//	if err != nil {
//		return err // errors.Is(err, auth.ErrAuthenticationFailed)
//	}
//	_ = challenge // empty for PLAIN
//	if done {
//		fmt.Println(m.Principal()) // User:alice
//	}
package auth
