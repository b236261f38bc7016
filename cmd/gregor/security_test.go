package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/testcerts"
)

// secureBroker has a PLAINTEXT listener and a SASL_SSL one with SCRAM
// and PLAIN (user admin), and returns the SASL_SSL address and the CA.
func secureBroker(t *testing.T) (*brokertest.Broker, string, *testcerts.CA) {
	t.Helper()
	ca := testcerts.NewCA(t, "CLI CA")
	server := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"))
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"),
		brokertest.WithProperty("ssl.keystore.location", server.KeystoreFile),
		brokertest.WithProperty("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"),
		brokertest.WithProperty("listener.name.sasl_ssl.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`),
	)
	addr, _ := b.Broker().ListenerAddr("SASL_SSL")
	return b, addr, ca
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLISecurity(t *testing.T) {
	_, addr, ca := secureBroker(t)
	admin := writeFile(t, "admin.properties", `# Kafka client properties
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
  username="admin" password="admin-secret";
ssl.truststore.type=PEM
ssl.truststore.location=`+ca.CertFile+`
`)
	// The admin (PLAIN, from the JAAS users) creates alice's SCRAM credentials.
	r := ok(t, addr, "alice-secret\n", "--command-config", admin, "users", "scram", "set", "alice",
		"--mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "--password-stdin")
	if !strings.Contains(r.stdout, "set SCRAM-SHA-512 credential of user alice") {
		t.Fatalf("set: %s", r.stdout)
	}
	r = ok(t, addr, "", "--command-config", admin, "users", "scram", "describe")
	if !strings.Contains(r.stdout, "alice  SCRAM-SHA-256  4096") || !strings.Contains(r.stdout, "alice  SCRAM-SHA-512  4096") {
		t.Fatalf("describe:\n%s", r.stdout)
	}
	var described []describedScram
	decode(t, ok(t, addr, "", "--command-config", admin, "-o", "json", "users", "scram", "describe", "alice").stdout, &described)
	if len(described) != 2 || described[0].Mechanism != "SCRAM-SHA-256" {
		t.Fatalf("describe json: %+v", described)
	}

	// alice produces and consumes with SCRAM, the settings given with -X
	// in librdkafka's names.
	alice := []string{"-X", "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice",
		"-X", "sasl.password=alice-secret", "-X", "ssl.ca.location=" + ca.CertFile}
	ok(t, addr, "hello\nsecure\n", append(alice, "produce", "secure-topic")...)
	r = ok(t, addr, "", append(alice, "consume", "secure-topic", "--from-beginning", "--max-messages", "2")...)
	if lines(r.stdout)[1] != "secure" {
		t.Fatalf("consumed %q", r.stdout)
	}

	// A wrong password fails with the broker's message.
	bad := append(append([]string{}, alice...), "-X", "sasl.password=nope", "topics", "list")
	fails(t, addr, "", 1, "SASL_AUTHENTICATION_FAILED", bad...)
	// Bad client properties are usage errors.
	fails(t, addr, "", 2, "security.protocol=TLS", "-X", "security.protocol=TLS", "topics", "list")
	fails(t, addr, "", 2, "sasl.mechanism=GSSAPI", "-X", "security.protocol=SASL_SSL", "topics", "list")
	fails(t, addr, "", 2, "--command-config", "--command-config", "/nonexistent", "topics", "list")
	// Unknown properties are reported, not fatal.
	r = ok(t, addr, "", append(alice, "-X", "acks=all", "topics", "list")...)
	if !strings.Contains(r.stderr, "ignoring client property acks") {
		t.Errorf("stderr: %q", r.stderr)
	}

	// Deleting alice's SCRAM-SHA-512 credential ends her logins with it.
	ok(t, addr, "", "--command-config", admin, "users", "scram", "delete", "alice", "--mechanism", "SCRAM-SHA-512")
	fails(t, addr, "", 1, "SASL_AUTHENTICATION_FAILED", append(append([]string{}, alice...), "topics", "list")...)
	fails(t, addr, "", 1, "RESOURCE_NOT_FOUND", "--command-config", admin, "users", "scram", "delete", "alice", "--mechanism", "SCRAM-SHA-512")
	fails(t, addr, "", 2, "--password", "--command-config", admin, "users", "scram", "set", "bob")
	fails(t, addr, "", 1, "4096", "--command-config", admin, "users", "scram", "set", "bob", "--password", "x", "--iterations", "100")
}
