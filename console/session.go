package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SessionCookie is the name of the HttpOnly cookie that holds a login
// session's ID.
const SessionCookie = "gregor_session"

// session is who a request acts as: a Kafka client (and its admin
// client) connected as one user, or the shared client when there is no
// login.
type session struct {
	id   string
	user string
	// opts create more clients as the same user (the message browser's
	// consumers).
	opts []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
	last atomic.Int64 // unix nanoseconds of the last request
}

// newClient creates a client as the session's user, with extra options.
func (s *session) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, s.opts...), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("console: new client: %w", err)
	}
	return cl, nil
}

func (s *session) close() { s.cl.Close() }

// sessions owns the login sessions (or the one shared session); mu guards
// byID and is a leaf.
type sessions struct {
	cfg    Config
	shared *session // nil when logins are required

	mu   sync.Mutex
	byID map[string]*session
}

// baseOpts are the options of every client of the console.
func baseOpts(cfg Config) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("gregor-console"),
		kgo.DialTimeout(10 * time.Second),
		kgo.RetryTimeout(opTimeout),
	}
	return append(opts, cfg.ClientOptions...)
}

func newSessions(cfg Config) (*sessions, error) {
	ss := &sessions{cfg: cfg, byID: map[string]*session{}}
	if cfg.SASLMechanism == "" {
		s, err := openSession(baseOpts(cfg), "")
		if err != nil {
			return nil, err
		}
		ss.shared = s
	}
	return ss, nil
}

// openSession creates the clients of a session.
func openSession(opts []kgo.Opt, user string) (*session, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &session{user: user, opts: opts, cl: cl, adm: kadm.NewClient(cl)}
	s.adm.SetTimeoutMillis(int32(opTimeout.Milliseconds()))
	s.last.Store(time.Now().UnixNano())
	return s, nil
}

// loginRequired says whether requests need a session cookie.
func (ss *sessions) loginRequired() bool { return ss.shared == nil }

// mechanism returns the SASL mechanism for user and password.
func mechanism(name, user, password string) sasl.Mechanism {
	switch name {
	case MechanismPlain:
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	case MechanismSCRAMSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
}

// errLoginFailed is the answer to wrong credentials.
var errLoginFailed = &apiError{Status: http.StatusUnauthorized, Code: "SASL_AUTHENTICATION_FAILED", Message: "wrong user name or password"}

// login connects as user and, once a broker has accepted the
// credentials, returns a new session.
func (ss *sessions) login(ctx context.Context, user, password string) (*session, error) {
	if user == "" {
		return nil, badRequest("username is empty")
	}
	opts := append(baseOpts(ss.cfg), kgo.SASL(mechanism(ss.cfg.SASLMechanism, user, password)))
	s, err := openSession(opts, user)
	if err != nil {
		return nil, err
	}
	if err := s.cl.Ping(ctx); err != nil {
		s.close()
		if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.UnsupportedSaslMechanism) {
			return nil, errLoginFailed
		}
		return nil, &apiError{Status: http.StatusBadGateway, Code: "KAFKA_UNAVAILABLE", Message: "cannot reach a broker: " + err.Error()}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		s.close()
		return nil, fmt.Errorf("console: session id: %w", err)
	}
	s.id = base64.RawURLEncoding.EncodeToString(raw[:])
	ss.mu.Lock()
	ss.byID[s.id] = s
	ss.mu.Unlock()
	return s, nil
}

// errNoSession is the answer to an API call without a valid session.
var errNoSession = &apiError{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED", Message: "log in first"}

// fromRequest returns the request's session: the shared one, or the one
// its cookie names if it has not expired.
func (ss *sessions) fromRequest(r *http.Request) (*session, error) {
	if ss.shared != nil {
		return ss.shared, nil
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, errNoSession
	}
	now := time.Now()
	ss.mu.Lock()
	s := ss.byID[ck.Value]
	if s != nil && now.Sub(time.Unix(0, s.last.Load())) > SessionIdle {
		delete(ss.byID, s.id)
		ss.mu.Unlock()
		s.close()
		return nil, errNoSession
	}
	ss.mu.Unlock()
	if s == nil {
		return nil, errNoSession
	}
	s.last.Store(now.UnixNano())
	return s, nil
}

// logout ends the request's session, if any.
func (ss *sessions) logout(r *http.Request) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return
	}
	ss.mu.Lock()
	s := ss.byID[ck.Value]
	delete(ss.byID, ck.Value)
	ss.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// expire closes the sessions idle for longer than SessionIdle.
func (ss *sessions) expire(now time.Time) {
	var old []*session
	ss.mu.Lock()
	for id, s := range ss.byID {
		if now.Sub(time.Unix(0, s.last.Load())) > SessionIdle {
			old = append(old, s)
			delete(ss.byID, id)
		}
	}
	ss.mu.Unlock()
	for _, s := range old {
		s.close()
	}
}

// principals returns one session per user (the most recently used), the
// clients the sampler samples with, so that each user's history is what
// that user may see.
func (ss *sessions) principals() []*session {
	if ss.shared != nil {
		return []*session{ss.shared}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	byUser := map[string]*session{}
	for _, s := range ss.byID {
		if o := byUser[s.user]; o == nil || s.last.Load() > o.last.Load() {
			byUser[s.user] = s
		}
	}
	out := make([]*session, 0, len(byUser))
	for _, s := range byUser {
		out = append(out, s)
	}
	return out
}

// closeAll closes every session.
func (ss *sessions) closeAll() {
	ss.mu.Lock()
	all := ss.byID
	ss.byID = map[string]*session{}
	ss.mu.Unlock()
	for _, s := range all {
		s.close()
	}
	if ss.shared != nil {
		ss.shared.close()
	}
}

// handleSession answers GET /api/session.
func (c *Console) handleSession(w http.ResponseWriter, r *http.Request) {
	out := struct {
		LoginRequired bool   `json:"loginRequired"`
		User          string `json:"user"`
		Mechanism     string `json:"mechanism,omitempty"`
	}{LoginRequired: c.sessions.loginRequired(), Mechanism: c.cfg.SASLMechanism}
	if out.LoginRequired {
		if s, err := c.sessions.fromRequest(r); err == nil {
			out.User = s.user
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleLogin answers POST /api/login.
func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !c.sessions.loginRequired() {
		writeError(w, badRequest("this console has no login: it is not configured with a SASL mechanism"))
		return
	}
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	s, err := c.sessions.login(ctx, in.Username, in.Password)
	if err != nil {
		c.log.Info("console: login failed", "user", in.Username, "err", err)
		writeError(w, err)
		return
	}
	c.log.Info("console: login", "user", s.user)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(SessionIdle.Seconds())})
	writeJSON(w, http.StatusOK, map[string]any{"loginRequired": true, "user": s.user})
}

// handleLogout answers POST /api/logout.
func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request) {
	c.sessions.logout(r)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}
