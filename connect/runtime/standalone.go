package runtime

import (
	"context"
	"fmt"
	"slices"
)

// Standalone is a herder that runs every connector and task in this
// process, with offsets in a file: Kafka Connect's standalone mode.
// Configuration writes are applied at once, under Worker.mu.
type Standalone struct {
	*Worker
}

// NewStandalone returns a herder with no connectors; add them with
// PutConnectorConfig and stop everything with Close.
func NewStandalone(cfg WorkerConfig, opts Options) (*Standalone, error) {
	w, err := newWorker(cfg, opts)
	if err != nil {
		return nil, err
	}
	return &Standalone{Worker: w}, nil
}

// PutConnectorConfig implements Herder.
func (h *Standalone) PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error) {
	name, config, err := h.validConnectorConfig(ctx, name, config)
	if err != nil {
		return ConnectorInfo{}, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ConnectorInfo{}, false, fmt.Errorf("connect: worker is shutting down: %w", ErrBadRequest)
	}
	old, exists := h.configs.Connector(ctx, name)
	target, err := putTarget(name, old, exists, allowReplace, initial)
	if err != nil {
		return ConnectorInfo{}, false, err
	}
	if exists {
		h.stopConnectorLocked(h.conns[name])
	}
	if err := h.configs.PutConnector(ctx, name, config, target); err != nil {
		return ConnectorInfo{}, false, fmt.Errorf("connect: store config: %w", err)
	}
	h.startConnectorLocked(name)
	info, err := h.ConnectorInfo(name)
	return info, !exists, err
}

// PatchConnectorConfig implements Herder.
func (h *Standalone) PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error) {
	return patchConnectorConfig(ctx, h, name, patch)
}

// DeleteConnector implements Herder.
func (h *Standalone) DeleteConnector(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.configs.Connector(ctx, name); !ok {
		return h.notFound(name)
	}
	h.stopConnectorLocked(h.conns[name])
	delete(h.conns, name)
	if err := h.configs.RemoveConnector(ctx, name); err != nil {
		return fmt.Errorf("connect: remove config: %w", err)
	}
	if err := h.statuses.Remove(ctx, name); err != nil {
		return fmt.Errorf("connect: remove status: %w", err)
	}
	h.log.Info("connector deleted", "connector", name)
	return nil
}

// StartStored starts every connector already in the config store, per
// its target state: a worker whose ConfigStore is Kafka-backed calls it
// after NewStandalone to pick up where it (or another worker) left off.
func (h *Standalone) StartStored() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("connect: worker is shutting down: %w", ErrBadRequest)
	}
	for _, name := range h.configs.Connectors(context.Background()) {
		if _, running := h.conns[name]; !running {
			h.startConnectorLocked(name)
		}
	}
	return nil
}

// RestartConnector implements Herder.
func (h *Standalone) RestartConnector(ctx context.Context, name string, req RestartRequest) (*ConnectorStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	before, _ := h.ConnectorStatus(name)
	restartConn := !req.OnlyFailed || before.Connector.State == StateFailed
	var restartTasks []int
	if req.IncludeTasks {
		for _, t := range before.Tasks {
			if !req.OnlyFailed || t.State == StateFailed {
				restartTasks = append(restartTasks, t.ID)
			}
		}
	}
	plan := before
	plan.Tasks = slices.Clone(before.Tasks)
	if restartConn {
		plan.Connector.State = StateRestarting
	}
	for _, i := range restartTasks {
		plan.Tasks[i].State = StateRestarting
		plan.Tasks[i].Trace = ""
	}
	if restartConn {
		plan.Connector.Trace = ""
	}
	if st.Target == TargetStopped {
		return &plan, nil
	}
	for _, i := range restartTasks {
		if r := rt.tasks[i]; r != nil {
			r.stop()
			delete(rt.tasks, i)
		}
	}
	if restartConn {
		h.restartConnectorInstanceLocked(rt)
	}
	for _, i := range restartTasks {
		if rt.tasks[i] == nil {
			h.startTaskLocked(rt, i)
		}
	}
	if !req.IncludeTasks && !req.OnlyFailed {
		return nil, nil
	}
	return &plan, nil
}

// RestartTask implements Herder.
func (h *Standalone) RestartTask(ctx context.Context, id TaskID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(id.Connector)
	if err != nil {
		return err
	}
	if id.Task < 0 || id.Task >= len(st.Tasks) {
		return fmt.Errorf("Task %s-%d not found: %w", id.Connector, id.Task, ErrNotFound)
	}
	if r := rt.tasks[id.Task]; r != nil {
		r.stop()
		delete(rt.tasks, id.Task)
	}
	h.startTaskLocked(rt, id.Task)
	return nil
}

// PauseConnector implements Herder.
func (h *Standalone) PauseConnector(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	if st.Target == TargetStopped {
		return nil // Kafka: a stopped connector stays stopped until resumed
	}
	_ = h.configs.PutTargetState(ctx, name, TargetPaused)
	if rt.conn != nil {
		h.putConnStatus(name, Status{State: StatePaused})
	}
	for _, r := range rt.tasks {
		r.setPaused(true)
	}
	return nil
}

// ResumeConnector implements Herder.
func (h *Standalone) ResumeConnector(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	_ = h.configs.PutTargetState(ctx, name, TargetStarted)
	if st.Target == TargetStopped {
		h.startConnectorLocked(name)
		return nil
	}
	if rt.conn != nil {
		h.putConnStatus(name, Status{State: StateRunning})
	}
	for _, r := range rt.tasks {
		r.setPaused(false)
	}
	return nil
}

// StopConnector implements Herder: the tasks and the connector stop, and
// the task configurations are removed until the connector is resumed.
func (h *Standalone) StopConnector(ctx context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, _, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	h.stopConnectorLocked(rt)
	_ = h.configs.PutTargetState(ctx, name, TargetStopped)
	_ = h.configs.PutTaskConfigs(ctx, name, nil)
	_ = h.statuses.RemoveTasks(ctx, name)
	h.putConnStatus(name, Status{State: StateStopped})
	return nil
}
