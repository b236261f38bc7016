package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var groupAPIs = []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.OffsetCommit, kmsg.OffsetFetch,
	kmsg.DescribeGroups, kmsg.ListGroups, kmsg.DeleteGroups}

// committed returns the committed offsets of group as topic/partition=offset.
func committed(t *testing.T, addr, group string) string {
	t.Helper()
	var ds []groupDescription
	decode(t, ok(t, addr, "", "groups", "describe", group, "-o", "json").stdout, &ds)
	var out []string
	for _, o := range ds[0].Offsets {
		if o.CurrentOffset != nil {
			out = append(out, fmt.Sprintf("%s/%d=%d", o.Topic, o.Partition, *o.CurrentOffset))
		}
	}
	return strings.Join(out, " ")
}

func TestGroups(t *testing.T) {
	t.Parallel()
	forEach(t, groupAPIs, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "orders", "--partitions", "2")
		ok(t, addr, "a\nb\nc\nd\n", "produce", "orders", "--partition", "0")
		ok(t, addr, "e\nf\n", "produce", "orders", "--partition", "1")
		ok(t, addr, "", "consume", "orders", "--group", "billing", "--from-beginning", "--max-messages", "6")

		// list
		r := ok(t, addr, "", "groups", "list")
		if !strings.Contains(r.stdout, "GROUP") || !strings.Contains(r.stdout, "billing") || !strings.Contains(r.stdout, "Empty") {
			t.Errorf("groups list:\n%s", r.stdout)
		}
		var listed []listedGroup
		decode(t, ok(t, addr, "", "groups", "list", "-o", "json").stdout, &listed)
		if len(listed) != 1 || listed[0].Group != "billing" || listed[0].ProtocolType != "consumer" {
			t.Errorf("groups list json: %+v", listed)
		}

		// describe with lag
		ok(t, addr, "g\n", "produce", "orders", "--partition", "1")
		r = ok(t, addr, "", "groups", "describe", "billing")
		for _, s := range []string{"GROUP        billing", "STATE        Empty", "TOTAL-LAG    1", "CURRENT-OFFSET  LOG-END-OFFSET  LAG"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("describe lacks %q:\n%s", s, r.stdout)
			}
		}
		if got := committed(t, addr, "billing"); got != "orders/0=4 orders/1=2" {
			t.Errorf("committed = %q", got)
		}
		fails(t, addr, "", 1, "group nope: GROUP_ID_NOT_FOUND", "groups", "describe", "nope")

		// reset-offsets: a dry run changes nothing
		r = ok(t, addr, "", "groups", "reset-offsets", "billing", "--topic", "orders", "--to-earliest")
		if !strings.Contains(r.stdout, "billing  orders  0          4               0") || !strings.Contains(r.stderr, "dry run") {
			t.Errorf("dry run:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		if got := committed(t, addr, "billing"); got != "orders/0=4 orders/1=2" {
			t.Errorf("after dry run committed = %q", got)
		}
		// --execute does
		ok(t, addr, "", "groups", "reset-offsets", "billing", "--topic", "orders:0", "--shift-by", "-3", "--execute")
		if got := committed(t, addr, "billing"); got != "orders/0=1 orders/1=2" {
			t.Errorf("after shift-by committed = %q", got)
		}
		var res resetResult
		decode(t, ok(t, addr, "", "groups", "reset-offsets", "billing", "--all-topics", "--to-latest", "--execute", "-o", "json").stdout, &res)
		if !res.Executed || len(res.Offsets) != 2 || res.Offsets[1].NewOffset != 3 || *res.Offsets[1].CurrentOffset != 2 {
			t.Errorf("reset json: %+v", res)
		}
		if got := committed(t, addr, "billing"); got != "orders/0=4 orders/1=3" {
			t.Errorf("after to-latest committed = %q", got)
		}
		ok(t, addr, "", "groups", "reset-offsets", "billing", "--topic", "orders", "--to-offset", "2", "--execute")
		if got := committed(t, addr, "billing"); got != "orders/0=2 orders/1=2" {
			t.Errorf("after to-offset committed = %q", got)
		}
		ok(t, addr, "", "groups", "reset-offsets", "billing", "--topic", "orders", "--to-datetime", "2000-01-01T00:00:00Z", "--execute")
		if got := committed(t, addr, "billing"); got != "orders/0=0 orders/1=0" {
			t.Errorf("after to-datetime committed = %q", got)
		}
		ok(t, addr, "", "groups", "reset-offsets", "billing", "--topic", "orders", "--to-datetime", time.Now().Add(time.Hour).Format(time.RFC3339), "--execute")
		if got := committed(t, addr, "billing"); got != "orders/0=4 orders/1=3" {
			t.Errorf("after future to-datetime committed = %q", got)
		}
		fails(t, addr, "", 2, "exactly one of", "groups", "reset-offsets", "billing", "--topic", "orders")
		fails(t, addr, "", 2, "--all-topics", "groups", "reset-offsets", "billing", "--to-earliest")
		fails(t, addr, "", 1, "UNKNOWN_TOPIC_OR_PARTITION", "groups", "reset-offsets", "billing", "--topic", "nope", "--to-earliest")

		// delete
		r = ok(t, addr, "", "groups", "delete", "billing")
		if !strings.Contains(r.stdout, "billing  deleted") {
			t.Errorf("delete:\n%s", r.stdout)
		}
		ok(t, addr, "", "consume", "orders", "--group", "other", "--from-beginning", "--max-messages", "1")
		var deleted []groupResult
		decode(t, ok(t, addr, "", "groups", "delete", "other", "-o", "json").stdout, &deleted)
		if len(deleted) != 1 || deleted[0].Group != "other" || deleted[0].Status != "deleted" {
			t.Errorf("delete json: %+v", deleted)
		}
		if r := ok(t, addr, "", "groups", "list", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("after delete: %s", r.stdout)
		}
		fails(t, addr, "", 1, "GROUP_ID_NOT_FOUND", "groups", "delete", "billing")
	})
}

