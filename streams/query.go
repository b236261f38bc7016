package streams

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/state"
)

// Interactive queries (Kafka Streams' KafkaStreams#queryMetadataForKey and store
// queries): a running App answers for the keys of its key-value stores, locally for the
// tasks it runs and, when Config.ApplicationServer is set, over HTTP for the others.
// Each instance publishes its application.server in its group subscription; the group
// leader sends every member the map of which server runs which partitions, so any
// instance can tell where a key lives.

// ErrNotHosted reports a query for a key whose task no instance (or not the asked one)
// runs at the moment, as during a rebalance; retry after a while.
var ErrNotHosted = errors.New("streams: no instance hosts the key's task now")

// HostInfo is an instance's application.server endpoint.
type HostInfo struct {
	Host string
	Port int
}

// String returns "host:port".
func (h HostInfo) String() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// parseHostInfo parses "host:port".
func parseHostInfo(s string) (HostInfo, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return HostInfo{}, fmt.Errorf("%w: application server %q: %w", ErrConfig, s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 || host == "" {
		return HostInfo{}, fmt.Errorf("%w: application server %q: want host:port", ErrConfig, s)
	}
	return HostInfo{Host: host, Port: p}, nil
}

// KeyQueryMetadata says where a key of a store lives: the instance running the active
// task of the key's partition.
type KeyQueryMetadata struct {
	Active    HostInfo
	Partition int32
}

// StreamsMetadata describes one instance of the application: its endpoint, the stores
// of its tasks and the source partitions it processes.
type StreamsMetadata struct {
	Host            HostInfo
	Stores          []string
	TopicPartitions []state.TopicPartition
}

// AllMetadata returns every instance known from the last rebalance that published an
// application server, sorted by endpoint.
func (a *App) AllMetadata() []StreamsMetadata {
	hosts := a.hosts.Load()
	if hosts == nil {
		return nil
	}
	var out []StreamsMetadata
	for ep, tps := range *hosts {
		h, err := parseHostInfo(ep)
		if err != nil {
			continue
		}
		md := StreamsMetadata{Host: h, TopicPartitions: slices.Clone(tps)}
		subs := map[int]bool{}
		for _, tp := range tps {
			if sub, ok := a.topicSub[tp.Topic]; ok {
				subs[sub] = true
			}
		}
		for _, sub := range a.topo.subs {
			if subs[sub.id] {
				for _, s := range sub.stores {
					md.Stores = append(md.Stores, s.name)
				}
			}
		}
		slices.Sort(md.Stores)
		out = append(out, md)
	}
	slices.SortFunc(out, func(x, y StreamsMetadata) int { return strings.Compare(x.Host.String(), y.Host.String()) })
	return out
}

// QueryMetadataForKey returns where key of store lives (nil serde: the default of the
// type). The partition is the one Kafka's default partitioner gives the serialized key.
func QueryMetadataForKey[K any](a *App, store string, key K, ks Serde[K]) (KeyQueryMetadata, error) {
	kb, err := serialize(orDefault(ks), key)
	if err != nil {
		return KeyQueryMetadata{}, fmt.Errorf("streams: query %s: key: %w", store, err)
	}
	return a.metadataForRawKey(store, kb)
}

func (a *App) metadataForRawKey(store string, kb []byte) (KeyQueryMetadata, error) {
	sub, _, err := a.storeSub(store)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	n := a.subTasks[sub.id]
	if n <= 0 {
		return KeyQueryMetadata{}, fmt.Errorf("%w: store %s", ErrNotHosted, store)
	}
	p := int32(partitionFor(kb, int(n)))
	md := KeyQueryMetadata{Partition: p}
	hosts := a.hosts.Load()
	if hosts == nil {
		return md, fmt.Errorf("%w: store %s partition %d (no application servers known)", ErrNotHosted, store, p)
	}
	for ep, tps := range *hosts {
		for _, tp := range tps {
			if tp.Partition == p && a.topicSub[tp.Topic] == sub.id {
				if md.Active, err = parseHostInfo(ep); err != nil {
					return md, err
				}
				return md, nil
			}
		}
	}
	return md, fmt.Errorf("%w: store %s partition %d", ErrNotHosted, store, p)
}

// storeSub returns the sub-topology that owns a store, and whether it is windowed.
func (a *App) storeSub(store string) (*subtopology, bool, error) {
	for _, sub := range a.topo.subs {
		for _, s := range sub.stores {
			if s.name == store {
				return sub, s.windowed != nil, nil
			}
		}
	}
	return nil, false, fmt.Errorf("%w: %q", ErrUnknownStore, store)
}

// QueryKey returns key's value in the key-value store named store (nil serdes: the
// defaults of the types), wherever it lives: from this instance's task when it runs
// the key's partition, otherwise from the instance that does, over HTTP. found is false
// when the store has no value for key.
func QueryKey[K, V any](ctx context.Context, a *App, store string, key K, ks Serde[K], vs Serde[V]) (v V, found bool, err error) {
	kb, err := serialize(orDefault(ks), key)
	if err != nil {
		return v, false, fmt.Errorf("streams: query %s: key: %w", store, err)
	}
	var vb []byte
	err = a.routeQuery(ctx, store, kb, func() error {
		vb, err = a.queryLocal(store, kb)
		return err
	}, func(host HostInfo) error {
		vb, err = a.server.remote(ctx, host, store, kb)
		return err
	})
	if err != nil || vb == nil {
		return v, false, err
	}
	if v, err = orDefault(vs).Deserialize(vb); err != nil {
		return v, false, fmt.Errorf("streams: query %s: value: %w", store, err)
	}
	return v, true, nil
}

// routeQuery runs local when this instance hosts kb's partition of store (or when no
// application servers are known: then only local tasks can answer), remote otherwise.
func (a *App) routeQuery(ctx context.Context, store string, kb []byte, local func() error, remote func(HostInfo) error) error {
	md, err := a.metadataForRawKey(store, kb)
	onlyLocal := errors.Is(err, ErrNotHosted) && a.server == nil
	if err != nil && !onlyLocal {
		return err
	}
	if onlyLocal || (a.server != nil && md.Active == a.server.self) {
		return local()
	}
	return remote(md.Active)
}

// onStoreThread runs fn on the stream thread of the local task that runs kb's
// partition of store, with that task's store.
func (a *App) onStoreThread(store string, kb []byte, fn func(s any) error) error {
	sub, _, err := a.storeSub(store)
	if err != nil {
		return err
	}
	id := TaskID{Subtopology: sub.id, Partition: int32(partitionFor(kb, int(max(a.subTasks[sub.id], 1))))}
	tk := a.tm.task(id)
	if tk == nil {
		return fmt.Errorf("%w: task %s is not on this instance", ErrNotHosted, id)
	}
	err = a.tm.query(tk, func() error {
		s, err := tk.stateStore(store)
		if err != nil {
			return err
		}
		return fn(s)
	})
	if err != nil {
		return fmt.Errorf("streams: query %s: %w", store, err)
	}
	return nil
}

// queryLocal reads kb from the key-value store of the local task that runs kb's
// partition, on that task's stream thread (through its record cache, so it sees the
// latest updates). It returns nil when the store has no value for kb.
func (a *App) queryLocal(store string, kb []byte) ([]byte, error) {
	var vb []byte
	err := a.onStoreThread(store, kb, func(s any) error {
		kv, ok := s.(interface{ getRaw([]byte) ([]byte, error) })
		if !ok {
			return fmt.Errorf("%w: %q is not a key-value store", ErrUnknownStore, store)
		}
		var err error
		vb, err = kv.getRaw(kb)
		return err
	})
	return vb, err
}

// rawWindow is one window of a window store query, its value serialized.
type rawWindow struct {
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Value []byte `json:"value"`
}

// queryWindowLocal reads kb's windows starting in [from, to] from the window store of
// the local task that runs kb's partition, on its stream thread.
func (a *App) queryWindowLocal(store string, kb []byte, from, to int64) ([]rawWindow, error) {
	var out []rawWindow
	err := a.onStoreThread(store, kb, func(s any) error {
		ws, ok := s.(interface {
			fetchRawRange(kb []byte, from, to int64) ([]rawWindow, error)
		})
		if !ok {
			return fmt.Errorf("%w: %q is not a window store", ErrUnknownStore, store)
		}
		var err error
		out, err = ws.fetchRawRange(kb, from, to)
		return err
	})
	return out, err
}

// fetchRawRange returns kb's windows starting in [from, to], oldest first, with their
// values serialized (without the timestamp aggregation stores keep).
func (s *WindowStore[K, V]) fetchRawRange(kb []byte, from, to int64) ([]rawWindow, error) {
	it, err := s.windowRange(kb, max(from, 0), to, true) // through the cache
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	defer it.Close()
	var out []rawWindow
	for it.Next() {
		vb := it.Value()
		if s.ts {
			if _, vb, err = untimestamped(vb); err != nil {
				return nil, fmt.Errorf("store %s: %w", s.name, err)
			}
		}
		w := it.Key().Window
		out = append(out, rawWindow{Start: w.Start, End: w.End, Value: slices.Clone(vb)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	return out, nil
}

// WindowedValue is one window of a QueryWindow answer.
type WindowedValue[V any] struct {
	Window Window
	Value  V
}

// QueryWindow returns key's windows whose start lies in [from, to] (milliseconds) in
// the window store named store, oldest first, wherever they live (as QueryKey; nil
// serdes: the defaults of the types).
func QueryWindow[K, V any](ctx context.Context, a *App, store string, key K, from, to int64, ks Serde[K], vs Serde[V]) ([]WindowedValue[V], error) {
	kb, err := serialize(orDefault(ks), key)
	if err != nil {
		return nil, fmt.Errorf("streams: query %s: key: %w", store, err)
	}
	var raws []rawWindow
	err = a.routeQuery(ctx, store, kb, func() error {
		raws, err = a.queryWindowLocal(store, kb, from, to)
		return err
	}, func(host HostInfo) error {
		raws, err = a.server.remoteWindows(ctx, host, store, kb, from, to)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]WindowedValue[V], 0, len(raws))
	for _, r := range raws {
		v, err := orDefault(vs).Deserialize(r.Value)
		if err != nil {
			return nil, fmt.Errorf("streams: query %s: value: %w", store, err)
		}
		out = append(out, WindowedValue[V]{Window: Window{Start: r.Start, End: r.End}, Value: v})
	}
	return out, nil
}
