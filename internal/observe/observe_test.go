package observe

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServer(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "observe_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	var notReady atomic.Pointer[error]
	why := errors.New("recovering the logs")
	notReady.Store(&why)
	srv, err := Listen(Config{Addr: "127.0.0.1:0", Registry: reg, Ready: func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || strings.TrimSpace(body) != "not ready: recovering the logs" {
		t.Errorf("/readyz while not ready: %d %q", code, body)
	}
	notReady.Store(nil)
	if code, body := get(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz when ready: %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{"observe_test_things_total 3", "go_goroutines ", "process_cpu_seconds_total "} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics: %d, no %q in:\n%s", code, want, body)
		}
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
		if code, _ := get(t, base+path); code != 200 {
			t.Errorf("%s: %d", path, code)
		}
	}
	if code, _ := get(t, base+"/nothing"); code != 404 {
		t.Errorf("/nothing: %d, want 404", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen(Config{}); !errors.Is(err, ErrNoAddr) {
		t.Errorf("Listen with no address: %v, want ErrNoAddr", err)
	}
	if _, err := Listen(Config{Addr: "127.0.0.1:notaport"}); err == nil {
		t.Error("Listen on a bad address succeeded")
	}
}

// TestOwnRegistry: each registry is its own, so two processes' worth of
// collectors in one test binary do not collide, and nothing lands in the
// global registry.
func TestOwnRegistry(t *testing.T) {
	a, b := NewRegistry(), NewRegistry()
	for _, reg := range []*prometheus.Registry{a, b} {
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "observe_test_gauge", Help: "A gauge."}))
	}
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "observe_test_gauge" {
			t.Error("a registry's collector reached the global registry")
		}
	}
}
