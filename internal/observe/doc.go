// Package observe serves a Gregor process's one HTTP listener for
// operators: Prometheus metrics, health and readiness probes, and Go's
// profiler.
//
//	GET /metrics        the process's registry in Prometheus text format
//	GET /healthz        200 "ok" while the process runs
//	GET /readyz         200 "ready" once Config.Ready returns nil, else 503
//	                    with its error as a short plain-text reason
//	    /debug/pprof/   Go's profiler (net/http/pprof), on the server's own mux
//
// Each process has its own registry (NewRegistry: Go runtime and process
// collectors, nothing global); components register their collectors in it.
// Usage:
//
//	reg := observe.NewRegistry()
//	srv, err := observe.Listen(observe.Config{Addr: "127.0.0.1:9644", Registry: reg, Ready: b.Ready})
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	reg.MustRegister(b.Metrics())
//
// The broker (`gregor broker --http`) and Connect (`gregor connect ... --http`)
// serve it; it imports nothing of Gregor.
package observe
