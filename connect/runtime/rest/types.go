package rest

import (
	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/runtime"
)

// The JSON shapes of Kafka Connect's REST API.

// ErrorMessage is the body of every error response.
type ErrorMessage struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// ServerInfo is the body of GET /.
type ServerInfo struct {
	Version        string `json:"version"`
	Commit         string `json:"commit"`
	KafkaClusterID string `json:"kafka_cluster_id"`
}

// CreateConnectorRequest is the body of POST /connectors.
type CreateConnectorRequest struct {
	Name         string            `json:"name"`
	Config       map[string]string `json:"config"`
	InitialState string            `json:"initial_state,omitempty"`
}

// ConnectorInfo is a connector's name, config, tasks and type.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []runtime.TaskID  `json:"tasks"`
	Type   string            `json:"type"`
}

// StateInfo is the state of a connector.
type StateInfo struct {
	State    string `json:"state"`
	Trace    string `json:"trace,omitempty"`
	WorkerID string `json:"worker_id"`
}

// TaskState is the state of one task.
type TaskState struct {
	ID       int    `json:"id"`
	State    string `json:"state"`
	Trace    string `json:"trace,omitempty"`
	WorkerID string `json:"worker_id"`
}

// ConnectorStateInfo is the body of GET /connectors/{name}/status.
type ConnectorStateInfo struct {
	Name      string      `json:"name"`
	Connector StateInfo   `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
	Type      string      `json:"type"`
}

// TaskInfo is one element of GET /connectors/{name}/tasks.
type TaskInfo struct {
	ID     runtime.TaskID    `json:"id"`
	Config map[string]string `json:"config"`
}

// PluginInfo is one element of GET /connector-plugins.
type PluginInfo struct {
	Class   string `json:"class"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

// ConfigKeyInfo describes one configuration key.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         *string  `json:"group"`
	OrderInGroup  int      `json:"order_in_group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is one validated value.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// ConfigInfo pairs a definition with a value.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigInfos is the body of PUT /connector-plugins/{plugin}/config/validate.
type ConfigInfos struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ActiveTopics is the body of GET /connectors/{name}/topics.
type ActiveTopics map[string]struct {
	Topics []string `json:"topics"`
}

func connectorInfo(i runtime.ConnectorInfo) ConnectorInfo {
	return ConnectorInfo{Name: i.Name, Config: i.Config, Tasks: i.Tasks, Type: string(i.Type)}
}

func stateInfo(s runtime.ConnectorStatus) ConnectorStateInfo {
	out := ConnectorStateInfo{Name: s.Name, Type: string(s.Type), Tasks: []TaskState{},
		Connector: StateInfo{State: string(s.Connector.State), Trace: s.Connector.Trace, WorkerID: s.Connector.WorkerID}}
	for _, t := range s.Tasks {
		out.Tasks = append(out.Tasks, taskState(t))
	}
	return out
}

func taskState(t runtime.TaskStatus) TaskState {
	return TaskState{ID: t.ID, State: string(t.State), Trace: t.Trace, WorkerID: t.WorkerID}
}

func configKeyInfo(k connect.ConfigKey) ConfigKeyInfo {
	ki := ConfigKeyInfo{Name: k.Name, Type: string(k.Type), Required: k.Required, Importance: string(k.Importance),
		Documentation: k.Doc, OrderInGroup: k.OrderInGroup, Width: k.Width, DisplayName: k.DisplayName, Dependents: k.Dependents}
	if ki.Dependents == nil {
		ki.Dependents = []string{}
	}
	if k.OrderInGroup == 0 {
		ki.OrderInGroup = -1
	}
	if !k.Required {
		d := k.Default
		ki.DefaultValue = &d
	}
	if k.Group != "" {
		g := k.Group
		ki.Group = &g
	}
	return ki
}

func configInfos(c runtime.ConfigInfos) ConfigInfos {
	out := ConfigInfos{Name: c.Name, ErrorCount: c.ErrorCount, Groups: c.Groups, Configs: []ConfigInfo{}}
	for _, ci := range c.Configs {
		v := ConfigValueInfo{Name: ci.Value.Name, Value: ci.Value.Value, RecommendedValues: ci.Value.RecommendedValues,
			Errors: ci.Value.Errors, Visible: ci.Value.Visible}
		if v.RecommendedValues == nil {
			v.RecommendedValues = []string{}
		}
		if v.Errors == nil {
			v.Errors = []string{}
		}
		out.Configs = append(out.Configs, ConfigInfo{Definition: configKeyInfo(ci.Definition), Value: v})
	}
	return out
}
