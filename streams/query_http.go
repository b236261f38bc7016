package streams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// queryServer serves this instance's stores at its application.server and asks other
// instances' servers for the keys they host.
//
//	GET /v1/stores/{store}/keys/{key}                    a key-value store's value
//	GET /v1/stores/{store}/windows/{key}?from=MS&to=MS   a window store's windows
//
// where key is the serialized key in base64url without padding. A key answers 200
// with the serialized value, or 404 when the store has none; windows answer 200 with
// a JSON array of {"start", "end", "value" (base64)}. Both answer 421 (Misdirected
// Request) when this instance does not run the key's task, and 400 for an unknown
// store or a malformed request.
type queryServer struct {
	a      *App
	self   HostInfo
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	logger *slog.Logger
}

// startQueryServer listens on endpoint ("host:port") and serves queries until close.
func startQueryServer(a *App, endpoint string) (*queryServer, error) {
	self, err := parseHostInfo(endpoint)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", self.String())
	if err != nil {
		return nil, fmt.Errorf("streams: application server: %w", err)
	}
	s := &queryServer{a: a, self: self, ln: ln, logger: a.cfg.Logger,
		client: &http.Client{Timeout: 30 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/stores/{store}/keys/{key}", s.serveKey)
	mux.HandleFunc("GET /v1/stores/{store}/windows/{key}", s.serveWindows)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("streams: application server stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *queryServer) serveKey(w http.ResponseWriter, r *http.Request) {
	store := r.PathValue("store")
	kb, err := base64.RawURLEncoding.DecodeString(r.PathValue("key"))
	if err != nil {
		http.Error(w, "malformed key: want base64url without padding", http.StatusBadRequest)
		return
	}
	vb, err := s.a.queryLocal(store, kb)
	switch {
	case err != nil:
		httpQueryError(w, err)
	case vb == nil:
		http.Error(w, "no value for the key", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(vb)
	}
}

func (s *queryServer) serveWindows(w http.ResponseWriter, r *http.Request) {
	store := r.PathValue("store")
	kb, err := base64.RawURLEncoding.DecodeString(r.PathValue("key"))
	if err != nil {
		http.Error(w, "malformed key: want base64url without padding", http.StatusBadRequest)
		return
	}
	from, err1 := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
	if err1 != nil || err2 != nil {
		http.Error(w, "from and to must be times in milliseconds", http.StatusBadRequest)
		return
	}
	wins, err := s.a.queryWindowLocal(store, kb, from, to)
	if err != nil {
		httpQueryError(w, err)
		return
	}
	if wins == nil {
		wins = []rawWindow{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(wins)
}

// httpQueryError answers a failed local query with its status.
func httpQueryError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotHosted):
		http.Error(w, err.Error(), http.StatusMisdirectedRequest)
	case errors.Is(err, ErrUnknownStore):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// remoteWindows asks host for kb's windows in store.
func (s *queryServer) remoteWindows(ctx context.Context, host HostInfo, store string, kb []byte, from, to int64) ([]rawWindow, error) {
	u := fmt.Sprintf("http://%s/v1/stores/%s/windows/%s?from=%d&to=%d", host, url.PathEscape(store), base64.RawURLEncoding.EncodeToString(kb), from, to)
	body, err := s.get(ctx, u, host, store)
	if err != nil || body == nil {
		return nil, err
	}
	var out []rawWindow
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("streams: query %s at %s: %w", store, host, err)
	}
	return out, nil
}

// remote asks host for kb in store.
func (s *queryServer) remote(ctx context.Context, host HostInfo, store string, kb []byte) ([]byte, error) {
	u := fmt.Sprintf("http://%s/v1/stores/%s/keys/%s", host, url.PathEscape(store), base64.RawURLEncoding.EncodeToString(kb))
	return s.get(ctx, u, host, store)
}

// get fetches u: the body on 200, nil on 404, ErrNotHosted on 421.
func (s *queryServer) get(ctx context.Context, u string, host HostInfo, store string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("streams: query %s at %s: %w", store, host, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("streams: query %s at %s: %w", store, host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("streams: query %s at %s: %w", store, host, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if body == nil {
			body = []byte{}
		}
		return body, nil
	case http.StatusNotFound:
		return nil, nil
	case http.StatusMisdirectedRequest:
		return nil, fmt.Errorf("%w: %s: %s", ErrNotHosted, host, body)
	default:
		return nil, fmt.Errorf("streams: query %s at %s: %s: %s", store, host, resp.Status, body)
	}
}

// close stops serving.
func (s *queryServer) close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