// TestGroupsActive checks describe with a live member, and that reset-offsets
// refuses to execute while the group is active.
func TestGroupsActive(t *testing.T) {
	t.Parallel()
	forEach(t, groupAPIs, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "live", "--partitions", "2")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan cliResult)
		go func() { done <- cliCtx(t, ctx, addr, "", "consume", "live", "--group", "busy") }()
		defer func() { cancel(); <-done }()
		var ds []groupDescription
		deadline := time.Now().Add(30 * time.Second)
		for {
			if r := cli(t, addr, "", "groups", "describe", "busy", "-o", "json"); r.code == 0 {
				decode(t, r.stdout, &ds)
			}
			if len(ds) == 1 && ds[0].State == "Stable" && len(ds[0].Members) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group never stable: %+v", ds)
			}
			time.Sleep(50 * time.Millisecond)
		}
		m := ds[0].Members[0]
		if m.ClientID != "gregor-cli" || len(m.Assigned["live"]) != 2 {
			t.Errorf("member: %+v", m)
		}
		r := ok(t, addr, "", "groups", "describe", "busy")
		if !strings.Contains(r.stdout, "MEMBERS\nMEMBER-ID") || !strings.Contains(r.stdout, "live:0,1") {
			t.Errorf("describe active:\n%s", r.stdout)
		}
		r = ok(t, addr, "", "groups", "reset-offsets", "busy", "--topic", "live", "--to-earliest")
		if !strings.Contains(r.stderr, "warning: group busy is Stable") {
			t.Errorf("dry run on active group stderr: %q", r.stderr)
		}
		fails(t, addr, "", 1, "inactive, but it is Stable", "groups", "reset-offsets", "busy", "--topic", "live", "--to-earliest", "--execute")
		fails(t, addr, "", 1, "NON_EMPTY_GROUP", "groups", "delete", "busy")
	})
}
