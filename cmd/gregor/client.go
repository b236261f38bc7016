package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// globals holds the flags every client command shares.
type globals struct {
	brokers string
	output  string
	timeout time.Duration
	// commandConfig and properties (-X) are the client properties (security.go).
	commandConfig string
	properties    []string
}

func (g *globals) validate() error {
	switch g.output {
	case "table", "json":
	default:
		return usagef("--output %q: must be table or json", g.output)
	}
	if g.timeout <= 0 {
		return usagef("--timeout %s: must be positive", g.timeout)
	}
	return nil
}

// json reports whether JSON output was asked for.
func (g *globals) json() bool { return g.output == "json" }

// seeds parses --brokers.
func (g *globals) seeds() ([]string, error) { return parseBrokers(g.brokers) }

// parseBrokers splits a comma-separated broker list, adding Kafka's default
// port 9092 to hosts given without one.
func parseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if strings.Contains(b, "://") {
			return nil, usagef("--brokers %q: want host:port, not a URL", b)
		}
		if !strings.Contains(b, ":") || strings.HasSuffix(b, "]") {
			b += ":9092"
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, usagef("--brokers is empty: give at least one host:port")
	}
	return out, nil
}

// opCtx returns a context bounded by --timeout for one operation.
func (g *globals) opCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmdContext(cmd), g.timeout)
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// client connects to the cluster and checks that a broker answers, so that a
// wrong --brokers fails fast with a clear message.
func (g *globals) client(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := g.seeds()
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("gregor-cli"),
		kgo.DialTimeout(min(g.timeout, 10*time.Second)),
		kgo.RetryTimeout(g.timeout),
	}
	sec, err := g.securityOpts(cmd) // security.go
	if err != nil {
		return nil, err
	}
	base = append(base, sec...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, usagef("%w", err)
	}
	ctx, cancel := g.opCtx(cmd)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot reach a broker at %s (set --brokers or %s): %w", strings.Join(seeds, ","), brokersEnv, err)
	}
	return cl, nil
}

// admin returns an admin client over a new connection; close it with
// adm.Close().
func (g *globals) admin(cmd *cobra.Command) (*kadm.Client, error) {
	cl, err := g.client(cmd)
	if err != nil {
		return nil, err
	}
	return newAdminFrom(cl, g), nil
}

// adminOp is admin plus the command's operation context (--timeout); done
// releases both.
func (g *globals) adminOp(cmd *cobra.Command) (*kadm.Client, context.Context, func(), error) {
	adm, err := g.admin(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := g.opCtx(cmd)
	return adm, ctx, func() { cancel(); adm.Close() }, nil
}

// clientOp is client plus the command's operation context (--timeout);
// done releases both.
func (g *globals) clientOp(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, context.Context, func(), error) {
	cl, err := g.client(cmd, opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := g.opCtx(cmd)
	return cl, ctx, func() { cancel(); cl.Close() }, nil
}

// requestOp sends req, a request of the API named api, on a new client
// for the command (clientOp, with opts) and returns its response.
func requestOp[R kmsg.Response](cmd *cobra.Command, g *globals, api string, req kmsg.Request, opts ...kgo.Opt) (R, error) {
	var zero R
	cl, ctx, done, err := g.clientOp(cmd, opts...)
	if err != nil {
		return zero, err
	}
	defer done()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return zero, kafkaErr(api, err)
	}
	r, ok := resp.(R)
	if !ok {
		return zero, fmt.Errorf("%s: unexpected response %T", api, resp)
	}
	return r, nil
}

// kafkaErr makes an error from a Kafka response more helpful: a request the
// broker does not implement is named as such. Other errors (kerr errors
// print as "NAME: description") are returned as they are.
func kafkaErr(api string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "broker is too old") {
		return fmt.Errorf("the broker does not support %s: %w", api, err)
	}
	return err
}

// errString is an error's message, or "" for nil; for JSON output.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// parseKV parses "key=value"; flag names the flag for the error message.
func parseKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", usagef("%s %q: want key=value", flag, s)
	}
	return k, v, nil
}

// parsePartitions parses a partition list such as "0,2,5-7".
func parsePartitions(s string) ([]int32, error) {
	var out []int32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 32)
		if err != nil || a < 0 {
			return nil, usagef("partition %q: want a number >= 0", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 32); err != nil || b < a {
				return nil, usagef("partition range %q: want LOW-HIGH", part)
			}
		}
		for p := a; p <= b; p++ {
			out = append(out, int32(p))
		}
	}
	if len(out) == 0 {
		return nil, usagef("empty partition list %q", s)
	}
	return out, nil
}

// noArgs is cobra.NoArgs as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactArgs requires n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s (got %d arguments); see --help", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// minArgs requires at least n positional arguments, described by what.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s needs %s; see --help", cmd.CommandPath(), what)
		}
		return nil
	}
}

// completeTopics completes topic names from the cluster.
func completeTopics(g *globals) cobra.CompletionFunc {
	return completeFromCluster(g, func(ctx context.Context, adm *kadm.Client) ([]string, error) {
		td, err := adm.ListTopics(ctx)
		return td.Names(), err
	})
}

// completeGroups completes consumer group names from the cluster.
func completeGroups(g *globals) cobra.CompletionFunc {
	return completeFromCluster(g, func(ctx context.Context, adm *kadm.Client) ([]string, error) {
		ls, err := adm.ListGroups(ctx)
		return ls.Groups(), err
	})
}

// completeFromCluster completes from the names list returns, asking the
// cluster with a short timeout; any error completes nothing.
func completeFromCluster(g *globals, list func(context.Context, *kadm.Client) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		g.timeout = min(g.timeout, 3*time.Second)
		adm, err := g.admin(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer adm.Close()
		ctx, cancel := g.opCtx(cmd)
		defer cancel()
		names, err := list(ctx, adm)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// newAdminFrom wraps an existing client; closing the admin client closes cl.
func newAdminFrom(cl *kgo.Client, g *globals) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(g.timeout, time.Hour).Milliseconds()))
	return adm
}
