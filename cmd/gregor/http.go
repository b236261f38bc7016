package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/gregorhq/gregor/internal/observe"
)

// httpUsage is the help of the --http flag of the commands that run a
// server process.
const httpUsage = "serve /metrics (Prometheus), /healthz, /readyz and Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:9644 (off when empty)"

// httpFlags is a server command's --http flag and its deprecated alias
// --debug-addr, which used to serve the profiler alone.
type httpFlags struct {
	addr      string
	debugAddr string
}

// add registers the flags on fl.
func (h *httpFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&h.addr, "http", "", httpUsage)
	fl.StringVar(&h.debugAddr, "debug-addr", "", "deprecated alias of --http")
	_ = fl.MarkDeprecated("debug-addr", "use --http, which serves the profiler together with metrics and health")
}

// address is --http, or --debug-addr when only the old flag is given.
func (h *httpFlags) address() string {
	if h.addr != "" {
		return h.addr
	}
	return h.debugAddr
}

// startHTTP serves the process's metrics, health and profiler on the
// --http address from reg (nothing when no address is given) and returns
// the address it listens on ("" when none) and what stops it. ready
// answers /readyz.
func startHTTP(h httpFlags, reg *prometheus.Registry, ready func() error, log *slog.Logger) (addr string, stop func(), err error) {
	return startHTTPMount(h, reg, ready, nil, log)
}

// startHTTPMount is startHTTP that also serves mount on the paths the
// listener does not serve itself (the broker's web console at /).
func startHTTPMount(h httpFlags, reg *prometheus.Registry, ready func() error, mount http.Handler, log *slog.Logger) (addr string, stop func(), err error) {
	if h.address() == "" {
		return "", func() {}, nil
	}
	srv, err := observe.Listen(observe.Config{Addr: h.address(), Registry: reg, Ready: ready, Mount: mount, Logger: log})
	if err != nil {
		return "", nil, err
	}
	log.Info("metrics, health and profiling on http://"+srv.Addr(), "metrics", "/metrics", "health", "/healthz", "ready", "/readyz", "pprof", "/debug/pprof/")
	return srv.Addr(), func() { _ = srv.Close() }, nil
}

// httpNote is the part of a ready line that names the --http listener.
func httpNote(addr string) string {
	if addr == "" {
		return ""
	}
	return ", metrics http://" + addr + "/metrics"
}

// errRecovering is the readiness of a broker whose logs are still being
// recovered (broker.New has not returned).
var errRecovering = errors.New("recovering the logs and metadata")
