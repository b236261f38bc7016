package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
)

// State is the state of a connector or task, as the REST API reports it.
type State string

// Connector and task states.
const (
	StateUnassigned State = "UNASSIGNED"
	StateRunning    State = "RUNNING"
	StatePaused     State = "PAUSED"
	StateStopped    State = "STOPPED"
	StateFailed     State = "FAILED"
	StateRestarting State = "RESTARTING"
)

// TargetState is the state a user asked a connector to be in.
type TargetState string

// Target states.
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// TaskID names a task of a connector.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// Status is the status of a connector or task.
type Status struct {
	State    State
	Trace    string
	WorkerID string
}

// ConnectorConfigState is what a ConfigStore holds for one connector.
type ConnectorConfigState struct {
	Config map[string]string
	Target TargetState
	Tasks  []map[string]string
}

// ConfigStore keeps connector configurations, their target states and task
// configurations. Standalone workers keep them in memory; distributed
// workers in the connect-configs topic.
type ConfigStore interface {
	PutConnector(ctx context.Context, name string, config map[string]string, target TargetState) error
	RemoveConnector(ctx context.Context, name string) error
	PutTaskConfigs(ctx context.Context, name string, tasks []map[string]string) error
	PutTargetState(ctx context.Context, name string, target TargetState) error
	// Connector returns a copy of a connector's state.
	Connector(ctx context.Context, name string) (ConnectorConfigState, bool)
	// Connectors lists connector names, sorted.
	Connectors(ctx context.Context) []string
}

// StatusStore keeps connector and task statuses and the topics each
// connector has used. Standalone workers keep them in memory; distributed
// workers in the connect-status topic.
type StatusStore interface {
	PutConnector(ctx context.Context, name string, s Status) error
	PutTask(ctx context.Context, id TaskID, s Status) error
	Connector(ctx context.Context, name string) (Status, bool)
	Tasks(ctx context.Context, name string) map[int]Status
	// RemoveTasks forgets the statuses of a connector's tasks.
	RemoveTasks(ctx context.Context, name string) error
	// Remove forgets a connector, its tasks and topics.
	Remove(ctx context.Context, name string) error
	AddTopic(ctx context.Context, name, topic string) error
	Topics(ctx context.Context, name string) []string
	ResetTopics(ctx context.Context, name string) error
}

// MemoryConfigStore is a ConfigStore in memory.
type MemoryConfigStore struct {
	mu sync.Mutex
	m  map[string]*ConnectorConfigState
}

// NewMemoryConfigStore returns an empty store.
func NewMemoryConfigStore() *MemoryConfigStore {
	return &MemoryConfigStore{m: map[string]*ConnectorConfigState{}}
}

// PutConnector implements ConfigStore.
func (s *MemoryConfigStore) PutConnector(ctx context.Context, name string, config map[string]string, target TargetState) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[name]
	if !ok {
		c = &ConnectorConfigState{}
		s.m[name] = c
	}
	c.Config, c.Target = maps.Clone(config), target
	return nil
}

// RemoveConnector implements ConfigStore.
func (s *MemoryConfigStore) RemoveConnector(ctx context.Context, name string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

// PutTaskConfigs implements ConfigStore.
func (s *MemoryConfigStore) PutTaskConfigs(ctx context.Context, name string, tasks []map[string]string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[name]; ok {
		c.Tasks = cloneTasks(tasks)
	}
	return nil
}

// PutTargetState implements ConfigStore.
func (s *MemoryConfigStore) PutTargetState(ctx context.Context, name string, target TargetState) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[name]; ok {
		c.Target = target
	}
	return nil
}

// Connector implements ConfigStore.
func (s *MemoryConfigStore) Connector(_ context.Context, name string) (ConnectorConfigState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[name]
	if !ok {
		return ConnectorConfigState{}, false
	}
	return ConnectorConfigState{Config: maps.Clone(c.Config), Target: c.Target, Tasks: cloneTasks(c.Tasks)}, true
}

// Connectors implements ConfigStore.
func (s *MemoryConfigStore) Connectors(_ context.Context) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m))
}

func cloneTasks(ts []map[string]string) []map[string]string {
	out := make([]map[string]string, len(ts))
	for i, t := range ts {
		out[i] = maps.Clone(t)
	}
	return out
}

// MemoryStatusStore is a StatusStore in memory.
type MemoryStatusStore struct {
	mu         sync.Mutex
	connectors map[string]Status
	tasks      map[string]map[int]Status
	topics     map[string]map[string]bool
}

// NewMemoryStatusStore returns an empty store.
func NewMemoryStatusStore() *MemoryStatusStore {
	return &MemoryStatusStore{connectors: map[string]Status{}, tasks: map[string]map[int]Status{}, topics: map[string]map[string]bool{}}
}

// PutConnector implements StatusStore.
func (s *MemoryStatusStore) PutConnector(ctx context.Context, name string, st Status) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectors[name] = st
	return nil
}

// PutTask implements StatusStore.
func (s *MemoryStatusStore) PutTask(ctx context.Context, id TaskID, st Status) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks[id.Connector] == nil {
		s.tasks[id.Connector] = map[int]Status{}
	}
	s.tasks[id.Connector][id.Task] = st
	return nil
}

// Connector implements StatusStore.
func (s *MemoryStatusStore) Connector(_ context.Context, name string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.connectors[name]
	return st, ok
}

// Tasks implements StatusStore.
func (s *MemoryStatusStore) Tasks(_ context.Context, name string) map[int]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.tasks[name])
}

// RemoveTasks implements StatusStore.
func (s *MemoryStatusStore) RemoveTasks(ctx context.Context, name string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tasks, name)
	return nil
}

// Remove implements StatusStore.
func (s *MemoryStatusStore) Remove(ctx context.Context, name string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.connectors, name)
	delete(s.tasks, name)
	delete(s.topics, name)
	return nil
}

// AddTopic implements StatusStore.
func (s *MemoryStatusStore) AddTopic(ctx context.Context, name, topic string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[name] == nil {
		s.topics[name] = map[string]bool{}
	}
	s.topics[name][topic] = true
	return nil
}

// Topics implements StatusStore.
func (s *MemoryStatusStore) Topics(_ context.Context, name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.topics[name]))
	for t := range s.topics[name] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ResetTopics implements StatusStore.
func (s *MemoryStatusStore) ResetTopics(ctx context.Context, name string) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, name)
	return nil
}

// removeTask forgets one task's status (a tombstone in the status topic).
func (s *MemoryStatusStore) removeTask(id TaskID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tasks[id.Connector], id.Task)
	if len(s.tasks[id.Connector]) == 0 {
		delete(s.tasks, id.Connector)
	}
}

// removeTopic forgets one topic of a connector.
func (s *MemoryStatusStore) removeTopic(_ context.Context, name, topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics[name], topic)
	return nil
}

// writable returns the error a store write reports, before changing
// anything, when its context is done: one that wraps ErrStoreWrite and
// ctx.Err().
func writable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreWrite, err)
	}
	return nil
}

// ErrStoreWrite is wrapped by the error of a store write that did not
// happen, together with its cause (the context's error, or Kafka's).
var ErrStoreWrite = errors.New("connect: store write failed")
