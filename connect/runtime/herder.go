package runtime

import (
	"context"
	"errors"
	"github.com/gregorhq/gregor/connect"
)

// Errors a Herder returns (wrapped); the REST API maps them to HTTP status
// codes.
var (
	// ErrNotFound: no such connector, task or plugin (404).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a connector of that name exists (409).
	ErrAlreadyExists = errors.New("already exists")
	// ErrBadRequest: the request itself is wrong (400).
	ErrBadRequest = errors.New("bad request")
)

// ConnectorInfo is a connector's name, configuration, tasks and type.
type ConnectorInfo struct {
	Name   string
	Config map[string]string
	Tasks  []TaskID
	Type   connect.PluginType
}

// ConnectorStatus is the state of a connector and its tasks.
type ConnectorStatus struct {
	Name      string
	Connector Status
	Tasks     []TaskStatus
	Type      connect.PluginType
}

// TaskStatus is the state of one task.
type TaskStatus struct {
	ID int
	Status
}

// TaskConfig is a task's ID and configuration.
type TaskConfig struct {
	ID     TaskID
	Config map[string]string
}

// ConfigInfo pairs a configuration key's definition with its validated
// value.
type ConfigInfo struct {
	Definition connect.ConfigKey
	Value      connect.ConfigValue
}

// ConfigInfos is the result of validating a connector configuration.
type ConfigInfos struct {
	Name       string
	ErrorCount int
	Groups     []string
	Configs    []ConfigInfo
}

// RestartRequest says what a connector restart covers.
type RestartRequest struct {
	IncludeTasks bool
	OnlyFailed   bool
}

// Herder manages connectors and their tasks; the REST API is a thin layer
// over it. Standalone implements it for one worker, Distributed for a
// group of workers coordinating through Kafka; both share a Worker.
type Herder interface {
	// WorkerID identifies this worker in statuses (host:port).
	WorkerID() string
	// ClusterID returns the Kafka cluster's ID.
	ClusterID(ctx context.Context) (string, error)
	Connectors() []string
	ConnectorInfo(name string) (ConnectorInfo, error)
	ConnectorConfig(name string) (map[string]string, error)
	// PutConnectorConfig creates or (if allowReplace) replaces a
	// connector after validating config; created reports which.
	PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (info ConnectorInfo, created bool, err error)
	// PatchConnectorConfig merges patch into the configuration; a nil
	// value removes the key.
	PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error)
	DeleteConnector(ctx context.Context, name string) error
	ConnectorStatus(name string) (ConnectorStatus, error)
	TaskStatus(id TaskID) (TaskStatus, error)
	TaskConfigs(name string) ([]TaskConfig, error)
	// RestartConnector restarts a connector (and, per req, its tasks). It
	// returns the status with the restarting parts marked RESTARTING, or
	// (nil, nil) for a plain connector restart.
	RestartConnector(ctx context.Context, name string, req RestartRequest) (*ConnectorStatus, error)
	RestartTask(ctx context.Context, id TaskID) error
	PauseConnector(ctx context.Context, name string) error
	ResumeConnector(ctx context.Context, name string) error
	StopConnector(ctx context.Context, name string) error
	ConnectorTopics(name string) ([]string, error)
	ResetConnectorTopics(name string) error
	// ConnectorOffsets returns a connector's committed offsets (KIP-875).
	ConnectorOffsets(ctx context.Context, name string) ([]ConnectorOffset, error)
	// AlterConnectorOffsets changes (or, for a nil Offset, removes) the
	// offsets of a STOPPED connector and returns a message for the user.
	AlterConnectorOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (string, error)
	// ResetConnectorOffsets removes every offset of a STOPPED connector.
	ResetConnectorOffsets(ctx context.Context, name string) (string, error)
	// Plugins lists the plugins (connectors only unless all).
	Plugins(all bool) []connect.PluginInfo
	// PluginConfig returns a connector plugin's configuration keys.
	PluginConfig(plugin string) ([]connect.ConfigKey, error)
	// ValidateConfig validates a connector configuration.
	ValidateConfig(ctx context.Context, config map[string]string) (ConfigInfos, error)
}
