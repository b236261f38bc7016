package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrNoAddr is returned by Listen when Config.Addr is empty.
var ErrNoAddr = errors.New("observe: no listen address")

// Config says what a Server serves.
type Config struct {
	// Addr is the host:port to listen on (port 0 picks a free one).
	Addr string
	// Registry is gathered for /metrics; nil serves an empty registry.
	Registry *prometheus.Registry
	// Ready reports readiness for /readyz: nil when ready, otherwise why
	// not. A nil Ready means always ready.
	Ready func() error
	// Logger receives the server's errors (default slog.Default()).
	Logger *slog.Logger
	// Mount, when not nil, serves every path the listener does not serve
	// itself (/metrics, /healthz, /readyz and /debug/pprof/ keep priority):
	// the broker's web console, a streams App's /topology and /info.
	Mount http.Handler
}

// NewRegistry returns a registry of its own (never the global one) holding
// the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server is a running HTTP listener. Close stops it and waits for its
// goroutine.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once
}

// Listen binds cfg.Addr and serves in the background until Close.
func Listen(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, ErrNoAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("observe: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{ln: ln, logger: cfg.Logger}
	s.srv = &http.Server{Handler: Handler(cfg), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("metrics and health server", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port picked for
// port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it stops accepting, gives requests in flight a
// few seconds to finish (a profile being taken is cut short), and returns
// once the serving goroutine has ended. Safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err = s.srv.Shutdown(ctx); err != nil {
			err = s.srv.Close()
		}
		s.wg.Wait()
	})
	return err
}

// Handler returns the server's routes (what Listen serves), for embedding
// in another server or for tests.
func Handler(cfg Config) http.Handler {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slogErrorLog{cfg.Logger},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		plain(w, http.StatusOK, "ready")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if cfg.Mount != nil {
		mux.Handle("/", cfg.Mount)
	}
	return mux
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// slogErrorLog passes promhttp's errors (a collector that failed) to the
// logger.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Println(v ...any) {
	l := e.l
	if l == nil {
		l = slog.Default()
	}
	l.Error("metrics: " + fmt.Sprint(v...))
}
