package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gregorhq/gregor/connect"
	_ "github.com/gregorhq/gregor/connect/connectors/datagen" // registers Datagen
	_ "github.com/gregorhq/gregor/connect/connectors/file"    // registers FileStreamSource/Sink
	_ "github.com/gregorhq/gregor/connect/converters"         // registers the converters
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/connect/runtime/rest"
	_ "github.com/gregorhq/gregor/connect/transforms" // registers the transformations
	"github.com/gregorhq/gregor/internal/observe"
)

func newConnectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connect",
		Short:   "Run Kafka Connect workers (source and sink connectors)",
		GroupID: "server",
		Long: `Run a Kafka Connect worker: connectors that move data between Kafka topics and
other systems, managed through Kafka Connect's REST API. Connectors are compiled
into gregor: FileStreamSource, FileStreamSink and Datagen (see
"gregor connect plugins").`,
		Example: `  # a worker with its REST API on http://127.0.0.1:8083 and no connectors yet
  gregor connect standalone worker.properties

  # one worker of a group that shares connectors (group.id, config.storage.topic, ...)
  gregor connect distributed worker.properties

  # the connectors compiled in
  gregor connect plugins`,
	}
	cmd.AddCommand(newConnectStandaloneCommand(), newConnectDistributedCommand(), newConnectPluginsCommand())
	return cmd
}

