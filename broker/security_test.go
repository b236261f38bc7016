package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/testcerts"
)

// produceConsume produces one record to topic through a client built with
// opts and reads it back.
func produceConsume(t *testing.T, addr, topic string, opts ...kgo.Opt) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("secret payload")}).FirstErr(); err != nil {
		return err
	}
	fs := cl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		return err
	}
	if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "secret payload" {
		t.Fatalf("consumed %d records, want the one produced", fs.NumRecords())
	}
	return nil
}

// requestErr sends one Metadata request through a client built with opts
// and returns the error (nil once the connection authenticated).
func requestErr(t *testing.T, addr string, opts ...kgo.Opt) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

// pool is a cert pool holding ca.
func pool(ca *testcerts.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func TestSSLListener(t *testing.T) {
	ca := testcerts.NewCA(t, "Test CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SSL://127.0.0.1:0"),
		brokertest.WithProperty("ssl.keystore.type", "PEM"),
		brokertest.WithProperty("ssl.keystore.location", server.KeystoreFile),
	)
	tlsCfg := &tls.Config{RootCAs: pool(ca), ServerName: "127.0.0.1"}
	if err := produceConsume(t, b.Addr(), "tls", kgo.DialTLSConfig(tlsCfg)); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// A client that does not trust the CA fails the handshake.
	err := requestErr(t, b.Addr(), kgo.DialTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}))
	if err == nil {
		t.Fatal("a client that does not trust the broker's CA got through")
	}
	// A plaintext client gets nothing from a TLS listener.
	if err := requestErr(t, b.Addr()); err == nil {
		t.Fatal("a plaintext client got through a TLS listener")
	}
}

func plainBroker(t *testing.T) *brokertest.Broker {
	return brokertest.Start(t,
		brokertest.WithProperty("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "PLAIN"),
		brokertest.WithProperty("listener.name.sasl_plaintext.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`),
	)
}

func TestSASLPlain(t *testing.T) {
	b := plainBroker(t)
	good := kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())
	if err := produceConsume(t, b.Addr(), "plain", good); err != nil {
		t.Fatalf("alice with her password: %v", err)
	}
	for name, m := range map[string]sasl.Mechanism{
		"wrong password": plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(),
		"unknown user":   plain.Auth{User: "mallory", Pass: "alice-secret"}.AsMechanism(),
	} {
		err := requestErr(t, b.Addr(), kgo.SASL(m))
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: got %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "password") {
			t.Errorf("%s: the error hints at what was wrong: %v", name, err)
		}
	}
	// Without SASL, the client's first request past ApiVersions closes the
	// connection.
	if err := requestErr(t, b.Addr()); err == nil {
		t.Fatal("a client without SASL got through a SASL listener")
	}
}

func TestSASLSSL(t *testing.T) {
	ca := testcerts.NewCA(t, "Test CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"),
		brokertest.WithProperty("listener.name.sasl_ssl.ssl.keystore.type", "PEM"),
		brokertest.WithProperty("listener.name.sasl_ssl.ssl.keystore.certificate.chain", string(server.CertPEM)),
		brokertest.WithProperty("listener.name.sasl_ssl.ssl.keystore.key", string(server.KeyPEM)),
		brokertest.WithProperty("listener.name.sasl_ssl.sasl.enabled.mechanisms", "SCRAM-SHA-256,PLAIN"),
		brokertest.WithProperty("listener.name.sasl_ssl.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`),
	)
	_, adm := newAdmin(t, b.Addr())
	upsert(t, adm, "alice", "alice-secret", kadm.ScramSha256)
	addr, _ := b.Broker().ListenerAddr("SASL_SSL")
	tlsOpt := kgo.DialTLSConfig(&tls.Config{RootCAs: pool(ca)})
	if err := produceConsume(t, addr, "sasl-ssl", tlsOpt, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("SCRAM over TLS: %v", err)
	}
	if err := produceConsume(t, addr, "sasl-ssl", tlsOpt, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())); err != nil {
		t.Fatalf("PLAIN over TLS: %v", err)
	}
	if err := requestErr(t, addr, tlsOpt, kgo.SASL(scram.Auth{User: "alice", Pass: "wrong"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password over TLS: %v", err)
	}
	// SASL without TLS on a SASL_SSL listener fails.
	if err := requestErr(t, addr, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())); err == nil {
		t.Error("SASL without TLS got through a SASL_SSL listener")
	}
}

func TestMutualTLSRequired(t *testing.T) {
	ca := testcerts.NewCA(t, "Test CA")
	other := testcerts.NewCA(t, "Other CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1"))
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SSL://127.0.0.1:0"),
		brokertest.WithProperty("ssl.keystore.location", server.KeystoreFile),
		brokertest.WithProperty("ssl.truststore.type", "PEM"),
		brokertest.WithProperty("ssl.truststore.location", ca.CertFile),
		brokertest.WithProperty("ssl.client.auth", "required"),
	)
	withCert := func(is *testcerts.Issued) kgo.Opt {
		cfg := &tls.Config{RootCAs: pool(ca)}
		if is != nil {
			pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return kgo.DialTLSConfig(cfg)
	}
	if err := produceConsume(t, b.Addr(), "mtls", withCert(ca.Issue(t, "CN=alice", testcerts.Client()))); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	if err := requestErr(t, b.Addr(), withCert(nil)); err == nil {
		t.Fatal("a client without a certificate got through ssl.client.auth=required")
	}
	if err := requestErr(t, b.Addr(), withCert(other.Issue(t, "CN=mallory", testcerts.Client()))); err == nil {
		t.Fatal("a client with a certificate from an untrusted CA got through")
	}
}

func TestCertificateReload(t *testing.T) {
	ca := testcerts.NewCA(t, "Test CA")
	dir := t.TempDir()
	ca.IssueInto(t, dir, "CN=before", testcerts.Server("127.0.0.1"))
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SSL://127.0.0.1:0"),
		brokertest.WithProperty("ssl.keystore.location", dir+"/keystore.pem"),
	)
	// served connects and returns the common name the broker presented.
	served := func() string {
		var cn string
		cfg := &tls.Config{RootCAs: pool(ca), VerifyConnection: func(cs tls.ConnectionState) error {
			cn = cs.PeerCertificates[0].Subject.CommonName
			return nil
		}}
		if err := requestErr(t, b.Addr(), kgo.DialTLSConfig(cfg)); err != nil {
			t.Fatal(err)
		}
		return cn
	}
	if got := served(); got != "before" {
		t.Fatalf("serving %q, want before", got)
	}
	// An open connection keeps working across the renewal.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTLSConfig(&tls.Config{RootCAs: pool(ca)}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	ca.IssueInto(t, dir, "CN=after", testcerts.Server("127.0.0.1"))
	if got := served(); got != "after" {
		t.Fatalf("after renewing the files serving %q, want after", got)
	}
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("the connection opened before the renewal: %v", err)
	}
}
