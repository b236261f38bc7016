package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumeJSON consumes n records of topic from the beginning as JSON. A
// consumer that gets no record for a minute stops, so that fewer records
// than n fail the test with what was read instead of hanging it.
func consumeJSON(t *testing.T, addr, topic string, n int, extra ...string) []consumedRecord {
	t.Helper()
	args := append([]string{"consume", topic, "--from-beginning", "--max-messages", fmt.Sprint(n), "--idle-timeout", "60s", "-o", "json"}, extra...)
	r := ok(t, addr, "", args...)
	var recs []consumedRecord
	for _, l := range lines(r.stdout) {
		var c consumedRecord
		decode(t, l, &c)
		recs = append(recs, c)
	}
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d:\n%s", len(recs), n, r.stdout)
	}
	return recs
}

func TestProduceOptionsEndToEnd(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	ok(t, addr, "", "topics", "create", "p", "--partitions", "3")
	for i, args := range [][]string{
		{"--compression", "gzip"},
		{"--compression", "zstd", "--idempotent"},
		{"--compression", "snappy", "--acks", "1"},
		{"--compression", "lz4", "--acks", "0"},
	} {
		in := fmt.Sprintf("k%d:hello %d\r\nk%d:world %d", i, i, i, i) // CRLF and no final newline
		full := append([]string{"produce", "p", "--key-separator", ":", "--header", "src=test", "--header", "n=" + fmt.Sprint(i), "--partition", "2"}, args...)
		r := ok(t, addr, in, full...)
		if !strings.Contains(r.stdout, "2 records acknowledged by p") {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
	recs := consumeJSON(t, addr, "p", 8, "--partition", "2")
	for i, c := range recs {
		n := i / 2
		wantV := fmt.Sprintf("hello %d", n)
		if i%2 == 1 {
			wantV = fmt.Sprintf("world %d", n)
		}
		if c.Partition != 2 || c.Offset != int64(i) || *c.Key != fmt.Sprintf("k%d", n) || *c.Value != wantV ||
			c.Headers.String() != fmt.Sprintf("src=test,n=%d", n) || c.Topic != "p" {
			t.Errorf("record %d = %+v (key %q value %q)", i, c, *c.Key, *c.Value)
		}
	}

	// JSON report; a line without the separator fails and sets the exit code.
	r := cli(t, addr, "a:1\nno separator\nb:2\n", "produce", "p", "--key-separator", ":", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 3 records failed: line 2: no key separator") {
		t.Errorf("bad line: exit %d stderr %q", r.code, r.stderr)
	}
	var res produceResult
	decode(t, r.stdout, &res)
	if res.Acknowledged != 2 || res.Failed != 1 || res.Topic != "p" {
		t.Errorf("produce json: %+v", res)
	}

	fails(t, addr, "x\n", 2, "--acks", "produce", "p", "--acks", "2")
	fails(t, addr, "x\n", 2, "need --acks all", "produce", "p", "--acks", "1", "--idempotent")
	fails(t, addr, "x\n", 2, "--compression", "produce", "p", "--compression", "brotli")
	fails(t, addr, "x\n", 2, "want key=value", "produce", "p", "--header", "nope")
	fails(t, addr, "x\n", 1, "1 of 1 records failed: invalid record partitioning choice of 9 from 3", "produce", "p", "--partition", "9")
}

func TestProduceTransactional(t *testing.T) {
	t.Parallel()
	forEach(t, []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.EndTxn, kmsg.FindCoordinator}, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "tx", "--partitions", "1")
		r := ok(t, addr, "one\ntwo\n", "produce", "tx", "--transactional-id", "loader")
		if !strings.Contains(r.stdout, "2 records acknowledged by tx (transaction loader committed)") {
			t.Errorf("transactional produce: %q", r.stdout)
		}
		// A failing line aborts the whole transaction.
		r = cli(t, addr, "k:v\nbad\n", "produce", "tx", "--transactional-id", "loader", "--key-separator", ":", "-o", "json")
		if r.code != 1 {
			t.Errorf("aborted transaction exit %d, stderr %q", r.code, r.stderr)
		}
		var res produceResult
		decode(t, r.stdout, &res)
		if res.Committed == nil || *res.Committed || res.Acknowledged != 0 {
			t.Errorf("aborted transaction report: %+v", res)
		}
		ok(t, addr, "three\n", "produce", "tx", "--transactional-id", "loader")
		recs := consumeJSON(t, addr, "tx", 3, "--isolation-level", "read_committed")
		var vals []string
		for _, c := range recs {
			vals = append(vals, *c.Value)
		}
		if strings.Join(vals, ",") != "one,two,three" {
			t.Errorf("read_committed saw %v", vals)
		}
	})
}

