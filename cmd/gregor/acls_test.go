package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/gregorhq/gregor/broker/brokertest"
)

func TestCLIACLs(t *testing.T) {
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "PLAIN"),
		brokertest.WithProperty("listener.name.sasl_plaintext.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";`),
		brokertest.WithProperty("authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"),
		brokertest.WithProperty("super.users", "User:admin"),
	)
	addr := b.Addr()
	admin := writeFile(t, "admin.properties", `security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";
`)
	alice := []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"}

	ok(t, addr, "", "--command-config", admin, "topics", "create", "orders")
	// Without ACLs alice may not write.
	fails(t, addr, "x\n", 1, "TOPIC_AUTHORIZATION_FAILED", append(alice, "produce", "orders")...)

	r := ok(t, addr, "", "--command-config", admin, "acls", "create", "--allow-principal", "User:alice",
		"--operation", "Write", "--operation", "Read", "--topic", "orders")
	if !strings.Contains(r.stdout, "User:alice  *     ALLOW       WRITE") || len(lines(r.stdout)) != 3 {
		t.Fatalf("create:\n%s", r.stdout)
	}
	ok(t, addr, "", "--command-config", admin, "acls", "create", "--allow-principal", "User:alice", "--consumer",
		"--topic", "ord", "--group", "billing", "--resource-pattern-type", "prefixed")
	ok(t, addr, "hello\n", append(alice, "produce", "orders")...)
	r = ok(t, addr, "", append(alice, "consume", "orders", "--group", "billing", "--from-beginning", "--max-messages", "1")...)
	if strings.TrimSpace(r.stdout) != "hello" {
		t.Fatalf("consumed %q", r.stdout)
	}

	var rows []aclRow
	decode(t, ok(t, addr, "", "--command-config", admin, "-o", "json", "acls", "list").stdout, &rows)
	if len(rows) != 5 {
		t.Fatalf("list: %+v", rows)
	}
	decode(t, ok(t, addr, "", "--command-config", admin, "-o", "json", "acls", "list", "--topic", "orders").stdout, &rows)
	if len(rows) != 2 {
		t.Fatalf("list --topic orders: %+v", rows)
	}
	decode(t, ok(t, addr, "", "--command-config", admin, "-o", "json", "acls", "list", "--topic", "orders",
		"--resource-pattern-type", "match", "--operation", "Read").stdout, &rows)
	if len(rows) != 2 || rows[0].PatternType == rows[1].PatternType {
		t.Fatalf("list --topic orders --resource-pattern-type match --operation Read: %+v", rows)
	}

	// alice may not change ACLs; bad options are usage errors.
	fails(t, addr, "", 1, "CLUSTER_AUTHORIZATION_FAILED", append(alice, "acls", "create", "--allow-principal", "User:alice",
		"--operation", "All", "--cluster")...)
	fails(t, addr, "", 2, "--operation", "--command-config", admin, "acls", "create", "--allow-principal", "User:alice", "--operation", "Fly", "--topic", "t")
	fails(t, addr, "", 2, "--allow-principal", "--command-config", admin, "acls", "create", "--operation", "Read", "--topic", "t")
	fails(t, addr, "", 1, "INVALID_REQUEST", "--command-config", admin, "acls", "create", "--allow-principal", "alice", "--operation", "Read", "--topic", "t")

	r = ok(t, addr, "", "--command-config", admin, "acls", "delete", "--allow-principal", "User:alice", "--operation", "Write", "--topic", "orders")
	if !strings.Contains(r.stdout, "WRITE") || len(lines(r.stdout)) != 2 {
		t.Fatalf("delete:\n%s", r.stdout)
	}
	fails(t, addr, "x\n", 1, "TOPIC_AUTHORIZATION_FAILED", append(alice, "produce", "orders")...)
	fails(t, addr, "", 2, "name the ACLs", "--command-config", admin, "acls", "delete")
}

// The acls commands register their flags through the shared helpers: the
// resource flags on every one, the grantee flags on create and delete.
func TestACLFlagSets(t *testing.T) {
	g := &globals{}
	resource := []string{"topic", "group", "cluster", "transactional-id", "delegation-token", "user-principal", "resource-pattern-type", "operation"}
	grantee := []string{"allow-principal", "deny-principal", "allow-host", "deny-host"}
	for _, tc := range []struct {
		cmd      *cobra.Command
		grantees bool
		only     []string
	}{
		{newACLsCreate(g), true, []string{"producer", "consumer", "idempotent"}},
		{newACLsList(g), false, []string{"principal"}},
		{newACLsDelete(g), true, nil},
	} {
		fl := tc.cmd.Flags()
		for _, name := range append(resource, tc.only...) {
			if fl.Lookup(name) == nil {
				t.Errorf("%s has no --%s", tc.cmd.Name(), name)
			}
		}
		for _, name := range grantee {
			if (fl.Lookup(name) != nil) != tc.grantees {
				t.Errorf("%s: --%s registered %v, want %v", tc.cmd.Name(), name, fl.Lookup(name) != nil, tc.grantees)
			}
		}
		if !strings.Contains(tc.cmd.Use, aclResourceUsage) {
			t.Errorf("%s usage %q does not name the resource flags", tc.cmd.Name(), tc.cmd.Use)
		}
	}
}
