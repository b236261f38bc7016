package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWKSSource serves the key set of sasl.oauthbearer.jwks.endpoint.url: a
// file (a path or file:// URL, read again when it changes) or an http(s)
// endpoint (fetched again every Refresh, Kafka's
// sasl.oauthbearer.jwks.endpoint.refresh.ms). A failed refresh keeps the
// last good set.
type JWKSSource struct {
	location string
	isHTTP   bool
	refresh  time.Duration
	client   *http.Client

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	loaded  time.Time   // when keys were fetched (http)
	stamp   os.FileInfo // of the file the keys came from
	lastErr error
}

// NewJWKSSource reads the key set at location once; it must load now.
func NewJWKSSource(location string, refresh time.Duration) (*JWKSSource, error) {
	s := &JWKSSource{location: location, refresh: refresh, client: &http.Client{Timeout: 10 * time.Second}}
	if u, err := url.Parse(location); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		s.isHTTP = true
	} else if ok := strings.HasPrefix(location, "file://"); ok {
		s.location = strings.TrimPrefix(location, "file://")
	}
	if s.refresh <= 0 {
		s.refresh = time.Hour
	}
	if _, err := s.Keys(); err != nil {
		return nil, err
	}
	return s, nil
}

// Keys returns the current key set, reloading it if it is due.
func (s *JWKSSource) Keys() (*jose.JSONWebKeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isHTTP {
		if s.keys == nil || time.Since(s.loaded) >= s.refresh {
			s.loaded = time.Now() // also after a failure: retry at the next refresh
			keys, err := s.fetch()
			if err == nil {
				s.keys = keys
			}
			s.lastErr = err
		}
	} else {
		fi, err := os.Stat(s.location)
		if err != nil && s.keys == nil {
			return nil, fmt.Errorf("auth: JWKS file: %w", err)
		}
		if err == nil && (s.stamp == nil || !os.SameFile(fi, s.stamp) || !fi.ModTime().Equal(s.stamp.ModTime()) || fi.Size() != s.stamp.Size()) {
			s.stamp = fi
			keys, err := s.readFile()
			if err == nil {
				s.keys = keys
			}
			s.lastErr = err
		}
	}
	if s.keys == nil {
		return nil, s.lastErr
	}
	return s.keys, nil
}

func (s *JWKSSource) readFile() (*jose.JSONWebKeySet, error) {
	data, err := os.ReadFile(s.location)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS file: %w", err)
	}
	return parseJWKS(data)
}

func (s *JWKSSource) fetch() (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.location, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS endpoint: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: JWKS endpoint %s: HTTP %s", s.location, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS endpoint: %w", err)
	}
	return parseJWKS(data)
}

// parseJWKS decodes a JWK Set of public keys.
func parseJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("auth: JWKS has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("auth: JWKS key %q is not a public key", k.KeyID)
		}
	}
	return &set, nil
}
