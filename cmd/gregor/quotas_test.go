package main

import (
	"strings"
	"testing"
)

func TestCLIQuotas(t *testing.T) {
	addr := startGregor(t)
	ok(t, addr, "", "quotas", "alter", "--entity-type", "users", "--entity-name", "alice", "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152")
	ok(t, addr, "", "quotas", "alter", "--entity-type", "users", "--entity-default", "--entity-type", "clients", "--entity-name", "app", "--add-config", "request_percentage=50")
	ok(t, addr, "", "quotas", "alter", "--ip-defaults", "--add-config", "connection_creation_rate=20")
	r := ok(t, addr, "", "quotas", "alter", "--user", "bob", "--add-config", "producer_byte_rate=1", "--validate-only")
	if !strings.Contains(r.stdout, "nothing changed") {
		t.Errorf("validate only: %s", r.stdout)
	}
	fails(t, addr, "", 1, "unknown quota key", "quotas", "alter", "--user", "bob", "--add-config", "producer_bytes_rate=1")
	fails(t, addr, "", 1, "whole number", "quotas", "alter", "--user", "bob", "--add-config", "producer_byte_rate=1.5")
	fails(t, addr, "", 2, "--entity-name or --entity-default", "quotas", "alter", "--entity-type", "users", "--add-config", "producer_byte_rate=1")
	fails(t, addr, "", 2, "unknown entity type", "quotas", "alter", "--entity-type", "groups", "--entity-name", "g", "--add-config", "producer_byte_rate=1")
	fails(t, addr, "", 2, "nothing to change", "quotas", "alter", "--user", "bob")

	want := []string{
		"USER       CLIENT-ID  IP         QUOTA                     VALUE",
		"-          -          <default>  connection_creation_rate  20",
		"<default>  app        -          request_percentage        50",
		"alice      -          -          consumer_byte_rate        2097152",
		"alice      -          -          producer_byte_rate        1048576",
	}
	if got := lines(ok(t, addr, "", "quotas", "describe").stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("describe:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ok(t, addr, "", "quotas", "alter", "--user", "alice", "--delete-config", "consumer_byte_rate")
	var rows []describedQuota
	decode(t, ok(t, addr, "", "-o", "json", "quotas", "describe", "--entity-type", "users", "--entity-name", "alice").stdout, &rows)
	if len(rows) != 1 || rows[0].Key != "producer_byte_rate" || rows[0].Value != 1048576 || *rows[0].Entity["user"] != "alice" {
		t.Fatalf("describe alice: %+v", rows)
	}
	decode(t, ok(t, addr, "", "-o", "json", "quotas", "describe", "--entity-type", "users", "--entity-default", "--entity-type", "clients").stdout, &rows)
	if len(rows) != 1 || rows[0].Key != "request_percentage" || rows[0].Entity["user"] != nil {
		t.Fatalf("describe default user with a client: %+v", rows)
	}
}
