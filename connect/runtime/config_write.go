package runtime

import (
	"context"
	"fmt"
)

// connectorConfigWriter is what a PATCH of a connector's configuration
// needs from a herder: both herders read the configuration through the
// shared Worker and write it their own way (Standalone at once,
// Distributed through the config topic).
type connectorConfigWriter interface {
	ConnectorConfig(name string) (map[string]string, error)
	PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error)
}

// patchConnectorConfig is PatchConnectorConfig for both herders: it reads
// the connector's current configuration, applies patch to it and writes
// the result back as a replacement, which keeps the connector's target
// state. Errors are returned as the herder gave them (ErrNotFound for an
// unknown connector), so that the REST API answers as for any other
// write.
func patchConnectorConfig(ctx context.Context, h connectorConfigWriter, name string, patch map[string]*string) (ConnectorInfo, error) {
	cur, err := h.ConnectorConfig(name)
	if err != nil {
		return ConnectorInfo{}, err
	}
	applyConfigPatch(cur, patch)
	info, _, err := h.PutConnectorConfig(ctx, name, cur, true, "")
	return info, err
}

// applyConfigPatch applies a PATCH /connectors/{name}/config body to a
// config: a null value removes the key, any other sets it.
func applyConfigPatch(cur map[string]string, patch map[string]*string) {
	for k, v := range patch {
		if v == nil {
			delete(cur, k)
		} else {
			cur[k] = *v
		}
	}
}

// putTarget is the target state a configuration write gives connector
// name, which old is the stored state of when exists: a replacement
// keeps the connector's target state, a new connector takes initial
// (STARTED when empty). Replacing without allowReplace is
// ErrAlreadyExists.
func putTarget(name string, old ConnectorConfigState, exists, allowReplace bool, initial TargetState) (TargetState, error) {
	switch {
	case exists && !allowReplace:
		return "", fmt.Errorf("Connector %s already exists: %w", name, ErrAlreadyExists)
	case exists:
		return old.Target, nil
	case initial == "":
		return TargetStarted, nil
	}
	return initial, nil
}
