package streams

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// queryServer serves this instance's stores at its application.server and asks other
// instances' servers for the keys they host.
//
//	GET /v1/stores/{store}/keys/{key}   key: the serialized key, base64url without padding
//
// answers 200 with the serialized value, 404 when the store has no value for the key,
// 421 (Misdirected Request) when this instance does not run the key's task, 400 for an
// unknown store or a malformed key.
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
	case errors.Is(err, ErrNotHosted):
		http.Error(w, err.Error(), http.StatusMisdirectedRequest)
	case errors.Is(err, ErrUnknownStore):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	case vb == nil:
		http.Error(w, "no value for the key", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(vb)
	}
}

// remote asks host for kb in store.
func (s *queryServer) remote(ctx context.Context, host HostInfo, store string, kb []byte) ([]byte, error) {
	u := fmt.Sprintf("http://%s/v1/stores/%s/keys/%s", host, url.PathEscape(store), base64.RawURLEncoding.EncodeToString(kb))
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
