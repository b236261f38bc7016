package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are the pluggable parts of a herder (Standalone or
// Distributed); zero values pick the defaults.
type Options struct {
	// Registry resolves plugin names (default connect.DefaultRegistry).
	Registry *connect.Registry
	// Logger gets the worker's logs (default: discarded).
	Logger *slog.Logger
	// Offsets stores source offsets (default: a FileOffsetStore on
	// offset.storage.file.filename, or memory when that is unset).
	Offsets OffsetStore
	// Configs and Statuses default to memory stores.
	Configs  ConfigStore
	Statuses StatusStore
	// WorkerID names this worker in statuses (default: the advertised
	// REST host:port, else 127.0.0.1:8083).
	WorkerID string
}

// Worker is what the two herders share: the connectors and tasks running
// in this process, their converters, transformation chains and error
// handling, the stores, and the Herder methods that read them or act on
// this worker's own work (statuses, plugins, validation, offsets). Each
// herder embeds it and adds how connector configurations are written:
// Standalone writes its memory store and applies the change at once;
// Distributed writes the config topic, and every worker applies what it
// reads there to the work the group assigned it.
//
// Lock order: Worker.mu, then a task runner's locks, then the stores'
// locks. Task runners never take Worker.mu.
type Worker struct {
	cfg      WorkerConfig
	reg      *connect.Registry
	log      *slog.Logger
	offsets  OffsetStore
	configs  ConfigStore
	statuses StatusStore
	workerID atomic.Pointer[string] // set once, replaced by Distributed.Start
	admin    *kgo.Client

	mu     sync.Mutex // guards conns, closed and every lifecycle change
	conns  map[string]*connRuntime
	closed bool
	bg     sync.WaitGroup // reconfiguration requests

	// distributed is set by Distributed: task configurations are
	// published to the config store instead of started here.
	distributed bool
}

// connRuntime is a connector's running parts; guarded by Worker.mu.
type connRuntime struct {
	name  string
	typ   connect.PluginType
	conn  connect.Connector // nil unless started
	tasks map[int]*taskRunner

	// Distributed workers only: the configuration and target state the
	// instance runs with, and what failed to start (and stays FAILED
	// until restarted or reconfigured).
	connCfg     map[string]string
	target      TargetState
	failed      bool
	failedCfg   map[string]string
	failedTasks map[int]bool
}

// newWorker returns a worker running nothing, with the stores of opts (or
// the defaults) and an admin client.
func newWorker(cfg WorkerConfig, opts Options) (*Worker, error) {
	h := &Worker{cfg: cfg, reg: opts.Registry, log: opts.Logger, offsets: opts.Offsets,
		configs: opts.Configs, statuses: opts.Statuses, conns: map[string]*connRuntime{}}
	if h.reg == nil {
		h.reg = connect.DefaultRegistry
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.configs == nil {
		h.configs = NewMemoryConfigStore()
	}
	if h.statuses == nil {
		h.statuses = NewMemoryStatusStore()
	}
	id := opts.WorkerID
	if id == "" {
		id = defaultWorkerID(cfg)
	}
	h.workerID.Store(&id)
	for _, c := range []string{cfg.KeyConverter, cfg.ValueConverter} {
		if _, err := h.reg.NewConverter(c); err != nil {
			return nil, fmt.Errorf("connect: worker converter: %w", err)
		}
	}
	if h.offsets == nil {
		if cfg.OffsetFile != "" {
			fs, err := OpenFileOffsetStore(cfg.OffsetFile)
			if err != nil {
				return nil, err
			}
			h.offsets = fs
		} else {
			h.offsets = NewMemoryOffsetStore()
		}
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ClientID(cfg.ClientID+"-admin"))
	if err != nil {
		return nil, fmt.Errorf("connect: admin client: %w", err)
	}
	h.admin = admin
	return h, nil
}

func defaultWorkerID(cfg WorkerConfig) string {
	host, port := "127.0.0.1", "8083"
	if len(cfg.Listeners) > 0 {
		hp := cfg.Listeners[0]
		if i := strings.Index(hp, "://"); i >= 0 {
			hp = hp[i+3:]
		}
		if i := strings.LastIndex(hp, ":"); i >= 0 {
			if h := hp[:i]; h != "" && h != "0.0.0.0" && h != "[::]" {
				host = h
			}
			port = hp[i+1:]
		}
	}
	if cfg.AdvertisedHost != "" {
		host = cfg.AdvertisedHost
	}
	if cfg.AdvertisedPort > 0 {
		port = fmt.Sprint(cfg.AdvertisedPort)
	}
	return host + ":" + port
}

// Close stops every connector and task (each sink flushes and commits,
// each source commits its offsets) and releases the stores. It returns
// when everything the herder started has ended.
func (h *Worker) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for _, name := range slices.Sorted(maps.Keys(h.conns)) {
		h.stopConnectorLocked(h.conns[name])
	}
	h.mu.Unlock()
	h.bg.Wait()
	h.admin.Close()
	if err := h.offsets.Close(); err != nil {
		return fmt.Errorf("connect: close offsets: %w", err)
	}
	return nil
}

// WorkerID implements Herder.
func (h *Worker) WorkerID() string { return *h.workerID.Load() }

// ClusterID implements Herder.
func (h *Worker) ClusterID(ctx context.Context) (string, error) {
	md, err := kadm.NewClient(h.admin).Metadata(ctx)
	if err != nil {
		return "", fmt.Errorf("connect: cluster metadata: %w", err)
	}
	return md.Cluster, nil
}

// Connectors implements Herder.
func (h *Worker) Connectors() []string { return h.configs.Connectors(context.Background()) }

func (h *Worker) notFound(name string) error {
	return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
}

// ConnectorInfo implements Herder.
func (h *Worker) ConnectorInfo(name string) (ConnectorInfo, error) {
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		return ConnectorInfo{}, h.notFound(name)
	}
	info := ConnectorInfo{Name: name, Config: st.Config, Tasks: []TaskID{}, Type: h.pluginType(st.Config)}
	for i := range st.Tasks {
		info.Tasks = append(info.Tasks, TaskID{Connector: name, Task: i})
	}
	return info, nil
}

