package auth

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregorhq/gregor/internal/kafkasec"
	"github.com/gregorhq/gregor/internal/testcerts"
)

func TestReloadingTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	dir := t.TempDir()
	first := ca.IssueInto(t, dir, "CN=first", testcerts.Server("127.0.0.1"))
	r, err := NewReloadingTLS(kafkasec.TLSSettings{KeystoreLocation: first.KeystoreFile}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	leaf := func() string { return r.Current().Certificates[0].Leaf.Subject.CommonName }
	if got := leaf(); got != "first" {
		t.Fatalf("serving %s", got)
	}
	ca.IssueInto(t, dir, "CN=second", testcerts.Server("127.0.0.1"))
	if got := leaf(); got != "second" {
		t.Fatalf("after renewal serving %s, want second", got)
	}
	// A broken file keeps the last good certificate.
	if err := os.WriteFile(first.KeystoreFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := leaf(); got != "second" {
		t.Fatalf("after a broken write serving %s, want second", got)
	}
	ca.IssueInto(t, dir, "CN=third", testcerts.Server("127.0.0.1"))
	if got := leaf(); got != "third" {
		t.Fatalf("after a fixed write serving %s, want third", got)
	}
	// The server config hands each handshake the current configuration.
	cfg, err := r.ServerConfig().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil || cfg.Certificates[0].Leaf.Subject.CommonName != "third" {
		t.Fatalf("GetConfigForClient: %v", err)
	}
	// Missing files at start are an error.
	if _, err := NewReloadingTLS(kafkasec.TLSSettings{KeystoreLocation: filepath.Join(dir, "none.pem")}, nil); err == nil {
		t.Fatal("a missing key store loaded")
	}
}
