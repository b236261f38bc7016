package runtime

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// ForwardedHeader marks a REST request one worker forwarded to another
// (to the leader, or from the leader to the worker that runs a task); the
// receiving worker serves it itself.
const ForwardedHeader = "X-Gregor-Connect-Forwarded"

// restartRequest is a connector restart read from the config topic.
type restartRequest struct {
	name string
	req  RestartRequest
}

// apply takes an assignment in: version 0 lists everything this worker
// runs, later versions what it adds and what it stops. It returns the
// delay after which the leader wants the group to rejoin (0: none).
func (d *Distributed) apply(a workerAssignment, version int16) time.Duration {
	owned := itemsOf(workSet{Connectors: a.Connectors, Tasks: a.Tasks})
	if version > 0 {
		revoked := itemsOf(a.Revoked)
		for it := range itemsOf(d.owned) {
			if !revoked[it] {
				owned[it] = true
			}
		}
	}
	d.owned = owned.workSet()
	d.configuredAt = d.configuredWork()
	d.applyRestarts()
	d.converge(d.owned)
	if version > 0 && !a.Revoked.empty() {
		// What was revoked is stopped; the next round assigns it
		// elsewhere.
		signal(d.rejoin)
	}
	if d.assignedFrom != nil && !maps.Equal(d.assignedFrom, d.configuredAt) {
		// This worker led the round, and connectors or tasks were
		// configured (or removed) after it computed the assignment: a
		// connector's task configs written during the rebalance, say.
		// Every worker has them in configuredAt now, so no later change
		// of the config topic would show the difference: assign them
		// now.
		signal(d.rejoin)
	}
	return time.Duration(a.Delay) * time.Millisecond
}

// converge makes this worker run exactly the connectors and tasks of
// owned, as the config topic describes them now: it stops what it does
// not own (or what is no longer configured), starts what it owns and does
// not run, restarts what runs with an outdated configuration and applies
// target states (paused, stopped).
func (d *Distributed) converge(owned workSet) {
	h := d.Worker
	h.mu.Lock()
	defer h.mu.Unlock()
	want := itemsOf(owned)
	for _, name := range slices.Sorted(maps.Keys(h.conns)) {
		rt := h.conns[name]
		for _, i := range slices.Sorted(maps.Keys(rt.tasks)) {
			if !want[workItem{name, i}] {
				rt.tasks[i].stop()
				delete(rt.tasks, i)
			}
		}
		if !want[workItem{name, connectorTaskID}] {
			d.stopInstanceLocked(rt)
			rt.target = ""
		}
		if len(rt.tasks) == 0 && rt.conn == nil && rt.target == "" {
			delete(h.conns, name)
		}
	}
	if h.closed {
		return
	}
	for _, it := range want.sorted() {
		if it.isConnector() {
			d.ensureConnectorLocked(it.Connector)
		} else {
			d.ensureTaskLocked(TaskID(it))
		}
	}
}

func (d *Distributed) runtimeLocked(name string, cfg map[string]string) *connRuntime {
	h := d.Worker
	rt := h.conns[name]
	if rt == nil {
		rt = &connRuntime{name: name, tasks: map[int]*taskRunner{}, typ: h.pluginType(cfg)}
		h.conns[name] = rt
	}
	return rt
}

func (d *Distributed) stopInstanceLocked(rt *connRuntime) {
	if rt.conn == nil {
		return
	}
	if err := safeCall(rt.conn.Stop); err != nil {
		d.log.Warn("connector stop failed", "connector", rt.name, "err", err)
	}
	rt.conn, rt.connCfg = nil, nil
	d.log.Info("connector stopped", "connector", rt.name)
}

// ensureConnectorLocked runs an owned connector instance per its stored
// configuration and target state. h.mu must be held.
func (d *Distributed) ensureConnectorLocked(name string) {
	h := d.Worker
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		if rt := h.conns[name]; rt != nil {
			d.stopInstanceLocked(rt) // deleted: the leader revokes it next
		}
		return
	}
	rt := d.runtimeLocked(name, st.Config)
	if st.Target == TargetStopped {
		if rt.conn != nil || rt.target != TargetStopped {
			d.stopInstanceLocked(rt)
			h.putConnStatus(name, Status{State: StateStopped})
		}
		rt.target = TargetStopped
		return
	}
	if rt.conn != nil && !maps.Equal(rt.connCfg, st.Config) {
		d.stopInstanceLocked(rt) // reconfigured: start it again
	}
	if rt.conn == nil {
		if rt.failed && maps.Equal(rt.failedCfg, st.Config) {
			return // stays FAILED until restarted or reconfigured
		}
		rt.target = st.Target
		h.startConnectorInstanceOnlyLocked(rt)
		if rt.conn == nil {
			rt.failed, rt.failedCfg = true, maps.Clone(st.Config)
			return
		}
		rt.failed, rt.failedCfg, rt.connCfg = false, nil, maps.Clone(st.Config)
		h.publishTaskConfigsLocked(rt)
		return
	}
	if rt.target != st.Target {
		rt.target = st.Target
		state := StateRunning
		if st.Target == TargetPaused {
			state = StatePaused
		}
		h.putConnStatus(name, Status{State: state})
	}
}

