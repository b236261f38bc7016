package runtime_test

import "github.com/gregorhq/gregor/connect"

// stubConnector is the plumbing the tests' connectors share: no settings,
// one task with an empty configuration. Embedders add NewTask.
type stubConnector struct{}

func (stubConnector) Version() string               { return "1" }
func (stubConnector) Config() *connect.ConfigDef    { return connect.NewConfigDef() }
func (stubConnector) Start(map[string]string) error { return nil }
func (stubConnector) Stop() error                   { return nil }
func (stubConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{{}}, nil
}

// stubTask is the plumbing the tests' tasks share. Embedders add
// Initialize and Poll, or Put and Flush.
type stubTask struct{}

func (stubTask) Version() string               { return "1" }
func (stubTask) Start(map[string]string) error { return nil }
func (stubTask) Stop() error                   { return nil }
