package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/youmark/pkcs8"

	"github.com/gregorhq/gregor/internal/testcerts"
)

func settings(m map[string]string) TLSSettings {
	return ReadTLSSettings(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

func TestTLSSettingsValidate(t *testing.T) {
	for _, m := range []map[string]string{
		{"ssl.keystore.type": "JKS"},
		{"ssl.truststore.type": "PKCS12"},
		{"ssl.keystore.location": "/x", "ssl.keystore.key": "k", "ssl.keystore.certificate.chain": "c"},
		{"ssl.keystore.key": "k"},
		{"ssl.truststore.location": "/x", "ssl.truststore.certificates": "c"},
		{"ssl.client.auth": "sometimes"},
		{"ssl.enabled.protocols": "TLSv1.1"},
		{"ssl.enabled.protocols": " , "},
		{"ssl.cipher.suites": "TLS_NOT_A_SUITE"},
		{"ssl.endpoint.identification.algorithm": "ldap"},
	} {
		if err := settings(m).Validate(); !errors.Is(err, ErrBadTLS) {
			t.Errorf("%v: got %v, want ErrBadTLS", m, err)
		}
	}
	s := settings(map[string]string{"ssl.enabled.protocols": "TLSv1.3", "ssl.keystore.type": "pem",
		"ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256"})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if lo, hi, _ := s.versions(); lo != tls.VersionTLS13 || hi != tls.VersionTLS13 {
		t.Errorf("versions %x-%x", lo, hi)
	}
	if lo, hi, _ := settings(nil).versions(); lo != tls.VersionTLS12 || hi != tls.VersionTLS13 {
		t.Errorf("default versions %x-%x", lo, hi)
	}
}

// handshake runs a TLS handshake between the two configurations over
// loopback TCP. The client also reads once, so that a server that refuses
// the client's certificate after the client finished (TLS 1.3) shows as
// a client error too.
func handshake(server, client *tls.Config) (serverErr, clientErr error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := tls.Server(nc, server)
		s.SetDeadline(time.Now().Add(5 * time.Second))
		err = s.Handshake()
		if err == nil {
			_, err = s.Write([]byte("x"))
		}
		s.Close()
		done <- err
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err, err
	}
	c := tls.Client(nc, client)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	clientErr = c.Handshake()
	if clientErr == nil {
		_, clientErr = c.Read(make([]byte, 1))
	}
	return <-done, clientErr
}

func TestServerAndClientConfigs(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	server := ca.Issue(t, "CN=broker", testcerts.Server("broker.example"))
	client := ca.Issue(t, "CN=alice", testcerts.Client())
	srv, err := settings(map[string]string{
		"ssl.keystore.certificate.chain": string(server.CertPEM),
		"ssl.keystore.key":               string(server.KeyPEM),
		"ssl.truststore.certificates":    string(ca.CertPEM),
		"ssl.client.auth":                "required",
	}).Config(true)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(m map[string]string) *tls.Config {
		cfg, err := settings(m).Config(false)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	withCert := map[string]string{"ssl.truststore.location": ca.CertFile, "ssl.keystore.location": client.KeystoreFile}
	c := cli(withCert)
	c.ServerName = "broker.example"
	if se, ce := handshake(srv, c); se != nil || ce != nil {
		t.Fatalf("mTLS handshake: %v / %v", se, ce)
	}
	// Without a client certificate the server refuses.
	c = cli(map[string]string{"ssl.truststore.location": ca.CertFile})
	c.ServerName = "broker.example"
	if se, _ := handshake(srv, c); se == nil {
		t.Fatal("required client auth let a client without a certificate in")
	}
	// A wrong host name fails unless endpoint identification is off; the
	// chain is still checked then.
	c = cli(withCert)
	c.ServerName = "other.example"
	if _, ce := handshake(srv, c); ce == nil {
		t.Fatal("host name not checked")
	}
	off := map[string]string{"ssl.truststore.location": ca.CertFile, "ssl.keystore.location": client.KeystoreFile, "ssl.endpoint.identification.algorithm": ""}
	c = cli(off)
	c.ServerName = "other.example"
	if se, ce := handshake(srv, c); se != nil || ce != nil {
		t.Fatalf("endpoint identification off: %v / %v", se, ce)
	}
	other := testcerts.NewCA(t, "Other CA")
	off["ssl.truststore.location"] = other.CertFile
	c = cli(off)
	if _, ce := handshake(srv, c); ce == nil {
		t.Fatal("endpoint identification off skipped the chain check too")
	}
	// A TLS listener needs a key store; client auth needs a trust store.
	if _, err := settings(nil).Config(true); !errors.Is(err, ErrBadTLS) {
		t.Errorf("no key store: %v", err)
	}
	if _, err := settings(map[string]string{"ssl.keystore.location": server.KeystoreFile, "ssl.client.auth": "requested"}).Config(true); !errors.Is(err, ErrBadTLS) {
		t.Errorf("client auth without trust store: %v", err)
	}
}

func TestKeyStoreMismatchAndEncryptedKeys(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	a := ca.Issue(t, "CN=a", testcerts.Server("a"))
	b := ca.Issue(t, "CN=b", testcerts.Server("b"))
	if _, err := KeyPairFromPEM(a.CertPEM, b.KeyPEM, ""); !errors.Is(err, ErrBadTLS) {
		t.Errorf("a key of another certificate: %v", err)
	}
	block, _ := pem.Decode(a.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pkcs8.MarshalPrivateKey(key, []byte("key-pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
	if _, err := KeyPairFromPEM(a.CertPEM, enc, "key-pass"); err != nil {
		t.Errorf("encrypted key with its password: %v", err)
	}
	for _, pw := range []string{"", "wrong"} {
		if _, err := KeyPairFromPEM(a.CertPEM, enc, pw); !errors.Is(err, ErrBadTLS) {
			t.Errorf("encrypted key with password %q: %v", pw, err)
		}
	}
}

// TestOpenSSLEncryptedKey reads a key encrypted by openssl, as an operator
// makes one for ssl.key.password.
func TestOpenSSLEncryptedKey(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	ca := testcerts.NewCA(t, "CA")
	a := ca.Issue(t, "CN=a", testcerts.Server("a"))
	out := filepath.Join(t.TempDir(), "enc.pem")
	cmd := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", a.KeyFile, "-out", out, "-passout", "pass:op-secret")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v: %s", err, msg)
	}
	enc, _ := os.ReadFile(out)
	s := settings(map[string]string{"ssl.keystore.certificate.chain": string(a.CertPEM), "ssl.keystore.key": string(enc), "ssl.key.password": "op-secret"})
	if cert, err := s.Certificate(); err != nil || cert.Leaf.Subject.CommonName != "a" {
		t.Fatalf("openssl-encrypted key: %v", err)
	}
}
