package console

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/console/web"
)

// Default values of Config fields left zero.
const (
	// DefaultSampleEvery is how often the sampler records high watermarks
	// and group lag when Config.SampleEvery is zero.
	DefaultSampleEvery = 10 * time.Second
	// SessionIdle is how long a login session lives without a request.
	SessionIdle = 8 * time.Hour
	// sampleWindow is how far back the sampler's history goes.
	sampleWindow = time.Hour
	// opTimeout bounds one admin operation of a request.
	opTimeout = 15 * time.Second
)

// The SASL mechanisms Config.SASLMechanism accepts.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// ErrConfig is returned by New for a configuration it cannot use.
var ErrConfig = errors.New("console: bad configuration")

// ConnectCluster is a Kafka Connect cluster the console shows, by the URL
// of its REST API.
type ConnectCluster struct {
	// Name identifies the cluster in the console's URLs (/api/connect/NAME/...).
	Name string
	// URL is the base URL of a worker's REST API, e.g. http://127.0.0.1:8083.
	URL string
}

// Config says which cluster the console shows and how it connects.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// ClientOptions are added to every Kafka client the console creates
	// (TLS, client ID, ...). They must not set SASL when SASLMechanism is set.
	ClientOptions []kgo.Opt
	// SASLMechanism is "" (no login: one shared client) or PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512: the console asks for a user name and
	// password and connects as that user.
	SASLMechanism string
	// Connect are the Kafka Connect clusters to show.
	Connect []ConnectCluster
	// Streams are the base URLs of streams applications' HTTP listeners
	// (streams.Config.HTTPAddr), e.g. http://127.0.0.1:9645.
	Streams []string
	// Logger receives the console's log lines (default slog.Default()).
	Logger *slog.Logger
	// SampleEvery is the sampler's period (default DefaultSampleEvery).
	SampleEvery time.Duration
	// HTTPClient is used for Connect and streams requests (default a client
	// with a 15s timeout).
	HTTPClient *http.Client
}

// Console serves the web console. Create it with New, serve Handler, and
// stop it with Close.
type Console struct {
	cfg      Config
	log      *slog.Logger
	http     *http.Client
	connect  map[string]ConnectCluster
	sessions *sessions
	sampler  *sampler
	mux      *http.ServeMux

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New validates cfg, connects (without SASL, one shared client that must
// reach a broker later, not now) and starts the sampler.
func New(cfg Config) (*Console, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrConfig)
	}
	switch cfg.SASLMechanism {
	case "", MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
	default:
		return nil, fmt.Errorf("%w: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", ErrConfig, cfg.SASLMechanism)
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = DefaultSampleEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: opTimeout}
	}
	c := &Console{cfg: cfg, log: cfg.Logger, http: cfg.HTTPClient, connect: map[string]ConnectCluster{}}
	for _, cc := range cfg.Connect {
		if cc.Name == "" || strings.ContainsAny(cc.Name, "/?#") {
			return nil, fmt.Errorf("%w: Connect cluster name %q", ErrConfig, cc.Name)
		}
		if _, dup := c.connect[cc.Name]; dup {
			return nil, fmt.Errorf("%w: Connect cluster %q given twice", ErrConfig, cc.Name)
		}
		cc.URL = strings.TrimRight(cc.URL, "/")
		c.connect[cc.Name] = cc
	}
	ss, err := newSessions(cfg)
	if err != nil {
		return nil, err
	}
	c.sessions = ss
	c.sampler = newSampler(cfg.SampleEvery)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mux = c.routes()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sampleLoop()
	}()
	return c, nil
}

// Handler serves the console: the single-page app at / and the JSON API
// under /api/.
func (c *Console) Handler() http.Handler { return c.mux }

// Close stops the sampler, closes every client and returns once the
// sampler's goroutine has ended. Safe to call more than once.
func (c *Console) Close() {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.sessions.closeAll()
	})
}

// routes builds the console's mux.
func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, err := fs.Sub(web.FS, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	mux.Handle("/", spa(static))

	mux.HandleFunc("GET /api/session", c.handleSession)
	mux.HandleFunc("POST /api/login", c.csrf(c.handleLogin))
	mux.HandleFunc("POST /api/logout", c.csrf(c.handleLogout))

	c.handle(mux, "GET /api/overview", c.overview)
	c.handle(mux, "GET /api/topics", c.listTopics)
	c.handle(mux, "POST /api/topics", c.createTopic)
	c.handle(mux, "GET /api/topics/{name}", c.describeTopic)
	c.handle(mux, "DELETE /api/topics/{name}", c.deleteTopic)
	c.handle(mux, "PUT /api/topics/{name}/configs", c.alterTopicConfigs)
	c.handle(mux, "GET /api/topics/{name}/messages", c.browse)
	c.handle(mux, "POST /api/topics/{name}/messages", c.produce)
	c.handle(mux, "GET /api/groups", c.listGroups)
	c.handle(mux, "GET /api/groups/{group}", c.describeGroup)
	c.handle(mux, "DELETE /api/groups/{group}", c.deleteGroup)
	c.handle(mux, "POST /api/groups/{group}/reset", c.resetGroup)
	c.handle(mux, "GET /api/connect", c.listConnect)
	c.handle(mux, "/api/connect/{cluster}/{path...}", c.proxyConnect)
	c.handle(mux, "GET /api/streams", c.listStreams)
	c.handle(mux, "GET /api/streams/{app}/topology", c.streamsTopology)
	c.handle(mux, "GET /api/acls", c.listACLs)
	c.handle(mux, "GET /api/users", c.listUsers)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "no such API: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// apiFunc is an API handler: it runs as the request's session and returns
// the value to send as JSON (nil for 204), or an error.
type apiFunc func(w http.ResponseWriter, r *http.Request, s *session) (any, error)

// handle registers an API handler behind the CSRF check and the session
// check.
func (c *Console) handle(mux *http.ServeMux, pattern string, h apiFunc) {
	mux.HandleFunc(pattern, c.csrf(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.sessions.fromRequest(r)
		if err != nil {
			writeError(w, err)
			return
		}
		v, err := h(w, r, s)
		switch {
		case err != nil:
			writeError(w, err)
		case v == nil:
			w.WriteHeader(http.StatusNoContent)
		case v == written:
		default:
			status := http.StatusOK
			if cr, ok := v.(created); ok {
				status, v = http.StatusCreated, cr.v
			}
			writeJSON(w, status, v)
		}
	}))
}

// created wraps a value to send with 201 Created.
type created struct{ v any }

// writtenMarker is returned by handlers that wrote the response themselves.
type writtenMarker struct{}

// written says the handler has written the response.
var written any = &writtenMarker{}

// CSRFHeader is the header every state-changing request must carry with
// the value "1"; a cross-site form cannot set it.
const CSRFHeader = "X-Gregor-Console"

// csrf refuses state-changing requests without the CSRFHeader.
func (c *Console) csrf(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if r.Header.Get(CSRFHeader) != "1" {
				writeError(w, &apiError{Status: http.StatusForbidden, Code: "CSRF",
					Message: "state-changing requests need the header " + CSRFHeader + ": 1"})
				return
			}
		}
		h(w, r)
	}
}

// spa serves the static assets, and index.html for paths that name no
// file (the app's own routes).
func spa(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p != "" {
			if _, err := fs.Stat(static, p); err != nil {
				r2 := r.Clone(r.Context())
				r2.URL.Path = "/"
				files.ServeHTTP(w, r2)
				return
			}
		}
		files.ServeHTTP(w, r)
	})
}

// opCtx bounds one request's Kafka operations.
func opCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), opTimeout)
}
