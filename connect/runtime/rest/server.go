package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/runtime"
)

// Server serves Kafka Connect's REST API over a Herder.
type Server struct {
	h       runtime.Herder
	log     *slog.Logger
	mux     *http.ServeMux
	loggers *runtime.Loggers

	mu  sync.Mutex // guards srv, ln
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// New returns a server for h; serve it with Listen or mount Handler.
func New(h runtime.Herder, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{h: h, log: log, mux: http.NewServeMux(), loggers: runtime.NewLoggers(slog.LevelInfo)}
	s.routes()
	s.offsetRoutes()
	return s
}

// SetLoggers makes /admin/loggers read and change l (by default the
// server has loggers of its own that affect no log output). Call it
// before serving.
func (s *Server) SetLoggers(l *runtime.Loggers) { s.loggers = l }

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.forwarding(s.mux) }

// ErrListener is returned (wrapped) for a listener Gregor cannot serve.
var ErrListener = errors.New("bad listener")

// ParseListener turns a Kafka Connect listener (http://host:port) into a
// host:port to listen on. Only http is supported.
func ParseListener(l string) (string, error) {
	l = strings.TrimSpace(l)
	scheme, hp, ok := strings.Cut(l, "://")
	if !ok {
		return "", fmt.Errorf("%w: %q must look like http://host:port", ErrListener, l)
	}
	if !strings.EqualFold(scheme, "http") {
		return "", fmt.Errorf("%w: %q: only http listeners are supported", ErrListener, l)
	}
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrListener, l, err)
	}
	return hp, nil
}

// Listen starts serving on listener (http://host:port; port 0 picks one)
// in a goroutine that Close stops.
func (s *Server) Listen(listener string) error {
	addr, err := ParseListener(listener)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("rest: listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rest server stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on (host:port).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server, letting requests in flight finish for up to 5
// seconds, and waits for the serving goroutine.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("rest: shutdown: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorMessage{ErrorCode: status, Message: msg})
}

// herderError maps a herder error to Kafka Connect's status codes; the
// message is the error without the sentinel suffix.
func herderError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, runtime.ErrAlreadyExists), errors.Is(err, runtime.ErrRebalancing):
		status = http.StatusConflict
	case errors.Is(err, runtime.ErrBadRequest), errors.Is(err, connect.ErrInvalidConfig), errors.Is(err, connect.ErrUnknownPlugin):
		status = http.StatusBadRequest
	}
	msg := err.Error()
	for _, s := range []error{runtime.ErrNotFound, runtime.ErrAlreadyExists, runtime.ErrBadRequest, runtime.ErrRebalancing} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	writeError(w, status, msg)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("HTTP %d Method Not Allowed: %s %s", http.StatusMethodNotAllowed, r.Method, r.URL.Path))
}

// decode reads a JSON body into v, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// boolParam reads a boolean query parameter (absent: false).
func boolParam(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter %s=%q must be true or false", name, v))
		return false, false
	}
	return b, true
}
