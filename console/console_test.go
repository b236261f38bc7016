package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/console"
)

// env is a console against an in-process broker, served by httptest.
type env struct {
	t   *testing.T
	b   *brokertest.Broker
	c   *console.Console
	srv *httptest.Server
	hc  *http.Client
}

func newEnv(t *testing.T, cfg console.Config, opts ...brokertest.Option) *env {
	t.Helper()
	b := brokertest.Start(t, opts...)
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{b.Addr()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = 500 * time.Millisecond
	}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { srv.Close(); c.Close() })
	jar, _ := cookiejar.New(nil)
	return &env{t: t, b: b, c: c, srv: srv, hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// do sends a request (with the CSRF header unless noCSRF) and decodes the
// JSON answer into out (when not nil); it returns the status.
func (e *env) do(method, path string, body any, out any) int {
	e.t.Helper()
	return e.doH(method, path, body, out, map[string]string{console.CSRFHeader: "1"})
}

func (e *env) doH(method, path string, body any, out any, hdr map[string]string) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	hdr = maps.Clone(hdr)
	if body != nil {
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["Content-Type"] = "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiErr is the API's error object.
type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field"`
}
