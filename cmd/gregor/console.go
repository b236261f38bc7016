package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/console"
	"github.com/gregorhq/gregor/internal/kafkasec"
)

type consoleFlags struct {
	http     string
	connect  []string
	streams  []string
	mech     string
	logLevel string
}

func newConsoleCommand(g *globals) *cobra.Command {
	var f consoleFlags
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console for a Kafka cluster, its Connect clusters and streams apps",
		Long: `Serve Gregor's web console: the cluster's brokers and throughput, topics (create,
delete, configs, a message browser with filters, produce), consumer groups (lag
and its history, offset resets), Kafka Connect clusters (through their REST API)
and streams applications (state and topology). It works against any Kafka
cluster; gregor broker --http serves the same console for its own broker.

It listens on 127.0.0.1:9000 by default (loopback only: anyone who reaches it
acts on the cluster). With --sasl-mechanism the console asks for a user name and
password and connects as that user, so the broker's ACLs decide what it shows
and does; TLS and the other client properties come from --command-config and -X
as for the other client commands. It prints one line with its URL when ready
and stops on Ctrl-C (SIGINT) or SIGTERM.

--connect takes a Connect worker's REST URL, optionally named (NAME=URL; an
unnamed first one is "main"); --streams takes the URL of a streams App's HTTP
listener (its Config.HTTPAddr). Both are repeatable.`,
		Example: `  # a console for the local broker on http://127.0.0.1:9000
  gregor console

  # another cluster, with a Connect worker and a streams application
  gregor console --brokers kafka-1:9092,kafka-2:9092 \
    --connect main=http://127.0.0.1:8083 --streams http://127.0.0.1:9645

  # a cluster with SASL/SCRAM over TLS: the console asks each user to log in
  gregor console --brokers kafka:9093 --sasl-mechanism SCRAM-SHA-512 \
    -X security.protocol=SASL_SSL -X ssl.truststore.type=PEM -X ssl.truststore.location=ca.pem

  # listen on another address
  gregor console --http 127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConsole(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.http, "http", "127.0.0.1:9000", "address to serve the console on")
	fl.StringArrayVar(&f.connect, "connect", nil, "a Kafka Connect REST URL, [NAME=]URL (repeatable)")
	fl.StringArrayVar(&f.streams, "streams", nil, "the URL of a streams application's HTTP listener (repeatable)")
	fl.StringVar(&f.mech, "sasl-mechanism", "", "ask users to log in with this SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	_ = cmd.RegisterFlagCompletionFunc("sasl-mechanism", cobra.FixedCompletions([]string{console.MechanismPlain, console.MechanismSCRAMSHA256, console.MechanismSCRAMSHA512}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// parseConnectFlags turns --connect values into Connect clusters.
func parseConnectFlags(values []string) ([]console.ConnectCluster, error) {
	var out []console.ConnectCluster
	for i, v := range values {
		name, url, named := strings.Cut(v, "=")
		if !named {
			name, url = "main", v
			if i > 0 {
				name = fmt.Sprintf("connect-%d", i+1)
			}
		}
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, usagef("--connect %q: want [NAME=]http://host:port", v)
		}
		out = append(out, console.ConnectCluster{Name: name, URL: url})
	}
	return out, nil
}

// consoleClientOpts are the client options of the console: the client
// properties' TLS, and their SASL only when the console does not log
// users in itself.
func consoleClientOpts(cmd *cobra.Command, g *globals, mech string) ([]kgo.Opt, error) {
	if mech == "" {
		return g.securityOpts(cmd)
	}
	props, err := g.clientProperties()
	if err != nil {
		return nil, err
	}
	for k := range props {
		if strings.HasPrefix(k, "sasl.") {
			delete(props, k)
		}
	}
	switch strings.ToUpper(props["security.protocol"]) {
	case "SASL_SSL":
		props["security.protocol"] = "SSL"
	case "SASL_PLAINTEXT", "":
		props["security.protocol"] = "PLAINTEXT"
	}
	opts, err := kafkasec.ClientOpts(props)
	if err != nil {
		return nil, usagef("%w", err)
	}
	return opts, nil
}

func runConsole(cmd *cobra.Command, g *globals, f consoleFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usagef("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	seeds, err := g.seeds()
	if err != nil {
		return err
	}
	mech := strings.ToUpper(f.mech)
	connect, err := parseConnectFlags(f.connect)
	if err != nil {
		return err
	}
	opts, err := consoleClientOpts(cmd, g, mech)
	if err != nil {
		return err
	}
	c, err := console.New(console.Config{Brokers: seeds, ClientOptions: opts, SASLMechanism: mech,
		Connect: connect, Streams: f.streams, Logger: log})
	if err != nil {
		if errors.Is(err, console.ErrConfig) {
			return usagef("%w", err)
		}
		return err
	}
	defer c.Close()
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(cmd.OutOrStdout(), "gregor console ready on http://%s (brokers %s)\n", ln.Addr(), strings.Join(seeds, ","))
	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-done:
		return fmt.Errorf("console: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-done
	return nil
}

// brokerConsole serves the web console of gregor broker --http once the
// broker runs (503 before).
type brokerConsole struct {
	c atomic.Pointer[console.Console]
}

func (bc *brokerConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := bc.c.Load()
	if c == nil {
		http.Error(w, "the broker is starting; the console comes up once it is ready", http.StatusServiceUnavailable)
		return
	}
	c.Handler().ServeHTTP(w, r)
}

// start creates the console of broker b: a client of its own first
// PLAINTEXT listener, or of its first SASL_PLAINTEXT listener with PLAIN
// or SCRAM (then the console asks for credentials). A broker with only
// TLS listeners serves no console (a log line says why).
func (bc *brokerConsole) start(b *broker.Broker, cfg broker.Config, log *slog.Logger) {
	ls, err := cfg.ClientListeners()
	if err != nil {
		log.Warn("web console off", "err", err)
		return
	}
	pick := func(proto string) (broker.ClientListener, bool) {
		for _, l := range ls {
			if l.Protocol == proto {
				return l, true
			}
		}
		return broker.ClientListener{}, false
	}
	l, ok := pick("PLAINTEXT")
	mech := ""
	if !ok {
		if l, ok = pick("SASL_PLAINTEXT"); ok {
			for _, m := range l.Mechanisms {
				if m == console.MechanismPlain || m == console.MechanismSCRAMSHA256 || m == console.MechanismSCRAMSHA512 {
					mech = m
					break
				}
			}
			ok = mech != ""
		}
	}
	if !ok {
		log.Warn("web console off: it needs a PLAINTEXT listener, or a SASL_PLAINTEXT one with PLAIN or SCRAM; use gregor console with TLS settings instead")
		return
	}
	addr, bound := b.ListenerAddr(l.Name)
	if !bound {
		log.Warn("web console off: listener not bound", "listener", l.Name)
		return
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	c, err := console.New(console.Config{Brokers: []string{addr}, SASLMechanism: mech, Logger: log})
	if err != nil {
		log.Warn("web console off", "err", err)
		return
	}
	bc.c.Store(c)
}

// close stops the console, if it started.
func (bc *brokerConsole) close() {
	if c := bc.c.Load(); c != nil {
		c.Close()
	}
}
