package connect

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
)

// startConnectorLocked starts a configured connector per its target state:
// the connector instance, its task configurations and its tasks. Failures
// are recorded as FAILED statuses. h.mu must be held.
func (h *Standalone) startConnectorLocked(name string) {
	st, ok := h.configs.Connector(name)
	if !ok {
		return
	}
	rt := h.conns[name]
	if rt == nil {
		rt = &connRuntime{name: name, tasks: map[int]*taskRunner{}}
		h.conns[name] = rt
	}
	rt.typ = h.pluginType(st.Config)
	if st.Target == TargetStopped {
		h.putConnStatus(name, Status{State: StateStopped})
		_ = h.configs.PutTaskConfigs(name, nil)
		_ = h.statuses.RemoveTasks(name)
		return
	}
	conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
	if err == nil {
		if cc, ok := conn.(ContextConnector); ok {
			cc.Initialize(&connContext{h: h, name: name})
		}
		err = safeCall(func() error { return conn.Start(maps.Clone(st.Config)) })
	}
	if err != nil {
		h.failConnector(name, fmt.Errorf("connector %s failed to start: %w", name, err))
		return
	}
	rt.conn = conn
	h.log.Info("connector started", "connector", name, "class", st.Config[ConnectorClassConfig])
	if st.Target == TargetPaused {
		h.putConnStatus(name, Status{State: StatePaused})
	} else {
		h.putConnStatus(name, Status{State: StateRunning})
	}
	h.startTasksLocked(rt)
}

// startTasksLocked asks the running connector for task configurations,
// stores them and starts the tasks.
func (h *Standalone) startTasksLocked(rt *connRuntime) {
	st, _ := h.configs.Connector(rt.name)
	maxTasks, _ := strconv.Atoi(st.Config[TasksMaxConfig])
	if maxTasks < 1 {
		maxTasks = 1
	}
	var tasks []map[string]string
	err := safeCall(func() error {
		var err error
		tasks, err = rt.conn.TaskConfigs(maxTasks)
		return err
	})
	if err == nil && len(tasks) > maxTasks {
		err = fmt.Errorf("connector %s returned %d task configurations, more than tasks.max=%d", rt.name, len(tasks), maxTasks)
	}
	if err != nil {
		h.failConnector(rt.name, fmt.Errorf("connector %s task configurations: %w", rt.name, err))
		return
	}
	_ = h.configs.PutTaskConfigs(rt.name, tasks)
	_ = h.statuses.RemoveTasks(rt.name)
	for i := range tasks {
		h.startTaskLocked(rt, i)
	}
}

// startTaskLocked starts task i of a running connector from its stored
// configuration.
func (h *Standalone) startTaskLocked(rt *connRuntime, i int) {
	st, _ := h.configs.Connector(rt.name)
	id := TaskID{Connector: rt.name, Task: i}
	if rt.conn == nil || i >= len(st.Tasks) {
		return
	}
	r, err := h.newTaskRunner(rt, id, st.Config, st.Tasks[i])
	if err != nil {
		h.putTaskStatus(id, Status{State: StateFailed, Trace: err.Error()})
		return
	}
	rt.tasks[i] = r
	r.start(st.Target == TargetPaused)
}

// stopTasksLocked stops every task of rt and waits for them.
func (h *Standalone) stopTasksLocked(rt *connRuntime) {
	for _, i := range slices.Sorted(maps.Keys(rt.tasks)) {
		rt.tasks[i].stop()
		delete(rt.tasks, i)
	}
}

// stopConnectorLocked stops the tasks and then the connector instance.
func (h *Standalone) stopConnectorLocked(rt *connRuntime) {
	if rt == nil {
		return
	}
	h.stopTasksLocked(rt)
	if rt.conn != nil {
		if err := safeCall(rt.conn.Stop); err != nil {
			h.log.Warn("connector stop failed", "connector", rt.name, "err", err)
		}
		rt.conn = nil
		h.log.Info("connector stopped", "connector", rt.name)
	}
}

func (h *Standalone) putConnStatus(name string, s Status) {
	s.WorkerID = h.WorkerID()
	_ = h.statuses.PutConnector(name, s)
}

func (h *Standalone) putTaskStatus(id TaskID, s Status) {
	s.WorkerID = h.WorkerID()
	_ = h.statuses.PutTask(id, s)
}

func (h *Standalone) failConnector(name string, err error) {
	h.log.Error("connector failed", "connector", name, "err", err)
	h.putConnStatus(name, Status{State: StateFailed, Trace: err.Error()})
}

// lookupLocked returns a connector's runtime, or ErrNotFound.
func (h *Standalone) lookupLocked(name string) (*connRuntime, ConnectorConfigState, error) {
	st, ok := h.configs.Connector(name)
	if !ok {
		return nil, st, h.notFound(name)
	}
	rt := h.conns[name]
	if rt == nil {
		rt = &connRuntime{name: name, tasks: map[int]*taskRunner{}}
		h.conns[name] = rt
	}
	return rt, st, nil
}

