package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/internal/observe"
)

type brokerFlags struct {
	listen     string
	advertised string
	dataDir    string
	configFile string
	set        []string
	flush      string
	logLevel   string
	http       httpFlags
}

func newBrokerCommand() *cobra.Command {
	var f brokerFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a Kafka-compatible broker, alone or as a node of a cluster",
		Long: `Run a broker that speaks the Kafka wire protocol, alone or as one node of a cluster.

With no flags it listens on 127.0.0.1:9092 (loopback only, for safety) and keeps its
data in ./gregor-data. It prints one line with its address when ready and shuts
down cleanly on Ctrl-C (SIGINT) or SIGTERM.

Settings use Kafka's server.properties names. Read them from a file with --config,
or set them one by one with --set; flags such as --listen win over both.

Durability: by default flushing is left to the operating system, as Kafka does
(an acknowledged record survives a broker crash, not a power loss). With
--flush durable every acks=1/all produce is fsync'd before it is acknowledged,
with group commit across producers.

With --http, the listener also serves the web console at / (see "gregor console"
and docs/console.md): it connects to this broker's first PLAINTEXT listener, or
to a SASL_PLAINTEXT one with PLAIN or SCRAM, and then asks for credentials.

A cluster: give each node a node.id, the same controller.quorum.voters and a
CONTROLLER listener (process.roles=broker,controller, the default, runs both
roles in one process); see the last example and README's "Running a cluster".`,
		Example: `  # defaults: 127.0.0.1:9092, ./gregor-data
  gregor broker

  # listen on all interfaces, advertise a hostname clients can reach
  gregor broker --listen 0.0.0.0:9092 --advertised-listener broker.example.com:9092

  # a server.properties file, with one setting overridden
  gregor broker --config server.properties --set log.retention.hours=24

  # Prometheus metrics, /healthz, /readyz, pprof and the web console on port 9644
  gregor broker --http 127.0.0.1:9644

  # node 1 of a three-node cluster (start nodes 2 and 3 likewise)
  gregor broker --data-dir data-1 --set node.id=1 \
    --listen PLAINTEXT://127.0.0.1:9192,CONTROLLER://127.0.0.1:9193 \
    --set controller.listener.names=CONTROLLER \
    --set listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
    --set controller.quorum.voters=1@127.0.0.1:9193,2@127.0.0.1:9293,3@127.0.0.1:9393`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBroker(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "listener address host:port or NAME://host:port,... (server.properties: listeners; default 127.0.0.1:9092)")
	fl.StringVar(&f.advertised, "advertised-listener", "", "address clients are told to connect to (advertised.listeners)")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (log.dirs; default ./gregor-data)")
	fl.StringVar(&f.configFile, "config", "", "server.properties file to read")
	fl.StringArrayVar(&f.set, "set", nil, "set a server.properties value, key=value (repeatable)")
	fl.StringVar(&f.flush, "flush", "", "flush policy: os (default) or durable (fsync before acknowledging)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.http.add(fl)
	return cmd
}

// brokerConfig builds the broker config: defaults, then the file, then
// --set values, then the dedicated flags.
func brokerConfig(f brokerFlags) (broker.Config, error) {
	cfg := broker.DefaultConfig()
	props := map[string]string{}
	if f.configFile != "" {
		data, err := os.ReadFile(f.configFile)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		fileProps, err := broker.ParseProperties(string(data))
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", f.configFile, err)
		}
		for k, v := range fileProps {
			props[k] = v
		}
	}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return cfg, fmt.Errorf("--set %q: expected key=value", kv)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if f.listen != "" {
		props["listeners"] = f.listen
	}
	if f.advertised != "" {
		adv := f.advertised
		if !strings.Contains(adv, "://") {
			name := "PLAINTEXT"
			if ls, err := broker.ParseListeners(props["listeners"]); err == nil && props["listeners"] != "" {
				name = ls[0].Name
			}
			adv = name + "://" + adv
		}
		props["advertised.listeners"] = adv
	}
	if f.dataDir != "" {
		props["log.dirs"] = f.dataDir
	}
	if f.flush != "" {
		props["gregor.flush.policy"] = f.flush
	}
	if err := cfg.ApplyProperties(props); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func runBroker(cmd *cobra.Command, f brokerFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := brokerConfig(f)
	if err != nil {
		return err
	}
	// The HTTP listener comes up first, so /healthz answers and /readyz
	// says why not while the logs recover.
	var served atomic.Pointer[broker.Broker]
	reg := observe.NewRegistry()
	var web brokerConsole // console.go: the web console at /
	defer web.close()
	httpAddr, stopHTTP, err := startHTTPMount(f.http, reg, func() error {
		if b := served.Load(); b != nil {
			return b.Ready()
		}
		return errRecovering
	}, &web, logger)
	if err != nil {
		return err
	}
	defer stopHTTP()
	b, err := broker.New(cfg, broker.WithLogger(logger))
	if err != nil {
		return err
	}
	if err := reg.Register(b.Metrics()); err != nil {
		b.Close()
		return fmt.Errorf("register metrics: %w", err)
	}
	served.Store(b)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b.Start()
	if err := waitBrokerReady(ctx, b, logger); err != nil {
		b.Close()
		return err
	}
	if httpAddr != "" {
		web.start(b, cfg, logger)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "gregor broker %s ready on %s (cluster %s, data %s%s)\n", version, b.Addr(), b.ClusterID(), cfg.DataDir, httpNote(httpAddr))
	<-ctx.Done()
	logger.Info("shutting down")
	if err := b.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("shut down cleanly")
	return nil
}

// waitBrokerReady waits until the broker has joined the cluster (the
// metadata quorum has a leader, and the broker is registered and
// unfenced), saying every few seconds what it waits for.
func waitBrokerReady(ctx context.Context, b *broker.Broker, logger *slog.Logger) error {
	start := time.Now()
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := b.WaitReady(wctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while joining the cluster: %w", ctx.Err())
		}
		logger.Info("waiting to join the cluster: the controller quorum needs a majority of controller.quorum.voters running", "waited", time.Since(start).Round(time.Second))
	}
}
