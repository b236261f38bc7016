package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ConnectorOffset is one partition's offset in the offsets REST API
// (KIP-875). For a source connector Partition is the source partition and
// Offset the source offset; for a sink connector Partition is
// {"kafka_topic": t, "kafka_partition": p} and Offset {"kafka_offset": o}.
// A nil Offset in an alteration removes the partition's offset.
type ConnectorOffset struct {
	Partition map[string]any
	Offset    map[string]any
}

// Keys of sink connector offsets in the offsets API.
const (
	SinkOffsetTopicKey     = "kafka_topic"
	SinkOffsetPartitionKey = "kafka_partition"
	SinkOffsetOffsetKey    = "kafka_offset"
)

// Messages of the offsets API, as Kafka Connect words them.
const (
	sourceOffsetsAltered = "The Connect framework-managed offsets for this connector have been altered successfully. However, if this connector manages offsets externally, they will need to be manually altered in the system that the connector uses."
	sourceOffsetsReset   = "The Connect framework-managed offsets for this connector have been reset successfully. However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."
	sinkOffsetsAltered   = "The offsets for this connector have been altered successfully"
	sinkOffsetsReset     = "The offsets for this connector have been reset successfully"
)

// SinkGroupID is the consumer group of a sink connector's tasks.
func SinkGroupID(connector string) string { return "connect-" + connector }

// ConnectorOffsets implements Herder.
func (h *Worker) ConnectorOffsets(ctx context.Context, name string) ([]ConnectorOffset, error) {
	st, ok := h.configs.Connector(ctx, name)
	if !ok {
		return nil, h.notFound(name)
	}
	if h.pluginType(st.Config) == connect.PluginSink {
		return h.sinkOffsets(ctx, name)
	}
	return h.sourceOffsets(ctx, name)
}

func (h *Worker) sourceOffsets(ctx context.Context, name string) ([]ConnectorOffset, error) {
	keys, err := h.offsets.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: list offsets: %w", err)
	}
	var mine []string
	parts := map[string]map[string]any{}
	for _, k := range keys {
		var key []json.RawMessage
		if json.Unmarshal([]byte(k), &key) != nil || len(key) != 2 {
			continue
		}
		var conn string
		if json.Unmarshal(key[0], &conn) != nil || conn != name {
			continue
		}
		p, err := DecodeOffset(key[1])
		if err != nil {
			continue
		}
		mine = append(mine, k)
		parts[k] = p
	}
	vals, err := h.offsets.Get(ctx, mine)
	if err != nil {
		return nil, fmt.Errorf("connect: read offsets: %w", err)
	}
	out := []ConnectorOffset{}
	for _, k := range mine {
		off, err := DecodeOffset(vals[k])
		if err != nil || off == nil {
			continue
		}
		out = append(out, ConnectorOffset{Partition: parts[k], Offset: off})
	}
	return out, nil
}

func (h *Worker) sinkOffsets(ctx context.Context, name string) ([]ConnectorOffset, error) {
	resp, err := kadm.NewClient(h.admin).FetchOffsets(ctx, SinkGroupID(name))
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("connect: fetch offsets of group %s: %w", SinkGroupID(name), err)
	}
	out := []ConnectorOffset{}
	for _, o := range resp.Sorted() {
		if o.Err != nil || o.At < 0 {
			continue
		}
		out = append(out, ConnectorOffset{
			Partition: map[string]any{SinkOffsetTopicKey: o.Topic, SinkOffsetPartitionKey: int64(o.Partition)},
			Offset:    map[string]any{SinkOffsetOffsetKey: o.At},
		})
	}
	return out, nil
}

// requireStopped returns the connector's type once it is known to be
// STOPPED.
func (h *Worker) requireStopped(name string) (connect.PluginType, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.configs.Connector(context.Background(), name)
	if !ok {
		return "", h.notFound(name)
	}
	rt := h.conns[name]
	if st.Target != TargetStopped || (rt != nil && (rt.conn != nil || len(rt.tasks) > 0)) {
		return "", fmt.Errorf("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint: %w", name, ErrBadRequest)
	}
	return h.pluginType(st.Config), nil
}