// RestartConnector implements Herder.
func (h *Standalone) RestartConnector(_ context.Context, name string, req RestartRequest) (*ConnectorStatus, error) {
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

// restartConnectorInstanceLocked replaces the connector instance and, if
// the new one asks for different task configurations (or the tasks never
// started), restarts the tasks.
func (h *Standalone) restartConnectorInstanceLocked(rt *connRuntime) {
	old, _ := h.configs.Connector(rt.name)
	if rt.conn != nil {
		if err := safeCall(rt.conn.Stop); err != nil {
			h.log.Warn("connector stop failed", "connector", rt.name, "err", err)
		}
		rt.conn = nil
	}
	tasks := rt.tasks
	rt.tasks = map[int]*taskRunner{}
	// Start the instance without tasks, then reconcile.
	h.startConnectorInstanceOnlyLocked(rt)
	rt.tasks = tasks
	if rt.conn == nil {
		return
	}
	h.reconfigureLocked(rt, old.Tasks)
}

func (h *Standalone) startConnectorInstanceOnlyLocked(rt *connRuntime) {
	st, _ := h.configs.Connector(rt.name)
	conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
	if err == nil {
		if cc, ok := conn.(ContextConnector); ok {
			cc.Initialize(&connContext{h: h, name: rt.name})
		}
		err = safeCall(func() error { return conn.Start(maps.Clone(st.Config)) })
	}
	if err != nil {
		h.failConnector(rt.name, fmt.Errorf("connector %s failed to start: %w", rt.name, err))
		return
	}
	rt.conn = conn
	state := StateRunning
	if st.Target == TargetPaused {
		state = StatePaused
	}
	h.putConnStatus(rt.name, Status{State: state})
}

// reconfigureLocked asks the connector for task configurations again and
// restarts the tasks if they differ from old (or are not running).
func (h *Standalone) reconfigureLocked(rt *connRuntime, old []map[string]string) {
	if h.distributed {
		// The task configurations go to the config topic; the rebalance
		// that follows restarts the tasks wherever they are assigned.
		h.publishTaskConfigsLocked(rt)
		return
	}
	st, _ := h.configs.Connector(rt.name)
	maxTasks, _ := strconv.Atoi(st.Config[TasksMaxConfig])
	var tasks []map[string]string
	err := safeCall(func() error {
		var err error
		tasks, err = rt.conn.TaskConfigs(max(maxTasks, 1))
		return err
	})
	if err != nil {
		h.failConnector(rt.name, fmt.Errorf("connector %s task configurations: %w", rt.name, err))
		return
	}
	if reflect.DeepEqual(tasks, old) && len(rt.tasks) == len(old) {
		return
	}
	h.stopTasksLocked(rt)
	h.startTasksLocked(rt)
}

// RestartTask implements Herder.
func (h *Standalone) RestartTask(_ context.Context, id TaskID) error {
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
func (h *Standalone) PauseConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	if st.Target == TargetStopped {
		return nil // Kafka: a stopped connector stays stopped until resumed
	}
	_ = h.configs.PutTargetState(name, TargetPaused)
	if rt.conn != nil {
		h.putConnStatus(name, Status{State: StatePaused})
	}
	for _, r := range rt.tasks {
		r.setPaused(true)
	}
	return nil
}

// ResumeConnector implements Herder.
func (h *Standalone) ResumeConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, st, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	_ = h.configs.PutTargetState(name, TargetStarted)
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
func (h *Standalone) StopConnector(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rt, _, err := h.lookupLocked(name)
	if err != nil {
		return err
	}
	h.stopConnectorLocked(rt)
	_ = h.configs.PutTargetState(name, TargetStopped)
	_ = h.configs.PutTaskConfigs(name, nil)
	_ = h.statuses.RemoveTasks(name)
	h.putConnStatus(name, Status{State: StateStopped})
	return nil
}

// connContext is the ConnectorContext of a running connector.
type connContext struct {
	h    *Standalone
	name string
}

// RequestTaskReconfiguration implements ConnectorContext.
func (c *connContext) RequestTaskReconfiguration() {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		h.mu.Lock()
		defer h.mu.Unlock()
		rt := h.conns[c.name]
		if h.closed || rt == nil || rt.conn == nil {
			return
		}
		st, _ := h.configs.Connector(c.name)
		h.reconfigureLocked(rt, st.Tasks)
	}()
}

// RaiseError implements ConnectorContext.
func (c *connContext) RaiseError(err error) { c.h.failConnector(c.name, err) }

// safeCall runs f, turning a panic into an error with its stack.
func safeCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return f()
}
