package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestPerf(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	ok(t, addr, "", "topics", "create", "perf", "--partitions", "2")
	r := ok(t, addr, "", "perf", "produce", "--topic", "perf", "--num-records", "2000", "--record-size", "64", "--throughput", "-1")
	if !strings.HasPrefix(r.stdout, "2000 records sent, ") || !strings.Contains(r.stdout, "MB/sec") || !strings.Contains(r.stdout, "ms 99.9th.") {
		t.Errorf("perf produce:\n%s", r.stdout)
	}
	var s perfSummary
	decode(t, ok(t, addr, "", "perf", "produce", "--topic", "perf", "--num-records", "1000", "--record-size", "10", "--acks", "1", "--compression", "lz4", "-o", "json").stdout, &s)
	if s.Records != 1000 || s.Bytes != 10000 || s.Failed != 0 || s.RecordsPerSec <= 0 || s.LatencyMaxMs < s.LatencyP50Ms {
		t.Errorf("perf produce json: %+v", s)
	}
	// --throughput paces: 30 records at 20/s take at least ~1.4s, with a progress line.
	r = ok(t, addr, "", "perf", "produce", "--topic", "perf", "--num-records", "30", "--record-size", "1", "--throughput", "20", "-o", "json")
	decode(t, r.stdout, &s)
	if s.Records != 30 || s.Seconds < 1.3 || s.RecordsPerSec > 25 {
		t.Errorf("throttled perf produce: %+v", s)
	}
	if !strings.Contains(r.stderr, "records sent, ") {
		t.Errorf("no progress line on stderr: %q", r.stderr)
	}

	r = ok(t, addr, "", "perf", "consume", "--topic", "perf", "--messages", "3030")
	if !strings.HasPrefix(r.stdout, "3030 records consumed, ") {
		t.Errorf("perf consume:\n%s", r.stdout)
	}
	decode(t, ok(t, addr, "", "perf", "consume", "--topic", "perf", "--messages", "100", "--group", "pc", "-o", "json").stdout, &s)
	if s.Records != 100 {
		t.Errorf("perf consume json: %+v", s)
	}
	fails(t, addr, "", 1, "consumed only 3030 of 5000 records", "--timeout", "1s", "perf", "consume", "--topic", "perf", "--messages", "5000")
	fails(t, addr, "", 1, "UNKNOWN_TOPIC_OR_PARTITION", "perf", "consume", "--topic", "nope", "--messages", "1")
	fails(t, addr, "", 2, "--num-records", "perf", "produce", "--topic", "perf")
	fails(t, addr, "", 2, "--topic is required", "perf", "consume", "--messages", "1")
}

func TestVersionAndCompletion(t *testing.T) {
	t.Parallel()
	r := ok(t, "unused:1", "", "version")
	if !strings.HasPrefix(r.stdout, "gregor dev (go") {
		t.Errorf("version: %q", r.stdout)
	}
	var v versionInfo
	decode(t, ok(t, "unused:1", "", "version", "-o", "json").stdout, &v)
	if v.Version != "dev" || v.Go == "" {
		t.Errorf("version json: %+v", v)
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := ok(t, "unused:1", "", "completion", sh)
		if !strings.Contains(r.stdout, "gregor") || len(r.stdout) < 500 {
			t.Errorf("completion %s: %d bytes", sh, len(r.stdout))
		}
	}
}

// TestCompletionOfNames checks that topic and group names complete from the
// cluster.
func TestCompletionOfNames(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	ok(t, addr, "", "topics", "create", "orders", "ordinals")
	r := ok(t, addr, "", cobra.ShellCompRequestCmd, "topics", "describe", "ord")
	if !strings.Contains(r.stdout, "orders\n") || !strings.Contains(r.stdout, "ordinals\n") {
		t.Errorf("topic completion:\n%s", r.stdout)
	}
	r = ok(t, addr, "", cobra.ShellCompRequestCmd, "produce", "orders", "--compression", "")
	if !strings.Contains(r.stdout, "zstd\n") {
		t.Errorf("flag completion:\n%s", r.stdout)
	}
}

// TestHelp checks that every command has a description and examples, and
// that --help works.
func TestHelp(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		if c.Short == "" || c.Example == "" && c.HasParent() && c.Name() != "version" {
			t.Errorf("%s: missing Short or Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCommand())
	r := ok(t, "unused:1", "", "groups", "reset-offsets", "--help")
	for _, s := range []string{"Usage:", "Examples:", "--to-datetime", "--execute", "Global Flags:", "--brokers"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("help lacks %q:\n%s", s, r.stdout)
		}
	}
	r = ok(t, "unused:1", "", "--help")
	if !strings.Contains(r.stdout, "Client commands:") || !strings.Contains(r.stdout, "topics") || !strings.Contains(r.stdout, "perf") {
		t.Errorf("root help:\n%s", r.stdout)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	for _, args := range [][]string{
		{"topics", "list"},
		{"produce", "t"},
		{"consume", "t"},
		{"groups", "list"},
		{"configs", "describe", "--topic", "t"},
		{"perf", "produce", "--topic", "t", "--num-records", "1"},
	} {
		r := fails(t, dead, "x\n", 1, "cannot reach a broker at "+dead+" (set --brokers or GREGOR_BROKERS)", args...)
		if strings.Contains(r.stderr, "goroutine") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: error is not one line: %q", args, r.stderr)
		}
	}
	fails(t, dead, "", 2, `unknown command "nope" for "gregor"`, "nope")
	fails(t, dead, "", 2, "unknown flag: --nope", "topics", "list", "--nope")
	fails(t, dead, "", 2, "--output \"yaml\": must be table or json", "topics", "list", "-o", "yaml")
	fails(t, dead, "", 2, "--timeout", "topics", "list", "--timeout", "0s")
	fails(t, dead, "", 2, "invalid argument", "topics", "create", "x", "--partitions", "many")
	fails(t, dead, "", 2, "needs one topic name", "produce")
	fails(t, dead, "", 2, "takes no arguments", "topics", "list", "extra")
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"--brokers", "", "topics", "list"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--brokers is empty") {
		t.Errorf("empty --brokers: exit %d, %q", code, errb.String())
	}
}

// TestBrokersEnv checks that GREGOR_BROKERS is the default for --brokers.
func TestBrokersEnv(t *testing.T) {
	addr := startGregor(t)
	t.Setenv(brokersEnv, addr)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"topics", "create", "from-env"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "from-env") {
		t.Errorf("output: %q", out.String())
	}
}
