package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/quorum"
)

// The controller listener (controller.listener.names) carries two kinds of
// connection, told apart by their first bytes: the quorum's own raft
// stream (quorum.Preamble) and the controller API, HTTP on loopback-style
// internal paths, that brokers use to register, heartbeat and forward
// metadata writes to the active controller. Kafka's own messages
// (BrokerRegistration, BrokerHeartbeat) travel as kmsg bodies.

const (
	ctrlPathPropose  = "/gregor/controller/v1/propose"
	ctrlPathKafka    = "/gregor/controller/v1/kafka"
	ctrlPathStatus   = "/gregor/controller/v1/quorum"
	ctrlPathMetadata = "/gregor/controller/v1/metadata"
)

// maxControllerBody bounds a controller API request body.
const maxControllerBody = 64 << 20

// controllerServer serves the controller API on the connections the
// controller listeners hand it.
type controllerServer struct {
	b   *Broker
	ln  *chanListener
	srv *http.Server
	wg  sync.WaitGroup
}

func newControllerServer(b *Broker) *controllerServer {
	s := &controllerServer{b: b, ln: newChanListener()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ctrlPathPropose, s.handlePropose)
	mux.HandleFunc("POST "+ctrlPathKafka, s.handleKafka)
	mux.HandleFunc("GET "+ctrlPathStatus, s.handleStatus)
	mux.HandleFunc("GET "+ctrlPathMetadata, s.handleMetadata)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(s.ln)
	}()
	return s
}

func (s *controllerServer) close() {
	s.srv.Close()
	s.ln.Close()
	s.wg.Wait()
}

// serveConn sniffs one accepted controller-listener connection.
func (s *controllerServer) serveConn(nc net.Conn) {
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	head, err := br.Peek(len(quorum.Preamble))
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return
	}
	pc := &peekedConn{Conn: nc, r: br}
	if string(head) == quorum.Preamble {
		s.b.quorum.ServeConn(pc)
		return
	}
	if !s.ln.deliver(pc) {
		nc.Close()
	}
}

type proposeResult struct {
	NotLeader bool   `json:"notLeader,omitempty"`
	Leader    int32  `json:"leader,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (s *controllerServer) handlePropose(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxControllerBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var res proposeResult
	if !s.b.quorum.LeaderReady() {
		res.NotLeader, res.Leader = true, s.b.controllerNode()
	} else if _, err := s.b.quorum.Propose(r.Context(), data); err != nil {
		if errors.Is(err, quorum.ErrNotLeader) {
			res.NotLeader, res.Leader = true, s.b.controllerNode()
		} else {
			res.Kind, res.Error = applyErrorKind(err), err.Error()
			if res.Kind == "" {
				res.NotLeader = true // the proposal did not commit: retry
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// handleKafka serves BrokerRegistration and BrokerHeartbeat, kmsg bodies
// with the API key and version in the query.
func (s *controllerServer) handleKafka(w http.ResponseWriter, r *http.Request) {
	key, err1 := strconv.Atoi(r.URL.Query().Get("key"))
	version, err2 := strconv.Atoi(r.URL.Query().Get("version"))
	body, err3 := io.ReadAll(io.LimitReader(r.Body, maxControllerBody))
	if err := errors.Join(err1, err2, err3); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp kmsg.Response
	switch int16(key) {
	case kmsg.BrokerRegistration.Int16():
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.SetVersion(int16(version))
		if err := req.ReadFrom(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp = s.b.ctrl.register(req)
	case kmsg.BrokerHeartbeat.Int16():
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.SetVersion(int16(version))
		if err := req.ReadFrom(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp = s.b.ctrl.heartbeat(req)
	default:
		http.Error(w, fmt.Sprintf("API key %d is not served here", key), http.StatusBadRequest)
		return
	}
	w.Write(resp.AppendTo(nil))
}

// nodeStatus is the controller API's status of a node: its quorum view
// and the metadata it has applied (with a digest, so tests and operators
// can compare nodes).
type nodeStatus struct {
	quorum.Status
	MetadataApplied uint64 `json:"metadataApplied"`
	MetadataHash    string `json:"metadataHash"`
}

func (s *controllerServer) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := nodeStatus{Status: s.b.quorum.Status()}
	s.b.mu.RLock()
	st.MetadataApplied, st.MetadataHash = s.b.meta.AppliedIndex(), s.b.meta.Hash()
	s.b.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// controllerClient calls the controller API of another controller node.
type controllerClient struct {
	voters map[int32]string
	scheme string // http, or https on an SSL controller listener (controller_security.go)
	http   *http.Client
	poll   *http.Client // long polls: bounded by their context
}

func newControllerClient(voters map[int32]string) *controllerClient {
	return &controllerClient{voters: voters, scheme: "http", http: &http.Client{Timeout: 10 * time.Second}, poll: &http.Client{}}
}

func (c *controllerClient) url(node int32, path string) (string, bool) {
	addr, ok := c.voters[node]
	if !ok || addr == "" {
		return "", false
	}
	return c.scheme + "://" + addr + path, true
}

// propose forwards a record to the leader. retry is set when it did not
// commit there (no leader known, leadership moved, network error).
func (c *controllerClient) propose(ctx context.Context, leader int32, data []byte) (applyErr error, retry bool) {
	u, ok := c.url(leader, ctrlPathPropose)
	if !ok {
		return nil, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return nil, true
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true
	}
	defer resp.Body.Close()
	var res proposeResult
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&res) != nil || res.NotLeader {
		return nil, true
	}
	if res.Error != "" {
		return applyErrorFromKind(res.Kind, res.Error), false
	}
	return nil, false
}

// kafka sends one kmsg request to the controller API of node.
func (c *controllerClient) kafka(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	u, ok := c.url(node, ctrlPathKafka)
	if !ok {
		return nil, errNoController
	}
	u += fmt.Sprintf("?key=%d&version=%d", req.Key(), req.GetVersion())
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.AppendTo(nil)))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("controller %d: %w", node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxControllerBody))
	if err != nil {
		return nil, fmt.Errorf("controller %d: %w", node, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("controller %d: %s: %s", node, resp.Status, bytes.TrimSpace(body))
	}
	kresp := req.ResponseKind()
	kresp.SetVersion(req.GetVersion())
	if err := kresp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("controller %d: decode %s response: %w", node, kmsg.NameForKey(req.Key()), err)
	}
	return kresp, nil
}

// status fetches the quorum status from node.
func (c *controllerClient) status(ctx context.Context, node int32) (nodeStatus, error) {
	var st nodeStatus
	u, ok := c.url(node, ctrlPathStatus)
	if !ok {
		return st, errNoController
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("controller %d: %w", node, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("controller %d: decode quorum status: %w", node, err)
	}
	return st, nil
}

// peekedConn is a connection whose first bytes were peeked: reads come
// from the buffered reader first.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed with connections by deliver.
type chanListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }
