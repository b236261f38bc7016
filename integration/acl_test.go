package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKcatACLs: librdkafka (kcat) against a broker with the authorizer on:
// a user without ACLs is refused with Kafka's error and sees no topics,
// writes nothing; the ACLs `gregor acls` creates let another user produce
// and consume.
func TestKcatACLs(t *testing.T) {
	b := startBroker(t,
		"--listen", "SASL_PLAINTEXT://127.0.0.1:0",
		"--set", "sasl.enabled.mechanisms=PLAIN",
		"--set", `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required `+
			`user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";`,
		"--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--set", "super.users=User:admin",
	)
	admin := filepath.Join(t.TempDir(), "admin.properties")
	if err := os.WriteFile(admin, []byte(`security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";
`), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := &secureBroker{testBroker: b, adminConfig: admin}
	as := func(user string) []string {
		return []string{"-b", b.addr(), "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + user + "-secret"}
	}
	topic := uniqueTopic("kcat-acl")
	if out, err := sb.gregorCLI(t, "", "--command-config", admin, "topics", "create", topic); err != nil {
		t.Fatalf("create topic: %v\n%s", err, out)
	}
	if out, err := sb.gregorCLI(t, "", "--command-config", admin, "acls", "create", "--allow-principal", "User:alice",
		"--producer", "--topic", topic); err != nil {
		t.Fatalf("acls create: %v\n%s", err, out)
	}
	if out, err := sb.gregorCLI(t, "", "--command-config", admin, "acls", "create", "--allow-principal", "User:alice",
		"--operation", "Read", "--topic", topic); err != nil {
		t.Fatalf("acls create: %v\n%s", err, out)
	}

	// bob: no ACLs.
	out, err := kcatErr(t, "forged\n", append(as("bob"), "-t", topic, "-P", "-X", "message.timeout.ms=10000")...)
	if err == nil || !strings.Contains(strings.ToLower(out), "authorization failed") {
		t.Fatalf("bob produced: %v\n%s", err, out)
	}
	if out := kcat(t, "", append(as("bob"), "-L")...); strings.Contains(out, topic) {
		t.Fatalf("bob's metadata lists the topic:\n%s", out)
	}

	// alice: Write, Describe, Create and Read.
	kcat(t, "one\ntwo\n", append(as("alice"), "-t", topic, "-P")...)
	got := kcat(t, "", append(as("alice"), "-t", topic, "-C", "-o", "beginning", "-e", "-q")...)
	if strings.Fields(got) == nil || strings.Join(strings.Fields(got), ",") != "one,two" {
		t.Fatalf("alice consumed %q, want one and two (and nothing of bob's)", got)
	}
}
