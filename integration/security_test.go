package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/gregorhq/gregor/internal/testcerts"
)

// secureBroker is a gregor process with one SASL_SSL listener serving
// PLAIN (the admin user, from the JAAS options) and SCRAM-SHA-256/512.
type secureBroker struct {
	*testBroker
	ca          *testcerts.CA
	adminConfig string // client properties for the admin (PLAIN)
}

// Extra flags go to the broker after its own.
func startSecureBroker(t testing.TB, extra ...string) *secureBroker {
	t.Helper()
	ca := testcerts.NewCA(t, "Integration CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
	b := startBroker(t, append([]string{
		"--listen", "SASL_SSL://127.0.0.1:0",
		"--set", "ssl.keystore.type=PEM",
		"--set", "ssl.keystore.location=" + server.KeystoreFile,
		"--set", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"--set", `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`,
	}, extra...)...)
	admin := filepath.Join(t.TempDir(), "admin.properties")
	props := fmt.Sprintf(`security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";
ssl.truststore.type=PEM
ssl.truststore.location=%s
`, ca.CertFile)
	if err := os.WriteFile(admin, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	return &secureBroker{testBroker: b, ca: ca, adminConfig: admin}
}

// gregorCLI runs the gregor binary against the broker.
func (b *secureBroker) gregorCLI(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gregorBin, append([]string{"--brokers", b.addr(), "--timeout", "20s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// addScramUser creates user's credentials with the gregor CLI, as the
// PLAIN admin.
func (b *secureBroker) addScramUser(t testing.TB, user, password string) {
	t.Helper()
	out, err := b.gregorCLI(t, password+"\n", "--command-config", b.adminConfig,
		"users", "scram", "set", user, "--mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "--password-stdin")
	if err != nil {
		t.Fatalf("gregor users scram set: %v\n%s", err, out)
	}
}

// kcatErr runs kcat and returns its output and error.
func kcatErr(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func TestKcatSASLSSL(t *testing.T) {
	b := startSecureBroker(t)
	b.addScramUser(t, "alice", "alice-secret")
	topic := uniqueTopic("kcat-secure")
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		settings := []string{"-b", b.addr(), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=alice", "-X", "sasl.password=alice-secret", "-X", "ssl.ca.location=" + b.ca.CertFile}
		kcat(t, "one-"+mech+"\ntwo-"+mech+"\n", append(settings, "-t", topic, "-P", "-X", "acks=all")...)
		out := kcat(t, "", append(settings, "-t", topic, "-C", "-o", "beginning", "-e", "-q")...)
		if !strings.Contains(out, "two-"+mech) {
			t.Fatalf("%s: consumed %q", mech, out)
		}
	}
	// PLAIN over TLS for the admin works too.
	plain := []string{"-b", b.addr(), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN",
		"-X", "sasl.username=admin", "-X", "sasl.password=admin-secret", "-X", "ssl.ca.location=" + b.ca.CertFile}
	if out := kcat(t, "", append(plain, "-L", "-t", topic)...); !strings.Contains(out, topic) {
		t.Fatalf("metadata as admin: %s", out)
	}
	// A wrong password fails, and the broker says which mechanism failed
	// but not what was wrong.
	bad := []string{"-b", b.addr(), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
		"-X", "sasl.username=alice", "-X", "sasl.password=guess", "-X", "ssl.ca.location=" + b.ca.CertFile, "-L", "-m", "5"}
	out, err := kcatErr(t, "", bad...)
	if err == nil || !strings.Contains(out, "SASL authentication error: authentication failed: invalid credentials") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	// A plaintext client gets nowhere.
	if out, err := kcatErr(t, "", "-b", b.addr(), "-L", "-m", "5"); err == nil {
		t.Fatalf("plaintext kcat got metadata from a SASL_SSL listener:\n%s", out)
	}
	if !strings.Contains(b.p.Output(), "failed authentication") {
		t.Errorf("the broker did not log the failed login:\n%s", b.p.Output())
	}
}

// mtlsBroker is a gregor process with one SSL listener that requires a
// client certificate signed by its CA (ssl.client.auth=required), the
// principal mapped from the certificate's subject.
type mtlsBroker struct {
	*testBroker
	ca     *testcerts.CA
	client *testcerts.Issued // CN=client,O=Acme: User:client
}

// startMTLSBroker starts an mtlsBroker; extra flags go to the broker
// after its own.
func startMTLSBroker(t testing.TB, extra ...string) *mtlsBroker {
	t.Helper()
	ca := testcerts.NewCA(t, "mTLS CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
	client := ca.Issue(t, "CN=client,O=Acme", testcerts.Client())
	b := startBroker(t, append([]string{
		"--listen", "SSL://127.0.0.1:0",
		"--set", "ssl.keystore.location=" + server.KeystoreFile,
		"--set", "ssl.truststore.location=" + ca.CertFile,
		"--set", "ssl.client.auth=required",
		"--set", "ssl.principal.mapping.rules=RULE:^CN=(.*?),O=Acme$/$1/",
	}, extra...)...)
	return &mtlsBroker{testBroker: b, ca: ca, client: client}
}

func TestKcatMutualTLS(t *testing.T) {
	b := startMTLSBroker(t)
	ca, client := b.ca, b.client
	topic := uniqueTopic("kcat-mtls")
	tlsArgs := []string{"-b", b.addr(), "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + ca.CertFile}
	withCert := append(append([]string{}, tlsArgs...), "-X", "ssl.certificate.location="+client.CertFile, "-X", "ssl.key.location="+client.KeyFile)
	kcat(t, "hello mtls\n", append(withCert, "-t", topic, "-P")...)
	if out := kcat(t, "", append(withCert, "-t", topic, "-C", "-o", "beginning", "-e", "-q")...); !strings.Contains(out, "hello mtls") {
		t.Fatalf("consumed %q", out)
	}
	if out, err := kcatErr(t, "", append(tlsArgs, "-L", "-m", "5")...); err == nil {
		t.Fatalf("kcat without a client certificate got metadata:\n%s", out)
	}
}

// saramaScram adapts franz-go's SCRAM client to sarama's SCRAMClient.
type saramaScram struct {
	sha512     bool
	user, pass string
	sess       sasl.Session
	done       bool
}

func (s *saramaScram) Begin(user, pass, _ string) error { s.user, s.pass = user, pass; return nil }
func (s *saramaScram) Done() bool                       { return s.done }
func (s *saramaScram) Step(challenge string) (string, error) {
	if s.sess == nil {
		m := scram.Auth{User: s.user, Pass: s.pass}.AsSha256Mechanism()
		if s.sha512 {
			m = scram.Auth{User: s.user, Pass: s.pass}.AsSha512Mechanism()
		}
		sess, first, err := m.Authenticate(context.Background(), "")
		s.sess = sess
		return string(first), err
	}
	done, msg, err := s.sess.Challenge([]byte(challenge))
	s.done = done
	return string(msg), err
}

func TestSaramaSASLSSL(t *testing.T) {
	b := startSecureBroker(t)
	b.addScramUser(t, "bob", "bob-secret")
	roots := x509.NewCertPool()
	roots.AddCert(b.ca.Cert)
	newConfig := func(version sarama.KafkaVersion) *sarama.Config {
		cfg := sarama.NewConfig()
		cfg.Version = version
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 20*time.Second, 10*time.Second
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = &tls.Config{RootCAs: roots}
		cfg.Net.SASL.Enable = true
		return cfg
	}
	scram512 := func(pass string) *sarama.Config {
		cfg := newConfig(sarama.V3_6_0_0)
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.User, cfg.Net.SASL.Password = "bob", pass
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaScram{sha512: true} }
		return cfg
	}
	// PLAIN with a v0 handshake: the tokens travel bare, outside Kafka
	// requests (sarama's SASLHandshakeV0).
	plainV0 := newConfig(sarama.V0_11_0_0)
	plainV0.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	plainV0.Net.SASL.Version = sarama.SASLHandshakeV0
	plainV0.ApiVersionsRequest = false // sarama refuses ApiVersions with a v0 handshake
	plainV0.Net.SASL.User, plainV0.Net.SASL.Password = "admin", "admin-secret"

	topic := uniqueTopic("sarama-secure")
	for name, cfg := range map[string]*sarama.Config{"SCRAM-SHA-512": scram512("bob-secret"), "PLAIN v0": plainV0} {
		prod, err := sarama.NewSyncProducer([]string{b.addr()}, cfg)
		if err != nil {
			t.Fatalf("%s: producer: %v", name, err)
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(name)}); err != nil {
			t.Fatalf("%s: send: %v", name, err)
		}
		prod.Close()
	}
	cons, err := sarama.NewConsumer([]string{b.addr()}, scram512("bob-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-pc.Messages():
			got[string(m.Value)] = true
		case <-timeout:
			t.Fatalf("consumed %v, want both records", got)
		}
	}
	// A wrong password is refused with SASL_AUTHENTICATION_FAILED.
	_, err = sarama.NewClient([]string{b.addr()}, scram512("wrong"))
	if err == nil || !strings.Contains(err.Error(), "SASL Authentication failed") {
		t.Fatalf("wrong password: %v", err)
	}
}
