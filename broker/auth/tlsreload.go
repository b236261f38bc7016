package auth

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gregorhq/gregor/internal/kafkasec"
)

// ReloadingTLS is a listener's TLS configuration that follows its key
// store and trust store files: each new handshake first checks whether a
// file changed (size, modification time or identity) and, if so, loads
// the files again. Connections already open keep the certificate they
// negotiated. Files that do not load (half written, say) leave the last
// good configuration in place and are retried when they change again.
type ReloadingTLS struct {
	settings kafkasec.TLSSettings
	logger   *slog.Logger

	mu     sync.Mutex
	cfg    *tls.Config
	stamps []os.FileInfo // of settings.Files(), in order; nil entries for missing files
}

// NewReloadingTLS loads the settings' files and returns the
// configuration; the files must load now.
func NewReloadingTLS(s kafkasec.TLSSettings, logger *slog.Logger) (*ReloadingTLS, error) {
	r := &ReloadingTLS{settings: s, logger: logger}
	stamps := r.stat()
	cfg, err := s.Config(true)
	if err != nil {
		return nil, err
	}
	r.cfg, r.stamps = cfg, stamps
	return r, nil
}

// ServerConfig is the tls.Config to give tls.Server: it hands each new
// handshake the current configuration.
func (r *ReloadingTLS) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.Current().MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.Current(), nil
		},
	}
}

// Current checks the files and returns the configuration in force.
func (r *ReloadingTLS) Current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps := r.stat()
	if sameStamps(stamps, r.stamps) {
		return r.cfg
	}
	r.stamps = stamps
	cfg, err := r.settings.Config(true)
	if err != nil {
		r.logger.Warn("TLS files changed but do not load; keeping the previous certificate", "files", r.settings.Files(), "err", err)
		return r.cfg
	}
	r.cfg = cfg
	subject := ""
	if len(cfg.Certificates) > 0 && cfg.Certificates[0].Leaf != nil {
		subject = cfg.Certificates[0].Leaf.Subject.String()
	}
	r.logger.Info("reloaded TLS certificates", "files", r.settings.Files(), "subject", subject, "at", time.Now().Format(time.RFC3339))
	return r.cfg
}

func (r *ReloadingTLS) stat() []os.FileInfo {
	files := r.settings.Files()
	out := make([]os.FileInfo, len(files))
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			out[i] = fi
		}
	}
	return out
}

func sameStamps(a, b []os.FileInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch {
		case a[i] == nil || b[i] == nil:
			if a[i] != b[i] {
				return false
			}
		case !os.SameFile(a[i], b[i]) || a[i].Size() != b[i].Size() || !a[i].ModTime().Equal(b[i].ModTime()):
			return false
		}
	}
	return true
}
