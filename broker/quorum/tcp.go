package quorum

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// On a connection between voters the dialer writes Preamble, then frames:
//
//	size  uint32 big-endian (at most MaxFrameSize)
//	body  a protobuf raftpb.Message
//
// Connections are one-way: each node dials every peer for its outbound
// messages and reads the messages peers send it on the connections they dial.

const (
	peerQueueSize  = 1024
	dialTimeout    = time.Second
	writeTimeout   = 10 * time.Second
	backoffMin     = 20 * time.Millisecond
	backoffMax     = time.Second
	writeBatchSize = 64
)

// reporter is the part of Node a transport reports to.
type reporter interface {
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, delivered bool)
}

// tcpTransport keeps one outbound connection per peer, each with its own
// goroutine and bounded queue.
type tcpTransport struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	rep   reporter
	log   *slog.Logger
	peers map[uint64]*tcpPeer
	stop  chan struct{}
	ctx   context.Context // cancelled by Close: ends dials
	stopf context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
}

type tcpPeer struct {
	t    *tcpTransport
	id   uint64
	addr string
	q    chan *raftpb.Message

	mu     sync.Mutex // leaf lock; guards conn and closed
	conn   net.Conn
	closed bool
}

func newTCPTransport(self uint64, voters map[uint64]string, rep reporter, log *slog.Logger, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *tcpTransport {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t := &tcpTransport{dial: dial, rep: rep, log: log, peers: map[uint64]*tcpPeer{}, stop: make(chan struct{})}
	t.ctx, t.stopf = context.WithCancel(context.Background())
	for id, addr := range voters {
		if id == self {
			continue
		}
		p := &tcpPeer{t: t, id: id, addr: addr, q: make(chan *raftpb.Message, peerQueueSize)}
		t.peers[id] = p
		t.wg.Add(1)
		go p.run()
	}
	return t
}

// Send queues each message for its peer's goroutine; a full queue drops it.
func (t *tcpTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		p := t.peers[m.GetTo()]
		if p == nil {
			continue
		}
		select {
		case p.q <- m:
		default:
			if m.GetType() == raftpb.MsgSnap {
				// Report from another goroutine: Send runs on the node's.
				t.wg.Add(1)
				go func() {
					defer t.wg.Done()
					t.rep.ReportSnapshot(p.id, false)
				}()
			}
		}
	}
}

// Close stops every peer goroutine, closing its connection, and waits.
func (t *tcpTransport) Close() error {
	t.once.Do(func() {
		close(t.stop)
		t.stopf()
		for _, p := range t.peers {
			p.mu.Lock()
			p.closed = true
			if p.conn != nil {
				p.conn.Close()
			}
			p.mu.Unlock()
		}
	})
	t.wg.Wait()
	return nil
}

func (p *tcpPeer) run() {
	defer p.t.wg.Done()
	defer p.closeConn()
	backoff := backoffMin
	batch := make([]*raftpb.Message, 0, writeBatchSize)
	var bw *bufio.Writer
	for {
		batch = batch[:0]
		select {
		case m := <-p.q:
			batch = append(batch, m)
		case <-p.t.stop:
			return
		}
	more:
		for len(batch) < writeBatchSize {
			select {
			case m := <-p.q:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if bw == nil {
			c, err := p.dial()
			if err != nil {
				p.t.log.Debug("quorum: dial peer", "peer", p.id, "addr", p.addr, "err", err)
				p.failed(batch, true)
				if !p.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, backoffMax)
				continue
			}
			backoff = backoffMin
			bw = bufio.NewWriterSize(c, 64<<10)
		}
		if err := p.write(bw, batch); err != nil {
			p.t.log.Debug("quorum: write to peer", "peer", p.id, "err", err)
			p.closeConn()
			bw = nil
			p.failed(batch, false)
			continue
		}
		for _, m := range batch {
			if m.GetType() == raftpb.MsgSnap {
				p.t.rep.ReportSnapshot(p.id, true)
			}
		}
	}
}

// failed reports undeliverable messages; after a failed dial it also drops
// what is queued, which would be stale by the next attempt.
func (p *tcpPeer) failed(batch []*raftpb.Message, drain bool) {
	p.t.rep.ReportUnreachable(p.id)
	for {
		for _, m := range batch {
			if m.GetType() == raftpb.MsgSnap {
				p.t.rep.ReportSnapshot(p.id, false)
			}
		}
		if !drain {
			return
		}
		batch = batch[:0]
	drain:
		for len(batch) < writeBatchSize {
			select {
			case m := <-p.q:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			return
		}
	}
}

func (p *tcpPeer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.t.stop:
		return false
	}
}

func (p *tcpPeer) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.t.ctx, dialTimeout)
	defer cancel()
	c, err := p.t.dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(c, Preamble); err != nil {
		c.Close()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	p.conn = c
	return c, nil
}

func (p *tcpPeer) closeConn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

func (p *tcpPeer) write(bw *bufio.Writer, batch []*raftpb.Message) error {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	var hdr [4]byte
	for _, m := range batch {
		b, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("quorum: encode message: %w", err)
		}
		if len(b) > MaxFrameSize {
			return fmt.Errorf("quorum: %s of %d bytes exceeds MaxFrameSize", m.GetType(), len(b))
		}
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		if _, err := bw.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ServeConn reads raft messages from a peer's connection until it closes or
// the node does, and closes it. The connection may start with Preamble or
// with it already consumed by whoever sniffed it (a frame size can never
// equal Preamble's bytes, which exceed MaxFrameSize). It blocks.
func (n *Node) ServeConn(c net.Conn) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return
	}
	n.conns[c] = struct{}{}
	n.connWG.Add(1)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.conns, c)
		n.mu.Unlock()
		c.Close()
		n.connWG.Done()
	}()
	// serveConn returns only with the error that ended the connection.
	if err := n.serveConn(c); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, ErrClosed) {
		n.log.Debug("quorum: peer connection ended", "remote", c.RemoteAddr(), "err", err)
	}
}

func (n *Node) serveConn(c net.Conn) error {
	fr := newFrameReader(c)
	for {
		m, err := fr.next()
		if err != nil {
			return err
		}
		if err := n.Step(context.Background(), m); err != nil {
			return err
		}
	}
}

// frameReader decodes the inbound side of a peer connection: an optional
// Preamble, then size-prefixed raftpb.Message frames.
type frameReader struct {
	br      *bufio.Reader
	started bool
	buf     []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next message; io.EOF at a clean end between frames.
func (fr *frameReader) next() (*raftpb.Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(fr.br, hdr[:]); err != nil {
		return nil, err
	}
	if !fr.started {
		fr.started = true
		if string(hdr[:]) == Preamble {
			if _, err := io.ReadFull(fr.br, hdr[:]); err != nil {
				return nil, err
			}
		}
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxFrameSize {
		return nil, fmt.Errorf("quorum: frame of %d bytes exceeds MaxFrameSize", size)
	}
	if cap(fr.buf) < int(size) {
		fr.buf = make([]byte, size)
	}
	fr.buf = fr.buf[:size]
	if _, err := io.ReadFull(fr.br, fr.buf); err != nil {
		return nil, fmt.Errorf("quorum: frame cut short: %w", err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(fr.buf, m); err != nil { // copies: buf is reused
		return nil, fmt.Errorf("quorum: decode message: %w", err)
	}
	return m, nil
}
