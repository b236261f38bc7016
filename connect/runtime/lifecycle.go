package runtime

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/gregorhq/gregor/connect"
)

// startConnectorLocked starts a configured connector per its target state:
// the connector instance, its task configurations and its tasks. Failures
// are recorded as FAILED statuses. h.mu must be held.
func (h *Worker) startConnectorLocked(name string) {
	st, ok := h.configs.Connector(context.Background(), name)
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
		_ = h.configs.PutTaskConfigs(context.Background(), name, nil)
		_ = h.statuses.RemoveTasks(context.Background(), name)
		return
	}
	conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
	if err == nil {
		if cc, ok := conn.(connect.ContextConnector); ok {
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
func (h *Worker) startTasksLocked(rt *connRuntime) {
	st, _ := h.configs.Connector(context.Background(), rt.name)
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
	_ = h.configs.PutTaskConfigs(context.Background(), rt.name, tasks)
	_ = h.statuses.RemoveTasks(context.Background(), rt.name)
	for i := range tasks {
		h.startTaskLocked(rt, i)
	}
}

// startTaskLocked starts task i of a running connector from its stored
// configuration.
func (h *Worker) startTaskLocked(rt *connRuntime, i int) {
	st, _ := h.configs.Connector(context.Background(), rt.name)
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
func (h *Worker) stopTasksLocked(rt *connRuntime) {
	for _, i := range slices.Sorted(maps.Keys(rt.tasks)) {
		rt.tasks[i].stop()
		delete(rt.tasks, i)
	}
}

// stopConnectorLocked stops the tasks and then the connector instance.
func (h *Worker) stopConnectorLocked(rt *connRuntime) {
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

func (h *Worker) putConnStatus(name string, s Status) {
	s.WorkerID = h.WorkerID()
	_ = h.statuses.PutConnector(context.Background(), name, s)
}

func (h *Worker) putTaskStatus(id TaskID, s Status) {
	s.WorkerID = h.WorkerID()
	_ = h.statuses.PutTask(context.Background(), id, s)
}

func (h *Worker) failConnector(name string, err error) {
	h.log.Error("connector failed", "connector", name, "err", err)
	h.putConnStatus(name, Status{State: StateFailed, Trace: err.Error()})
}

// lookupLocked returns a connector's runtime, or ErrNotFound.
func (h *Worker) lookupLocked(name string) (*connRuntime, ConnectorConfigState, error) {
	st, ok := h.configs.Connector(context.Background(), name)
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

// restartConnectorInstanceLocked replaces the connector instance and, if
// the new one asks for different task configurations (or the tasks never
// started), restarts the tasks.
func (h *Worker) restartConnectorInstanceLocked(rt *connRuntime) {
	old, _ := h.configs.Connector(context.Background(), rt.name)
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

func (h *Worker) startConnectorInstanceOnlyLocked(rt *connRuntime) {
	st, _ := h.configs.Connector(context.Background(), rt.name)
	conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
	if err == nil {
		if cc, ok := conn.(connect.ContextConnector); ok {
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

// askTaskConfigsLocked asks a running connector for its task
// configurations, at most its tasks.max (at least one), and returns them
// with the connector's stored configuration state and tasks.max. A
// connector that fails (or panics) answering is failed, and ok is false.
// h.mu must be held.
func (h *Worker) askTaskConfigsLocked(rt *connRuntime) (st ConnectorConfigState, maxTasks int, tasks []map[string]string, ok bool) {
	st, _ = h.configs.Connector(context.Background(), rt.name)
	maxTasks, _ = strconv.Atoi(st.Config[TasksMaxConfig])
	err := safeCall(func() error {
		var err error
		tasks, err = rt.conn.TaskConfigs(max(maxTasks, 1))
		return err
	})
	if err != nil {
		h.failConnector(rt.name, fmt.Errorf("connector %s task configurations: %w", rt.name, err))
		return st, maxTasks, nil, false
	}
	return st, maxTasks, tasks, true
}

// reconfigureLocked asks the connector for task configurations again and
// restarts the tasks if they differ from old (or are not running).
func (h *Worker) reconfigureLocked(rt *connRuntime, old []map[string]string) {
	if h.distributed {
		// The task configurations go to the config topic; the rebalance
		// that follows restarts the tasks wherever they are assigned.
		h.publishTaskConfigsLocked(rt)
		return
	}
	_, _, tasks, ok := h.askTaskConfigsLocked(rt)
	if !ok {
		return
	}
	if reflect.DeepEqual(tasks, old) && len(rt.tasks) == len(old) {
		return
	}
	h.stopTasksLocked(rt)
	h.startTasksLocked(rt)
}

// connContext is the ConnectorContext of a running connector.
type connContext struct {
	h    *Worker
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
		st, _ := h.configs.Connector(context.Background(), c.name)
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