func (h *Worker) pluginType(cfg map[string]string) connect.PluginType {
	p, err := h.reg.Lookup(cfg[ConnectorClassConfig])
	if err != nil {
		return "unknown"
	}
	return p.Type
}

// ConnectorConfig implements Herder.
func (h *Worker) ConnectorConfig(name string) (map[string]string, error) {
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		return nil, h.notFound(name)
	}
	return st.Config, nil
}

var validName = regexp.MustCompile(`^[^\x00-\x1f/\\]+$`)

// validConnectorConfig checks a connector name and configuration and
// returns the configuration with its name set.
func (h *Worker) validConnectorConfig(ctx context.Context, name string, config map[string]string) (string, map[string]string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !validName.MatchString(name) {
		return "", nil, fmt.Errorf("Connector name %q is invalid: %w", name, ErrBadRequest)
	}
	config = maps.Clone(config)
	if config == nil {
		config = map[string]string{}
	}
	if n, ok := config[NameConfig]; ok && n != name {
		return "", nil, fmt.Errorf("Connector name configuration (%s) doesn't match connector name in the URL (%s): %w", n, name, ErrBadRequest)
	}
	config[NameConfig] = name
	infos, err := h.ValidateConfig(ctx, config)
	if err != nil {
		return "", nil, err
	}
	if infos.ErrorCount > 0 {
		vals := make([]connect.ConfigValue, len(infos.Configs))
		for i, c := range infos.Configs {
			vals[i] = c.Value
		}
		return "", nil, &connect.ValidationError{Plugin: infos.Name, Values: vals}
	}
	return name, config, nil
}

// ConnectorStatus implements Herder.
func (h *Worker) ConnectorStatus(name string) (ConnectorStatus, error) {
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		return ConnectorStatus{}, h.notFound(name)
	}
	cs, ok := h.statuses.Connector(context.Background(), name)
	if !ok {
		cs = Status{State: StateUnassigned, WorkerID: h.WorkerID()}
	}
	out := ConnectorStatus{Name: name, Connector: cs, Type: h.pluginType(st.Config), Tasks: []TaskStatus{}}
	tasks := h.statuses.Tasks(context.Background(), name)
	for i := range st.Tasks {
		ts, ok := tasks[i]
		if !ok {
			ts = Status{State: StateUnassigned, WorkerID: h.WorkerID()}
		}
		out.Tasks = append(out.Tasks, TaskStatus{ID: i, Status: ts})
	}
	return out, nil
}

// TaskStatus implements Herder.
func (h *Worker) TaskStatus(id TaskID) (TaskStatus, error) {
	cs, err := h.ConnectorStatus(id.Connector)
	if err != nil {
		return TaskStatus{}, err
	}
	if id.Task < 0 || id.Task >= len(cs.Tasks) {
		return TaskStatus{}, fmt.Errorf("Task %s-%d not found: %w", id.Connector, id.Task, ErrNotFound)
	}
	return cs.Tasks[id.Task], nil
}

// TaskConfigs implements Herder.
func (h *Worker) TaskConfigs(name string) ([]TaskConfig, error) {
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		return nil, h.notFound(name)
	}
	out := make([]TaskConfig, len(st.Tasks))
	for i, t := range st.Tasks {
		out[i] = TaskConfig{ID: TaskID{Connector: name, Task: i}, Config: t}
	}
	return out, nil
}

