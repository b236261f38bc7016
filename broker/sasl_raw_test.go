package broker_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// rawConn speaks Kafka's framing directly, to drive the SASL state machine
// step by step.
type rawConn struct {
	t      *testing.T
	nc     net.Conn
	corrID int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc}
}

// send writes req and reads its response into resp; it returns the read
// error (io.EOF when the broker closed the connection instead).
func (c *rawConn) send(req kmsg.Request, resp kmsg.Response) error {
	c.t.Helper()
	c.corrID++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, c.corrID)
	if _, err := c.nc.Write(frame); err != nil {
		return err
	}
	body, err := c.readFrame()
	if err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corrID {
		c.t.Fatalf("correlation ID %d, want %d", got, c.corrID)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty header tags
	}
	return resp.ReadFrom(body)
}

func (c *rawConn) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, body)
	return body, err
}

// sendRaw writes a bare size-prefixed token (after a v0 handshake) and
// reads the bare answer.
func (c *rawConn) sendRaw(token []byte) ([]byte, error) {
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(token)))
	if _, err := c.nc.Write(append(frame, token...)); err != nil {
		return nil, err
	}
	return c.readFrame()
}

// closed reports whether the broker closed the connection.
func (c *rawConn) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

func handshake(version int16, mech string) (*kmsg.SASLHandshakeRequest, *kmsg.SASLHandshakeResponse) {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mech
	return req, kmsg.NewPtrSASLHandshakeResponse()
}

func authenticate(version int16, token string) (*kmsg.SASLAuthenticateRequest, *kmsg.SASLAuthenticateResponse) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, []byte(token)
	return req, kmsg.NewPtrSASLAuthenticateResponse()
}

func metadata() (*kmsg.MetadataRequest, *kmsg.MetadataResponse) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	return req, kmsg.NewPtrMetadataResponse()
}

func TestSASLStateMachine(t *testing.T) {
	b := plainBroker(t)
	addr := b.Addr()

	t.Run("request before authentication closes", func(t *testing.T) {
		c := dialRaw(t, addr)
		if err := c.send(metadata()); err == nil {
			t.Fatal("Metadata answered before authentication")
		}
	})
	t.Run("ApiVersions, then a v1 handshake and SaslAuthenticate", func(t *testing.T) {
		c := dialRaw(t, addr)
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		avr := kmsg.NewPtrApiVersionsResponse()
		if err := c.send(av, avr); err != nil || avr.ErrorCode != 0 {
			t.Fatalf("ApiVersions: %v %d", err, avr.ErrorCode)
		}
		hreq, hresp := handshake(1, "PLAIN")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != 0 || len(hresp.SupportedMechanisms) != 1 {
			t.Fatalf("handshake: %v %+v", err, hresp)
		}
		areq, aresp := authenticate(2, "\x00alice\x00alice-secret")
		if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != 0 {
			t.Fatalf("authenticate: %v %+v", err, aresp)
		}
		if err := c.send(metadata()); err != nil {
			t.Fatalf("Metadata after authentication: %v", err)
		}
		// A second exchange on an authenticated connection is out of turn.
		hreq, hresp = handshake(1, "PLAIN")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %v %d", err, hresp.ErrorCode)
		}
		areq, aresp = authenticate(1, "\x00alice\x00alice-secret")
		if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second authenticate: %v %d", err, aresp.ErrorCode)
		}
	})
	t.Run("wrong password answers SASL_AUTHENTICATION_FAILED and closes", func(t *testing.T) {
		c := dialRaw(t, addr)
		hreq, hresp := handshake(1, "PLAIN")
		c.send(hreq, hresp)
		areq, aresp := authenticate(0, "\x00alice\x00guess")
		if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != kerr.SaslAuthenticationFailed.Code || aresp.ErrorMessage == nil {
			t.Fatalf("authenticate: %v %+v", err, aresp)
		}
		if !c.closed() {
			t.Fatal("connection open after a failed login")
		}
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		c := dialRaw(t, addr)
		hreq, hresp := handshake(1, "SCRAM-SHA-256")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != kerr.UnsupportedSaslMechanism.Code ||
			len(hresp.SupportedMechanisms) != 1 || hresp.SupportedMechanisms[0] != "PLAIN" {
			t.Fatalf("handshake: %v %+v", err, hresp)
		}
		if !c.closed() {
			t.Fatal("connection open after an unsupported mechanism")
		}
	})
	t.Run("SaslAuthenticate before the handshake", func(t *testing.T) {
		c := dialRaw(t, addr)
		areq, aresp := authenticate(1, "\x00alice\x00alice-secret")
		if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate: %v %+v", err, aresp)
		}
		if !c.closed() {
			t.Fatal("connection open")
		}
	})
	t.Run("two handshakes", func(t *testing.T) {
		c := dialRaw(t, addr)
		hreq, hresp := handshake(1, "PLAIN")
		c.send(hreq, hresp)
		hreq, hresp = handshake(1, "PLAIN")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %v %+v", err, hresp)
		}
	})
	t.Run("v0 handshake then bare tokens", func(t *testing.T) {
		c := dialRaw(t, addr)
		hreq, hresp := handshake(0, "PLAIN")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != 0 {
			t.Fatalf("handshake: %v %+v", err, hresp)
		}
		out, err := c.sendRaw([]byte("\x00alice\x00alice-secret"))
		if err != nil || len(out) != 0 {
			t.Fatalf("bare PLAIN token: %q %v", out, err)
		}
		if err := c.send(metadata()); err != nil {
			t.Fatalf("Metadata after authentication: %v", err)
		}
	})
	t.Run("v0 handshake, wrong bare token closes", func(t *testing.T) {
		c := dialRaw(t, addr)
		hreq, hresp := handshake(0, "PLAIN")
		c.send(hreq, hresp)
		if _, err := c.sendRaw([]byte("\x00alice\x00nope")); err == nil {
			t.Fatal("a wrong bare token was answered")
		}
	})
	t.Run("oversize frame before authentication closes", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.nc.Write(binary.BigEndian.AppendUint32(nil, 10<<20))
		if !c.closed() {
			t.Fatal("a 10 MiB frame was read before authentication")
		}
	})
}

func TestSASLHandshakeOnPlaintextListener(t *testing.T) {
	b := brokertest.Start(t)
	c := dialRaw(t, b.Addr())
	hreq, hresp := handshake(1, "PLAIN")
	if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("handshake on PLAINTEXT: %v %+v", err, hresp)
	}
	if err := c.send(metadata()); err != nil {
		t.Fatalf("the PLAINTEXT connection should go on: %v", err)
	}
}