func TestConsume(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	ok(t, addr, "", "topics", "create", "c", "--partitions", "2")
	ok(t, addr, "a0\na1\na2\na3\n", "produce", "c", "--partition", "0")
	ok(t, addr, "b0\nb1\n", "produce", "c", "--partition", "1", "--header", "h=x")

	// --format over every field
	r := ok(t, addr, "", "consume", "c", "--partition", "1", "--from-beginning", "-n", "2",
		"--format", `{{.topic}} {{.partition}} {{.offset}} [{{.key}}] {{.value}} {{.headers.Get "h"}} {{.timestamp.Year}}`)
	year := time.Now().Year()
	want := fmt.Sprintf("c 1 0 [] b0 x %d\nc 1 1 [] b1 x %d\n", year, year)
	if r.stdout != want && r.stdout != fmt.Sprintf("c 1 0 [] b0 x %d\nc 1 1 [] b1 x %d\n", year-1, year-1) {
		t.Errorf("formatted:\n%q\nwant\n%q", r.stdout, want)
	}

	// --offset forms on one partition
	for _, tc := range []struct {
		offset string
		want   string
	}{
		{"2", "a2,a3"},
		{"-1", "a3"},
		{"+3", "a3"},
		{"earliest", "a0,a1,a2,a3"},
		{"@2000-01-01", "a0,a1,a2,a3"},
	} {
		r := ok(t, addr, "", "consume", "c", "-p", "0", "--offset", tc.offset, "--idle-timeout", "500ms")
		if got := strings.Join(lines(r.stdout), ","); got != tc.want {
			t.Errorf("--offset %s: got %s, want %s", tc.offset, got, tc.want)
		}
	}
	// without --from-beginning only new records are seen
	if r := ok(t, addr, "", "consume", "c", "--idle-timeout", "300ms"); r.stdout != "" {
		t.Errorf("latest consumed old records: %q", r.stdout)
	}
	// all partitions, JSON
	recs := consumeJSON(t, addr, "c", 6)
	if len(recs) != 6 {
		t.Errorf("json consumed %d", len(recs))
	}

	fails(t, addr, "", 1, "topic nope: UNKNOWN_TOPIC_OR_PARTITION", "consume", "nope")
	fails(t, addr, "", 1, "no partition 7", "consume", "c", "--partition", "7")
	fails(t, addr, "", 2, "--format", "consume", "c", "--format", "{{.nope}}")
	fails(t, addr, "", 2, "do not mix", "consume", "c", "--group", "g", "--partition", "0")
	fails(t, addr, "", 2, "--isolation-level", "consume", "c", "--isolation-level", "dirty")
	fails(t, addr, "", 2, "not both", "consume", "c", "--from-beginning", "--offset", "3")
}

// TestConsumeGroupInterrupt stops a group consumer as Ctrl-C does and checks
// that it exits 0 and committed what it printed.
func TestConsumeGroupInterrupt(t *testing.T) {
	t.Parallel()
	forEach(t, []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.OffsetCommit, kmsg.DescribeGroups}, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "g", "--partitions", "1")
		ok(t, addr, "1\n2\n3\n", "produce", "g")
		ctx, cancel := context.WithCancel(t.Context())
		var out, errb syncBuffer // read while the consumer runs
		done := make(chan int)
		go func() {
			done <- run(ctx, []string{"--brokers", addr, "--timeout", "15s", "consume", "g", "--group", "readers", "--from-beginning"}, strings.NewReader(""), &out, &errb)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for {
			// Wait until the group is consuming and the three records are printed.
			r := cli(t, addr, "", "groups", "list")
			if strings.Contains(r.stdout, "readers") && strings.Contains(r.stdout, "Stable") && len(lines(out.String())) == 3 {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("group never became stable with three records printed:\n%s\nprinted: %q", r.stdout, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		r := cliResult{code: <-done, stdout: out.String(), stderr: errb.String()}
		if r.code != 0 || strings.Join(lines(r.stdout), ",") != "1,2,3" || !strings.Contains(r.stderr, "Processed a total of 3 messages") {
			t.Fatalf("interrupted consume: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		var ds []groupDescription
		decode(t, ok(t, addr, "", "groups", "describe", "readers", "-o", "json").stdout, &ds)
		if len(ds) != 1 || len(ds[0].Offsets) != 1 || ds[0].Offsets[0].CurrentOffset == nil || *ds[0].Offsets[0].CurrentOffset != 3 || ds[0].TotalLag != 0 {
			t.Errorf("after interrupt: %+v", ds)
		}
		// The next member of the group starts after the committed offset.
		ok(t, addr, "4\n", "produce", "g")
		r = ok(t, addr, "", "consume", "g", "--group", "readers", "--max-messages", "1")
		if strings.TrimSpace(r.stdout) != "4" {
			t.Errorf("resumed at %q, want 4", r.stdout)
		}
	})
}
