package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/broker/brokertest"
)

// cliResult is one in-process run of the gregor command line.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs gregor in-process against addr with stdin and args.
func cli(t *testing.T, addr, stdin string, args ...string) cliResult {
	t.Helper()
	return cliCtx(t, t.Context(), addr, stdin, args...)
}

func cliCtx(t *testing.T, ctx context.Context, addr, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--brokers", addr, "--timeout", "15s"}, args...)
	code := run(ctx, full, strings.NewReader(stdin), &out, &errb)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs gregor and fails the test unless it exits 0.
func ok(t *testing.T, addr, stdin string, args ...string) cliResult {
	t.Helper()
	r := cli(t, addr, stdin, args...)
	if r.code != 0 {
		t.Fatalf("gregor %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs gregor and fails the test unless it exits with code and
// stderr contains want.
func fails(t *testing.T, addr, stdin string, code int, want string, args ...string) cliResult {
	t.Helper()
	r := cli(t, addr, stdin, args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("gregor %s: exit %d, stderr %q; want exit %d and %q\nstdout:\n%s", strings.Join(args, " "), r.code, r.stderr, code, want, r.stdout)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 3 {
		t.Errorf("error output is %d lines, want a short message:\n%s", n+1, r.stderr)
	}
	return r
}

// decode parses JSON output into v.
func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}

// lines returns non-empty output lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// startGregor starts an in-process Gregor broker.
func startGregor(t *testing.T) string {
	t.Helper()
	return brokertest.Start(t, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0")).Addr()
}

// startKfake starts franz-go's fake cluster, for APIs Gregor does not serve yet.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// backend is a cluster to run a test against.
type backend struct {
	name  string
	start func(*testing.T) string
}

// backends returns Gregor if it serves every API in keys, and kfake
// always, so that tests of commands whose APIs Gregor is still gaining
// run everywhere they can.
func backends(keys ...kmsg.Key) []backend {
	bs := []backend{{"kfake", startKfake}}
	for _, k := range keys {
		if _, _, ok := broker.SupportedVersions(int16(k)); !ok {
			return bs
		}
	}
	return append([]backend{{"gregor", startGregor}}, bs...)
}

// forEach runs fn as a subtest against each backend serving keys.
func forEach(t *testing.T, keys []kmsg.Key, fn func(t *testing.T, addr string)) {
	for _, b := range backends(keys...) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.start(t))
		})
	}
}
