package runtime

import (
	"context"
	"fmt"
	"reflect"
)

// publishTaskConfigsLocked asks a running connector for its task
// configurations and writes them to the config store when they changed
// (which, in distributed mode, triggers a rebalance). h.mu must be held.
func (h *Worker) publishTaskConfigsLocked(rt *connRuntime) {
	st, maxTasks, tasks, ok := h.askTaskConfigsLocked(rt)
	if !ok {
		return
	}
	if len(tasks) > max(maxTasks, 1) {
		h.failConnector(rt.name, fmt.Errorf("connector %s returned %d task configurations, more than tasks.max=%d", rt.name, len(tasks), maxTasks))
		return
	}
	if len(tasks) != len(st.Tasks) || !reflect.DeepEqual(tasks, st.Tasks) {
		if err := h.configs.PutTaskConfigs(context.Background(), rt.name, tasks); err != nil {
			h.log.Warn("writing task configurations failed", "connector", rt.name, "err", err)
		}
	}
}

func (d *Distributed) checkStable() error {
	if _, _, reb := d.Leader(); reb {
		return fmt.Errorf("Cannot complete request because of a conflicting operation (e.g. worker rebalance): %w", ErrRebalancing)
	}
	return nil
}

// PutConnectorConfig implements Herder: it validates and writes the
// configuration; the rebalance that follows starts the connector.
func (d *Distributed) PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error) {
	if err := d.checkStable(); err != nil {
		return ConnectorInfo{}, false, err
	}
	name, config, err := d.validConnectorConfig(ctx, name, config)
	if err != nil {
		return ConnectorInfo{}, false, err
	}
	old, exists := d.cs.Connector(ctx, name)
	target, err := putTarget(name, old, exists, allowReplace, initial)
	if err != nil {
		return ConnectorInfo{}, false, err
	}
	if err := d.cs.PutConnector(ctx, name, config, target); err != nil {
		return ConnectorInfo{}, false, fmt.Errorf("connect: store config: %w", err)
	}
	info, err := d.ConnectorInfo(name)
	return info, !exists, err
}

// PatchConnectorConfig implements Herder.
func (d *Distributed) PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error) {
	return patchConnectorConfig(ctx, d, name, patch)
}

// DeleteConnector implements Herder.
func (d *Distributed) DeleteConnector(ctx context.Context, name string) error {
	if err := d.checkStable(); err != nil {
		return err
	}
	if _, ok := d.cs.Connector(ctx, name); !ok {
		return d.notFound(name)
	}
	if err := d.cs.RemoveConnector(ctx, name); err != nil {
		return fmt.Errorf("connect: remove config: %w", err)
	}
	if err := d.ss.Remove(ctx, name); err != nil {
		return fmt.Errorf("connect: remove status: %w", err)
	}
	return nil
}

func (d *Distributed) setTarget(ctx context.Context, name string, t TargetState) error {
	if err := d.checkStable(); err != nil {
		return err
	}
	st, ok := d.cs.Connector(ctx, name)
	if !ok {
		return d.notFound(name)
	}
	if t == TargetPaused && st.Target == TargetStopped {
		return nil
	}
	if err := d.cs.PutTargetState(ctx, name, t); err != nil {
		return fmt.Errorf("connect: store target state: %w", err)
	}
	if t == TargetStopped {
		if err := d.cs.PutTaskConfigs(ctx, name, nil); err != nil {
			return fmt.Errorf("connect: store task configs: %w", err)
		}
	}
	return nil
}

// PauseConnector implements Herder.
func (d *Distributed) PauseConnector(ctx context.Context, name string) error {
	return d.setTarget(ctx, name, TargetPaused)
}

// ResumeConnector implements Herder.
func (d *Distributed) ResumeConnector(ctx context.Context, name string) error {
	return d.setTarget(ctx, name, TargetStarted)
}

// StopConnector implements Herder.
func (d *Distributed) StopConnector(ctx context.Context, name string) error {
	return d.setTarget(ctx, name, TargetStopped)
}