// AlterConnectorOffsets implements Herder.
func (h *Worker) AlterConnectorOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (string, error) {
	typ, err := h.requireStopped(name)
	if err != nil {
		return "", err
	}
	if len(offsets) == 0 {
		return "", fmt.Errorf("The offsets to be modified must not be null or empty: %w", ErrBadRequest)
	}
	if typ == connect.PluginSink {
		return h.alterSinkOffsets(ctx, name, offsets)
	}
	vals := map[string][]byte{}
	for _, o := range offsets {
		if o.Partition == nil {
			return "", fmt.Errorf("Source partitions may not be null: %w", ErrBadRequest)
		}
		k, err := OffsetKey(name, o.Partition)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		if o.Offset == nil {
			vals[k] = nil
			continue
		}
		b, err := json.Marshal(o.Offset)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		vals[k] = b
	}
	if err := h.offsets.Set(ctx, vals); err != nil {
		return "", fmt.Errorf("connect: write offsets: %w", err)
	}
	return sourceOffsetsAltered, nil
}

func sinkPartition(p map[string]any) (string, int32, error) {
	topic, ok := p[SinkOffsetTopicKey].(string)
	if !ok || strings.TrimSpace(topic) == "" {
		return "", 0, fmt.Errorf("Kafka topic names must be valid strings and may not be null: %w", ErrBadRequest)
	}
	part, ok := wholeNumber(p[SinkOffsetPartitionKey])
	if !ok || part < 0 || part > math.MaxInt32 {
		return "", 0, fmt.Errorf("Kafka partitions must be valid numbers and may not be null: %w", ErrBadRequest)
	}
	return topic, int32(part), nil
}

func wholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		var n int64
		if _, err := fmt.Sscan(x, &n); err == nil {
			return n, true
		}
	}
	return 0, false
}

func (h *Worker) alterSinkOffsets(ctx context.Context, name string, offsets []ConnectorOffset) (string, error) {
	commit := kadm.Offsets{}
	del := kadm.TopicsSet{}
	for _, o := range offsets {
		topic, part, err := sinkPartition(o.Partition)
		if err != nil {
			return "", err
		}
		if o.Offset == nil {
			del.Add(topic, part)
			continue
		}
		off, ok := wholeNumber(o.Offset[SinkOffsetOffsetKey])
		if !ok || off < 0 {
			return "", fmt.Errorf("Kafka offsets must be valid non-negative numbers and may not be null: %w", ErrBadRequest)
		}
		commit.Add(kadm.Offset{Topic: topic, Partition: part, At: off, LeaderEpoch: -1})
	}
	adm := kadm.NewClient(h.admin)
	group := SinkGroupID(name)
	if len(commit) > 0 {
		resp, err := adm.CommitOffsets(ctx, group, commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return "", fmt.Errorf("connect: alter offsets of group %s: %w", group, err)
		}
	}
	if len(del) > 0 {
		resp, err := adm.DeleteOffsets(ctx, group, del)
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return "", fmt.Errorf("connect: delete offsets of group %s: %w", group, err)
		}
	}
	return sinkOffsetsAltered, nil
}

// ResetConnectorOffsets implements Herder.
func (h *Worker) ResetConnectorOffsets(ctx context.Context, name string) (string, error) {
	typ, err := h.requireStopped(name)
	if err != nil {
		return "", err
	}
	if typ == connect.PluginSink {
		group := SinkGroupID(name)
		resp, err := kadm.NewClient(h.admin).DeleteGroup(ctx, group)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return "", fmt.Errorf("connect: delete group %s: %w", group, err)
		}
		return sinkOffsetsReset, nil
	}
	cur, err := h.sourceOffsets(ctx, name)
	if err != nil {
		return "", err
	}
	vals := map[string][]byte{}
	for _, o := range cur {
		k, err := OffsetKey(name, o.Partition)
		if err != nil {
			return "", err
		}
		vals[k] = nil
	}
	if len(vals) > 0 {
		if err := h.offsets.Set(ctx, vals); err != nil {
			return "", fmt.Errorf("connect: reset offsets: %w", err)
		}
	}
	return sourceOffsetsReset, nil
}
