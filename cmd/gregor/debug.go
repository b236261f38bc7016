package main

import (
	"errors"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"time"
)

// debugAddrUsage is the help of every command's --debug-addr flag.
const debugAddrUsage = "serve Go's profiling endpoints (/debug/pprof) on this address, e.g. 127.0.0.1:6060"

// startDebugServer serves Go's profiling endpoints on addr (nothing when
// addr is empty) and returns what stops it.
func startDebugServer(addr string, log *slog.Logger) (stop func()) {
	if addr == "" {
		return func() {}
	}
	srv := &http.Server{Addr: addr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug server", "err", err)
		}
	}()
	log.Info("profiling endpoints on http://" + addr + "/debug/pprof/")
	return func() { _ = srv.Close() }
}
