package broker

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/auth"
)

// maxQueuedRequests bounds how many decoded requests a connection holds
// before it stops reading, so a flood slows the client instead of growing
// the broker's memory.
const maxQueuedRequests = 16

// request is one decoded request and where it came from.
type request struct {
	conn     *conn
	key      int16
	version  int16
	corrID   int32
	clientID string
	kreq     kmsg.Request
	size     int // bytes on the wire, with the size prefix
	// parked is how long the handler waited rather than worked (a fetch's
	// long poll, an acks=all produce waiting for the ISR): Kafka parks such
	// requests in purgatory, off its request threads, so request_percentage
	// does not count it (quotas.go).
	parked time.Duration
	// unsupported is set for an ApiVersions request of a version the broker
	// does not know; it is answered with a v0 response.
	unsupported bool
	// oldRecords is set for a Produce of a version older than the broker
	// serves (v0-2, message formats v0/v1): it is decoded and answered with
	// UNSUPPORTED_VERSION for every partition instead of closing the
	// connection.
	oldRecords bool
	// received is when the request was decoded (its total time starts
	// there, metrics.go).
	received time.Time
}

// conn serves one client connection: a reader goroutine decodes frames into
// a bounded queue, and the serving goroutine answers them strictly in order.
type conn struct {
	b *Broker
	// nc is a *tls.Conn on SSL and SASL_SSL listeners: bytes written to it
	// are encrypted (copied). A path that hands file bytes to the socket
	// directly (sendfile) must take it only when nc is a *net.TCPConn.
	nc       net.Conn
	listener string
	remote   string
	ip       string
	// sec is the listener's security; principal is who the connection
	// acts as, set before the first request past authentication is
	// served (sasl_conn.go).
	sec       *listenerSecurity
	principal auth.Principal
	sasl      connSASL // session and re-authentication (sasl_reauth.go)
	// mutedUntil (Unix nanoseconds) is when a throttled connection may
	// send again: until then neither goroutine takes a request from it
	// (quotas.go).
	mutedUntil atomic.Int64

	closeOnce sync.Once
	done      chan struct{}

	// fetchArena holds the record bytes of the fetch being answered; it is
	// reused by the next fetch once the response is written (owned by the
	// serving goroutine).
	fetchArena []byte
	// fetchTally is what the fetch being answered read, per partition
	// (01_fetch.go; owned by the serving goroutine).
	fetchTally []fetchTally
}

func newConn(b *Broker, nc net.Conn, listener string) *conn {
	c := &conn{b: b, nc: nc, listener: listener, remote: nc.RemoteAddr().String(), ip: remoteIP(nc), done: make(chan struct{}),
		sec: b.security[listener], principal: auth.Anonymous}
	if c.sec != nil && c.sec.usesTLS() {
		c.nc = tls.Server(nc, c.sec.serverTLS) // TLS connections copy; plain ones keep the fast path
	}
	return c
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		if tc, ok := c.nc.(*tls.Conn); ok {
			// Without close_notify: its write could hold Close for
			// seconds on a client that stopped reading.
			tc.NetConn().Close()
			return
		}
		c.nc.Close()
	})
}

// serve runs until the connection closes. It owns the reader goroutine and
// waits for it.
func (c *conn) serve() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	if !c.authenticate(br) { // sasl_conn.go: TLS handshake, SASL, principal
		c.close()
		return
	}
	queue := make(chan *request, maxQueuedRequests)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		c.readLoop(br, queue)
	}()
	defer func() {
		c.close() // unblocks the reader
		wg.Wait()
		for range queue { // closed by the reader: requests never served leave the queue count
			c.b.metrics.queued.Add(-1)
		}
	}()

	w := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	metrics := c.b.metrics
	for r := range queue {
		metrics.queued.Add(-1)
		if !c.waitMuted() {
			return
		}
		start := time.Now()
		resp, err := c.handle(r)
		if err != nil {
			c.b.logger.Warn("closing connection", "remote", c.remote, "api", kmsg.NameForKey(r.key), "version", r.version, "err", err)
			return
		}
		worked := time.Since(start)
		throttle := c.quotaThrottle(r, resp, worked) // quotas.go
		if resp == nil {
			c.mute(throttle) // acks=0 produce: no response, the mute alone throttles
			metrics.requestDone(r, time.Since(r.received), worked-r.parked)
			continue
		}
		if throttle = c.setThrottle(resp, throttle); throttle > 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if need := responseSizeHint(resp); cap(buf) < need {
			buf = make([]byte, 0, need) // one allocation, no regrowth while encoding
		}
		buf = appendResponse(buf[:0], r, resp)
		if _, err := w.Write(buf); err != nil {
			return
		}
		metrics.requestDone(r, time.Since(r.received), worked-r.parked)
		if r.key <= 1 {
			metrics.throttled(r.key, throttle)
		}
		if len(queue) == 0 || throttle > 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
		c.mute(throttle)
		if cap(buf) > 4<<20 {
			buf = nil // don't pin a large fetch buffer to an idle connection
		}
	}
}

// responseSizeHint estimates the encoded size of a response whose bulk is
// record data (Fetch), so its buffer is allocated once; 0 for others.
func responseSizeHint(resp kmsg.Response) int {
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 256
	for i := range fr.Topics {
		n += 64 + len(fr.Topics[i].Topic)
		for j := range fr.Topics[i].Partitions {
			p := &fr.Topics[i].Partitions[j]
			n += 96 + len(p.RecordBatches) + 16*len(p.AbortedTransactions)
		}
	}
	return n
}

