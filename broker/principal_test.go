package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/gregorhq/gregor/broker/auth"
	"github.com/gregorhq/gregor/internal/testcerts"
)

// principalsOf connects a client built with opts to the listener and
// returns the principal its connection carries (empty if the connection
// was refused).
func principalOf(t *testing.T, b *Broker, listener string, opts ...kgo.Opt) string {
	t.Helper()
	addr, _ := b.ListenerAddr(listener)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		return ""
	}
	b.lnMu.Lock()
	defer b.lnMu.Unlock()
	for c := range b.conns {
		if c.listener == listener {
			return c.principal.String()
		}
	}
	t.Fatal("no connection found")
	return ""
}

func TestConnectionPrincipals(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	server := ca.Issue(t, "CN=broker", testcerts.Server("127.0.0.1"))
	alice := ca.Issue(t, "CN=Alice,OU=Eng,O=Acme", testcerts.Client())
	robot := ca.Issue(t, "CN=robot,O=Machines", testcerts.Client())
	cfg := configWith(t, map[string]string{
		"listeners":                                      "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,MTLS://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"listener.security.protocol.map":                 "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL",
		"ssl.keystore.location":                          server.KeystoreFile,
		"ssl.truststore.location":                        ca.CertFile,
		"listener.name.mtls.ssl.client.auth":             "required",
		"listener.name.mtls.ssl.principal.mapping.rules": "RULE:^CN=(.*?),OU=(.*?),O=Acme$/$1@$2/L",
		"listener.name.sasl_ssl.ssl.client.auth":         "requested",
		"sasl.enabled.mechanisms":                        "PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":  plainJAAS,
	})
	b, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Start()

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tlsWith := func(is *testcerts.Issued) kgo.Opt {
		cfg := &tls.Config{RootCAs: roots}
		if is != nil {
			pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return kgo.DialTLSConfig(cfg)
	}
	sasl := kgo.SASL(plain.Auth{User: "alice", Pass: "a"}.AsMechanism())
	for _, tt := range []struct {
		name, listener string
		opts           []kgo.Opt
		want           string
	}{
		{"plaintext", "PLAINTEXT", nil, auth.Anonymous.String()},
		{"TLS without client auth", "SSL", []kgo.Opt{tlsWith(nil)}, "User:ANONYMOUS"},
		{"TLS ignores a certificate it did not ask for", "SSL", []kgo.Opt{tlsWith(alice)}, "User:ANONYMOUS"},
		{"mTLS with a mapping rule", "MTLS", []kgo.Opt{tlsWith(alice)}, "User:alice@eng"},
		{"mTLS where no rule applies", "MTLS", []kgo.Opt{tlsWith(robot)}, ""},
		{"mTLS without a certificate", "MTLS", []kgo.Opt{tlsWith(nil)}, ""},
		{"SASL over TLS", "SASL_SSL", []kgo.Opt{tlsWith(nil), sasl}, "User:alice"},
		{"SASL wins over the certificate", "SASL_SSL", []kgo.Opt{tlsWith(robot), sasl}, "User:alice"},
	} {
		if got := principalOf(t, b, tt.listener, tt.opts...); got != tt.want {
			t.Errorf("%s: principal %q, want %q", tt.name, got, tt.want)
		}
	}
}