func newConnectStandaloneCommand() *cobra.Command {
	var logLevel string
	var hf httpFlags
	cmd := &cobra.Command{
		Use:   "standalone worker.properties [connector.properties|connector.json ...]",
		Short: "Run a standalone worker with the given connectors",
		Long: `Run a standalone Connect worker: every connector and task runs in this process,
source offsets are kept in offset.storage.file.filename and sink offsets in the
consumer group connect-<name>.

worker.properties uses Kafka Connect's names (bootstrap.servers, key.converter,
value.converter, key.converter.schemas.enable, offset.storage.file.filename,
offset.flush.interval.ms, listeners, ...). Each connector file is either a
.properties file or JSON ({"name": ..., "config": {...}} or a flat object).
The REST API listens on listeners (default http://127.0.0.1:8083). Ctrl-C stops
the worker cleanly: sinks flush, offsets are committed.`,
		Example: `  gregor connect standalone worker.properties file-source.properties file-sink.properties
  curl -s localhost:8083/connectors?expand=status`,
		Args: minArgs(1, "a worker.properties file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnectStandalone(cmd, args[0], args[1:], logLevel, hf)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	hf.add(cmd.Flags())
	return cmd
}

func runConnectStandalone(cmd *cobra.Command, workerFile string, connectorFiles []string, logLevel string, hf httpFlags) error {
	loggers, log, wc, err := loadConnectWorker(cmd, workerFile, logLevel)
	if err != nil {
		return err
	}
	reg := observe.NewRegistry()
	httpAddr, stopHTTP, err := startHTTP(hf, reg, nil, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	var configs []map[string]string
	for _, f := range connectorFiles {
		c, err := readConnectorFile(f)
		if err != nil {
			return err
		}
		configs = append(configs, c)
	}
	h, err := runtime.NewStandalone(wc, runtime.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := reg.Register(h.Collector()); err != nil {
		_ = h.Close()
		return fmt.Errorf("connect metrics: %w", err)
	}
	srv := rest.New(h, log)
	srv.SetLoggers(loggers)
	listener := runtime.DefaultListener
	if len(wc.Listeners) > 0 {
		listener = wc.Listeners[0]
	}
	if len(wc.Listeners) > 1 {
		log.Warn("only the first REST listener is served", "listener", listener)
	}
	if err := srv.Listen(listener); err != nil {
		_ = h.Close()
		return err
	}
	listening := []string{"http://" + srv.Addr()}
	defer func() {
		_ = srv.Close()
		if err := h.Close(); err != nil {
			log.Error("worker shutdown", "err", err)
		}
	}()
	ctx := cmdContext(cmd)
	for _, c := range configs {
		if _, _, err := h.PutConnectorConfig(ctx, c[runtime.NameConfig], c, false, ""); err != nil {
			return fmt.Errorf("connector %s: %w", c[runtime.NameConfig], err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "gregor connect standalone ready on %s (REST API %s, %d connector(s), brokers %s%s)\n",
		srv.Addr(), strings.Join(listening, ","), len(configs), strings.Join(wc.BootstrapServers, ","), httpNote(httpAddr))
	<-ctx.Done()
	log.Info("shutting down: flushing and committing offsets")
	return nil
}

func newConnectDistributedCommand() *cobra.Command {
	var logLevel string
	var hf httpFlags
	cmd := &cobra.Command{
		Use:   "distributed worker.properties",
		Short: "Run a distributed worker that shares connectors with its group",
		Long: `Run a distributed Connect worker. Workers with the same group.id form a group
and share connectors and tasks. Rebalancing is incremental and cooperative
(connect.protocol=sessioned, the default): workers keep running their work
through a rebalance, and the work of a worker that leaves or dies moves to the
others after scheduled.rebalance.max.delay.ms (default 300000, 5 minutes), so
a worker that restarts within that time gets it back; connect.protocol=eager
restarts all work on every rebalance and moves it at once. Configurations, source offsets and statuses live in the compacted
topics config.storage.topic (one partition), offset.storage.topic and
status.storage.topic, created on first start with the configured replication
factors (default 1). Connectors are created over the REST API; writes sent to
any worker are forwarded to the leader, and answered 409 during a rebalance.`,
		Example: `  cat > worker.properties <<EOF
  bootstrap.servers=127.0.0.1:9092
  group.id=connect-cluster
  config.storage.topic=connect-configs
  offset.storage.topic=connect-offsets
  status.storage.topic=connect-status
  listeners=http://127.0.0.1:8083
  EOF
  gregor connect distributed worker.properties`,
		Args: minArgs(1, "a worker.properties file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnectDistributed(cmd, args[0], logLevel, hf)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	hf.add(cmd.Flags())
	return cmd
}

func runConnectDistributed(cmd *cobra.Command, workerFile, logLevel string, hf httpFlags) error {
	if len(cmd.Flags().Args()) > 1 {
		return usagef("distributed workers take connectors over the REST API, not as files")
	}
	loggers, log, wc, err := loadConnectWorker(cmd, workerFile, logLevel)
	if err != nil {
		return err
	}
	reg := observe.NewRegistry()
	httpAddr, stopHTTP, err := startHTTP(hf, reg, nil, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	ctx := cmdContext(cmd)
	d, err := runtime.NewDistributed(ctx, wc, runtime.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := reg.Register(d.Collector()); err != nil {
		_ = d.Close()
		return fmt.Errorf("connect metrics: %w", err)
	}
	srv := rest.New(d, log)
	srv.SetLoggers(loggers)
	listener := runtime.DefaultListener
	if len(wc.Listeners) > 0 {
		listener = wc.Listeners[0]
	}
	if err := srv.Listen(listener); err != nil {
		_ = d.Close()
		return err
	}
	url := ""
	if wc.AdvertisedHost == "" && wc.AdvertisedPort == 0 {
		url = "http://" + srv.Addr()
	}
	d.Start(url)
	defer func() {
		_ = srv.Close()
		if err := d.Close(); err != nil {
			log.Error("worker shutdown", "err", err)
		}
	}()
	fmt.Fprintf(cmd.OutOrStdout(), "gregor connect distributed ready on %s (REST API http://%s, group %s, brokers %s%s)\n",
		srv.Addr(), srv.Addr(), wc.Props[runtime.GroupIDConfig], strings.Join(wc.BootstrapServers, ","), httpNote(httpAddr))
	<-ctx.Done()
	log.Info("shutting down: leaving the group, flushing and committing offsets")
	return nil
}

// readConnectorFile reads a connector configuration from a .properties
// file or a JSON file ({"name":..., "config":{...}} or a flat object).
func readConnectorFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read connector config: %w", err)
	}
	var cfg map[string]string
	if strings.EqualFold(filepath.Ext(path), ".json") {
		var wrapped struct {
			Name   string            `json:"name"`
			Config map[string]string `json:"config"`
		}
		if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.Config != nil {
			cfg = wrapped.Config
			if wrapped.Name != "" {
				cfg[runtime.NameConfig] = wrapped.Name
			}
		} else if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: not a connector configuration: %w", path, err)
		}
	} else if cfg, err = runtime.ParseProperties(string(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if strings.TrimSpace(cfg[runtime.NameConfig]) == "" {
		return nil, fmt.Errorf("%s: the connector has no name", path)
	}
	return cfg, nil
}

func newConnectPluginsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "plugins",
		Short:   "List the connector and converter plugins compiled into gregor",
		Example: "  gregor connect plugins",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := newTable("CLASS", "TYPE", "ALIASES")
			for _, p := range connect.DefaultRegistry.Plugins() {
				t.add(p.Class, string(p.Type), strings.Join(p.Aliases, ","))
			}
			return t.write(cmd.OutOrStdout())
		},
	}
}

// loadConnectWorker sets up a worker's logging (every logger's level is
// changeable at runtime through /admin/loggers) and reads its properties.
func loadConnectWorker(cmd *cobra.Command, workerFile, logLevel string) (*runtime.Loggers, *slog.Logger, runtime.WorkerConfig, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, nil, runtime.WorkerConfig{}, usagef("--log-level: %v", err)
	}
	// The handler passes everything; loggers filters by logger name.
	loggers := runtime.NewLoggers(level)
	log := slog.New(loggers.Handler(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug - 4})))
	data, err := os.ReadFile(workerFile)
	if err != nil {
		return nil, nil, runtime.WorkerConfig{}, fmt.Errorf("read worker config: %w", err)
	}
	props, err := runtime.ParseProperties(string(data))
	if err != nil {
		return nil, nil, runtime.WorkerConfig{}, fmt.Errorf("%s: %w", workerFile, err)
	}
	wc, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		return nil, nil, runtime.WorkerConfig{}, fmt.Errorf("%s: %w", workerFile, err)
	}
	return loggers, log, wc, nil
}
