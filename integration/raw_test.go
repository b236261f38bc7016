package integration

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a bare TCP connection to the broker for hand-built requests
// and malformed input.
type rawConn struct {
	net.Conn
	corr int32
}

// dialRaw connects to addr; the connection is closed when the test ends.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c}
}

// roundTrip sends req at its set version and decodes the answer into resp.
func (c *rawConn) roundTrip(t testing.TB, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	if err := c.tryRoundTrip(req, resp); err != nil {
		t.Fatalf("%T v%d: %v", req, req.GetVersion(), err)
	}
}

func (c *rawConn) tryRoundTrip(req kmsg.Request, resp kmsg.Response) error {
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("gregor-integration"))
	frame := f.AppendRequest(nil, req, c.corr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(frame); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != c.corr {
		return errors.New("response with a wrong correlation id")
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 { // ApiVersions keeps header v0
		r := kbin.Reader{Src: body}
		for n := r.Uvarint(); n > 0; n-- { // skip tagged fields
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return errors.New("truncated response header")
		}
		body = r.Src
	}
	return resp.ReadFrom(body)
}

// expectClosed reads until the broker closes the connection; it fails if the
// connection is still open after the deadline.
func (c *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // a response to something valid before the bad part
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the broker kept the connection open after bad input")
		}
		return // EOF or reset: closed
	}
}