// ensureTaskLocked runs an owned task per its stored configuration and
// its connector's target state. h.mu must be held.
func (d *Distributed) ensureTaskLocked(id TaskID) {
	h := d.Worker
	st, ok := h.configs.Connector(context.Background(), id.Connector)
	rt := h.conns[id.Connector]
	var r *taskRunner
	if rt != nil {
		r = rt.tasks[id.Task]
	}
	if !ok || id.Task >= len(st.Tasks) || st.Target == TargetStopped {
		if r != nil {
			r.stop()
			delete(rt.tasks, id.Task)
		}
		return
	}
	if r != nil && (!maps.Equal(r.connCfg, st.Config) || !maps.Equal(r.taskCfg, st.Tasks[id.Task])) {
		r.stop() // reconfigured: start it again
		delete(rt.tasks, id.Task)
		r = nil
	}
	if r != nil {
		r.setPaused(st.Target == TargetPaused)
		return
	}
	rt = d.runtimeLocked(id.Connector, st.Config)
	if rt.failedTasks[id.Task] {
		return // stays FAILED until restarted or reconfigured
	}
	conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
	if err == nil {
		r, err = h.newTaskRunner(&connRuntime{name: id.Connector, conn: conn}, id, st.Config, st.Tasks[id.Task])
	}
	if err != nil {
		h.putTaskStatus(id, Status{State: StateFailed, Trace: err.Error()})
		if rt.failedTasks == nil {
			rt.failedTasks = map[int]bool{}
		}
		rt.failedTasks[id.Task] = true
		return
	}
	rt.tasks[id.Task] = r
	r.start(st.Target == TargetPaused)
}

// queueRestart is called by the config store for every restart request
// it reads; the run goroutine applies them.
func (d *Distributed) queueRestart(name string, req RestartRequest) {
	d.mu.Lock()
	d.restarts = append(d.restarts, restartRequest{name, req})
	d.mu.Unlock()
	signal(d.changed)
}

// applyRestarts stops the parts of the requested connectors that this
// worker runs and that the requests select; converge starts them again.
func (d *Distributed) applyRestarts() {
	d.mu.Lock()
	reqs := d.restarts
	d.restarts = nil
	d.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	h := d.Worker
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rr := range reqs {
		rt := h.conns[rr.name]
		if rt == nil {
			continue
		}
		status, err := h.ConnectorStatus(rr.name)
		if err != nil {
			continue
		}
		if !rr.req.OnlyFailed || status.Connector.State == StateFailed {
			d.stopInstanceLocked(rt)
			rt.failed, rt.failedCfg, rt.target = false, nil, ""
		}
		if !rr.req.IncludeTasks {
			continue
		}
		for _, ts := range status.Tasks {
			if rr.req.OnlyFailed && ts.State != StateFailed {
				continue
			}
			if r := rt.tasks[ts.ID]; r != nil {
				r.stop()
				delete(rt.tasks, ts.ID)
			}
			delete(rt.failedTasks, ts.ID)
		}
	}
}

// RestartConnector implements Herder: the request goes to the config
// topic (as Kafka Connect's KIP-745 restart requests do) and every worker
// restarts the selected parts of the connector that it runs.
func (d *Distributed) RestartConnector(ctx context.Context, name string, req RestartRequest) (*ConnectorStatus, error) {
	if err := d.checkStable(); err != nil {
		return nil, err
	}
	before, err := d.ConnectorStatus(name)
	if err != nil {
		return nil, err
	}
	if err := d.cs.PutRestartRequest(ctx, name, req); err != nil {
		return nil, fmt.Errorf("connect: store restart request: %w", err)
	}
	if !req.IncludeTasks && !req.OnlyFailed {
		return nil, nil
	}
	plan := before
	plan.Tasks = slices.Clone(before.Tasks)
	if !req.OnlyFailed || before.Connector.State == StateFailed {
		plan.Connector.State, plan.Connector.Trace = StateRestarting, ""
	}
	if req.IncludeTasks {
		for i, t := range plan.Tasks {
			if !req.OnlyFailed || t.State == StateFailed {
				plan.Tasks[i].State, plan.Tasks[i].Trace = StateRestarting, ""
			}
		}
	}
	return &plan, nil
}

// RestartTask implements Herder: the worker that runs the task restarts
// it; the leader forwards the request there.
func (d *Distributed) RestartTask(ctx context.Context, id TaskID) error {
	st, ok := d.cs.Connector(ctx, id.Connector)
	if !ok {
		return d.notFound(id.Connector)
	}
	if id.Task < 0 || id.Task >= len(st.Tasks) {
		return fmt.Errorf("Task %s-%d not found: %w", id.Connector, id.Task, ErrNotFound)
	}
	h := d.Worker
	h.mu.Lock()
	if rt := h.conns[id.Connector]; rt != nil {
		r, running := rt.tasks[id.Task]
		if running || rt.failedTasks[id.Task] {
			if running {
				r.stop()
				delete(rt.tasks, id.Task)
			}
			delete(rt.failedTasks, id.Task)
			d.ensureTaskLocked(id)
			h.mu.Unlock()
			return nil
		}
	}
	h.mu.Unlock()
	d.mu.Lock()
	owner, leader := d.owners[workItem(id)], d.isLeader
	d.mu.Unlock()
	if !leader || owner == "" {
		return fmt.Errorf("Task %s-%d is not running on this worker and its owner is unknown: %w", id.Connector, id.Task, ErrRebalancing)
	}
	return forwardRestart(ctx, owner, id)
}

// forwardRestart asks the worker at owner (a REST URL) to restart a task.
func forwardRestart(ctx context.Context, owner string, id TaskID) error {
	u := fmt.Sprintf("%s/connectors/%s/tasks/%d/restart", owner, url.PathEscape(id.Connector), id.Task)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("connect: forward task restart: %w", err)
	}
	req.Header.Set(ForwardedHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("connect: forward task restart to %s: %w", owner, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("connect: forward task restart to %s: HTTP %d: %w", owner, resp.StatusCode, ErrRebalancing)
	}
	return nil
}