// ConnectorTopics implements Herder.
func (h *Worker) ConnectorTopics(name string) ([]string, error) {
	if _, ok := h.configs.Connector(context.Background(), name); !ok {
		return nil, h.notFound(name)
	}
	return h.statuses.Topics(context.Background(), name), nil
}

// ResetConnectorTopics implements Herder.
func (h *Worker) ResetConnectorTopics(name string) error {
	if _, ok := h.configs.Connector(context.Background(), name); !ok {
		return h.notFound(name)
	}
	return h.statuses.ResetTopics(context.Background(), name)
}

// Plugins implements Herder.
func (h *Worker) Plugins(all bool) []connect.PluginInfo {
	var out []connect.PluginInfo
	for _, p := range h.reg.Plugins() {
		if all || p.Type == connect.PluginSource || p.Type == connect.PluginSink {
			out = append(out, p)
		}
	}
	return out
}

// PluginConfig implements Herder.
func (h *Worker) PluginConfig(plugin string) ([]connect.ConfigKey, error) {
	c, err := h.reg.NewConnector(plugin)
	if err != nil {
		return nil, fmt.Errorf("Unknown plugin %s: %w", plugin, ErrNotFound)
	}
	return c.Config().Keys(), nil
}

// ValidateConfig implements Herder.
func (h *Worker) ValidateConfig(_ context.Context, config map[string]string) (ConfigInfos, error) {
	class := strings.TrimSpace(config[ConnectorClassConfig])
	if class == "" {
		return ConfigInfos{}, fmt.Errorf("Connector config %v contains no connector type: %w", config, ErrBadRequest)
	}
	p, err := h.reg.Lookup(class)
	if err != nil || (p.Type != connect.PluginSource && p.Type != connect.PluginSink) {
		var names []string
		for _, pl := range h.Plugins(false) {
			names = append(names, pl.Class)
		}
		return ConfigInfos{}, fmt.Errorf("Failed to find any class that implements Connector and which name matches %s, available connectors are: %s: %w",
			class, strings.Join(names, ", "), ErrBadRequest)
	}
	conn, err := h.reg.NewConnector(class)
	if err != nil {
		return ConfigInfos{}, fmt.Errorf("connect: %w", err)
	}
	def := connectorDef(h.reg, p.Type).Merge(conn.Config()).Merge(transformsDef(h.reg, config))
	vals := def.Validate(config)
	if p.Type == connect.PluginSink {
		validateSinkTopics(config, vals)
	}
	if v, ok := conn.(connect.ConfigValidator); ok {
		vals = v.ValidateConfig(config, vals)
	}
	infos := ConfigInfos{Name: p.Class, ErrorCount: connect.ErrorCount(vals), Groups: []string{}}
	seen := map[string]bool{}
	for _, cv := range vals {
		k, _ := def.Key(cv.Name)
		if k.Group != "" && !seen[k.Group] {
			seen[k.Group] = true
			infos.Groups = append(infos.Groups, k.Group)
		}
		infos.Configs = append(infos.Configs, ConfigInfo{Definition: k, Value: cv})
	}
	return infos, nil
}

func validateSinkTopics(config map[string]string, vals []connect.ConfigValue) {
	topics := connect.SplitList(config[TopicsConfig])
	re := strings.TrimSpace(config[TopicsRegexConfig])
	addErr := func(name, msg string) {
		for i := range vals {
			if vals[i].Name == name {
				vals[i].Errors = append(vals[i].Errors, msg)
			}
		}
	}
	switch {
	case len(topics) == 0 && re == "":
		addErr(TopicsConfig, sinkTopicsMissingError)
		addErr(TopicsRegexConfig, sinkTopicsMissingError)
	case len(topics) > 0 && re != "":
		msg := "topics and topics.regex are mutually exclusive options, but both are set."
		addErr(TopicsConfig, msg)
		addErr(TopicsRegexConfig, msg)
	case re != "":
		if _, err := regexp.Compile(re); err != nil {
			addErr(TopicsRegexConfig, fmt.Sprintf("Invalid value %s for configuration topics.regex: %v", re, err))
		}
	}
	if dlq := strings.TrimSpace(config[DLQTopicNameConfig]); dlq != "" {
		if slices.Contains(topics, dlq) {
			addErr(DLQTopicNameConfig, fmt.Sprintf("The DLQ topic '%s' may not be included in the list of topics ('%s=%s') consumed by the connector", dlq, TopicsConfig, config[TopicsConfig]))
		} else if rx, err := regexp.Compile("^(?:" + re + ")$"); re != "" && err == nil && rx.MatchString(dlq) {
			addErr(DLQTopicNameConfig, fmt.Sprintf("The DLQ topic '%s' may not be included in the regex matching the topics ('%s=%s') consumed by the connector", dlq, TopicsRegexConfig, re))
		}
	}
}