// appendResponse frames resp: size, correlation ID, the header's tagged
// fields when flexible (never for ApiVersions, whose header stays v0), body.
func appendResponse(dst []byte, r *request, resp kmsg.Response) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.corrID))
	if resp.IsFlexible() && r.key != 18 {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst
}

// handle answers one request. A handler that panics (a bug) closes only
// this connection, with the stack in the log; the broker keeps serving.
func (c *conn) handle(r *request) (resp kmsg.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.b.logger.Error("handler panic: closing the connection", "api", kmsg.NameForKey(r.key), "version", r.version,
				"remote", c.remote, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("%w: %v", errHandlerPanic, p)
		}
	}()
	if err := c.checkSession(r); err != nil { // sasl_reauth.go
		return nil, err
	}
	if r.unsupported {
		return apiVersionsUnsupported(r), nil
	}
	if r.oldRecords {
		return produceTooOld(c.b, r), nil
	}
	h := handlers[r.key]
	return h.handle(c.b, r)
}

// readLoop decodes frames until EOF, an error, or a frame the broker must
// refuse; those close the connection with a log line.
func (c *conn) readLoop(br *bufio.Reader, queue chan<- *request) {
	var sizeBuf [4]byte
	idle := c.b.idleTimeout()
	for {
		if !c.waitMuted() {
			return
		}
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.b.logger.Info("closing idle connection", "remote", c.remote, "connections.max.idle.ms", idle.Milliseconds())
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.b.logger.Debug("connection read ended", "remote", c.remote, "err", err)
			}
			c.close()
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.b.cfg.SocketRequestMaxSize {
			c.b.logger.Warn("closing connection: bad request size", "remote", c.remote, "size", size, "socket.request.max.bytes", c.b.cfg.SocketRequestMaxSize)
			c.close()
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(br, frame); err != nil {
			c.close()
			return
		}
		r, err := decodeRequest(frame)
		if err != nil {
			c.b.logger.Warn("closing connection: malformed request", "remote", c.remote, "err", err)
			c.close()
			return
		}
		r.conn, r.size, r.received = c, len(frame)+4, time.Now()
		c.b.metrics.queued.Add(1)
		select {
		case queue <- r:
		case <-c.done:
			c.b.metrics.queued.Add(-1)
			return
		}
	}
}

// Errors that close a connection.
var (
	errMalformed      = errors.New("malformed request")
	errUnknownAPI     = errors.New("unsupported API key")
	errUnknownVersion = errors.New("unsupported API version")
	errHandlerPanic   = errors.New("internal error while handling a request")
)

// decodeRequest parses a request frame (without its size prefix).
func decodeRequest(frame []byte) (*request, error) {
	if len(frame) < 10 {
		return nil, fmt.Errorf("%w: %d-byte frame", errMalformed, len(frame))
	}
	r := &request{
		key:     int16(binary.BigEndian.Uint16(frame)),
		version: int16(binary.BigEndian.Uint16(frame[2:])),
		corrID:  int32(binary.BigEndian.Uint32(frame[4:])),
	}
	idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
	pos := 10
	if idLen > 0 {
		if pos+idLen > len(frame) {
			return nil, fmt.Errorf("%w: client ID overruns frame", errMalformed)
		}
		r.clientID = string(frame[pos : pos+idLen])
		pos += idLen
	}
	h, ok := handlers[r.key]
	if !ok {
		return nil, fmt.Errorf("%w %d", errUnknownAPI, r.key)
	}
	if r.version < h.minVersion || r.version > h.maxVersion {
		if r.key == 18 {
			r.unsupported = true // answered with a v0 ApiVersions response
			return r, nil
		}
		if r.key == 0 && r.version >= 0 && r.version < h.minVersion {
			r.oldRecords = true // decoded below, refused by the handler
		} else {
			return nil, fmt.Errorf("%w: %s v%d (supported %d-%d)", errUnknownVersion, kmsg.NameForKey(r.key), r.version, h.minVersion, h.maxVersion)
		}
	}
	kreq := kmsg.RequestForKey(r.key)
	kreq.SetVersion(r.version)
	if kreq.IsFlexible() {
		n, err := skipTags(frame[pos:])
		if err != nil {
			return nil, err
		}
		pos += n
	}
	if err := kreq.ReadFrom(frame[pos:]); err != nil {
		return nil, fmt.Errorf("%w: %s v%d: %w", errMalformed, kmsg.NameForKey(r.key), r.version, err)
	}
	r.kreq = kreq
	return r, nil
}

// skipTags skips a tagged-field section and returns its length.
func skipTags(b []byte) (int, error) {
	n, pos, err := uvarint(b, 0)
	if err != nil {
		return 0, err
	}
	for i := uint64(0); i < n; i++ {
		if _, pos, err = uvarint(b, pos); err != nil {
			return 0, err
		}
		var size uint64
		if size, pos, err = uvarint(b, pos); err != nil {
			return 0, err
		}
		if size > uint64(len(b)-pos) {
			return 0, fmt.Errorf("%w: tagged field overruns frame", errMalformed)
		}
		pos += int(size)
	}
	return pos, nil
}

func uvarint(b []byte, pos int) (uint64, int, error) {
	if pos > len(b) {
		return 0, pos, fmt.Errorf("%w: truncated varint", errMalformed)
	}
	v, n := binary.Uvarint(b[pos:])
	if n <= 0 {
		return 0, pos, fmt.Errorf("%w: bad varint", errMalformed)
	}
	return v, pos + n, nil
}

// errorCode returns the Kafka code of a kerr error (0 for nil).
func errorCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}
