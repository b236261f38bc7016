package runtime

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Kafka Connect's group protocol (protocol type "connect") in its three
// versions, each offered under its own protocol name:
//
//   - "default" (version 0, eager): member metadata is {version int16,
//     url string, config_offset int64}; the assignment is {version int16,
//     error int16, leader string, leader_url string, config_offset int64,
//     assignment [{connector string, tasks [int32]}]} and lists everything
//     the member runs. Every member stops all its work before rejoining.
//   - "compatible" (version 1, KIP-415) and "sessioned" (version 2,
//     KIP-507): the metadata adds the member's current assignment
//     (nullable bytes holding an encoded assignment), and the assignment
//     adds revoked [{connector, tasks}] and delay int32 (ms); assignment
//     lists only what is added. Members keep running their work through
//     a rebalance and stop only what is revoked.
//
// Task -1 stands for the connector instance itself.
const (
	connectProtocolType = "connect"
	connectorTaskID     = -1

	protocolEager      = "default"
	protocolCompatible = "compatible"
	protocolSessioned  = "sessioned"
)

// The values of connect.protocol.
const (
	ConnectProtocolEager      = "eager"
	ConnectProtocolCompatible = "compatible"
	ConnectProtocolSessioned  = "sessioned"
)

// protocolVersion is the version a protocol name stands for.
func protocolVersion(name string) int16 {
	switch name {
	case protocolCompatible:
		return 1
	case protocolSessioned:
		return 2
	}
	return 0
}

// offeredProtocols lists the protocol names a worker with the given
// connect.protocol offers, preferred first: a newer worker still joins a
// group of older ones on the newest version they all speak.
func offeredProtocols(setting string) []string {
	switch setting {
	case ConnectProtocolEager:
		return []string{protocolEager}
	case ConnectProtocolCompatible:
		return []string{protocolCompatible, protocolEager}
	}
	return []string{protocolSessioned, protocolCompatible, protocolEager}
}

var errBadProtocol = errors.New("malformed connect protocol data")

// workerMetadata is what a member sends in JoinGroup.
type workerMetadata struct {
	URL          string
	ConfigOffset int64
	// Owned is what the member runs now (versions 1 and 2 only).
	Owned workSet
}

func (m workerMetadata) encode(version int16) []byte {
	b := kbin.AppendInt16(nil, version)
	b = kbin.AppendString(b, m.URL)
	b = kbin.AppendInt64(b, m.ConfigOffset)
	if version == 0 {
		return b
	}
	var owned []byte
	if !m.Owned.empty() {
		owned = workerAssignment{Version: version, ConfigOffset: m.ConfigOffset, Connectors: m.Owned.Connectors, Tasks: m.Owned.Tasks}.encode()
	}
	return kbin.AppendNullableBytes(b, owned)
}

func decodeWorkerMetadata(b []byte) (workerMetadata, error) {
	r := kbin.Reader{Src: b}
	version := r.Int16()
	m := workerMetadata{URL: r.String(), ConfigOffset: r.Int64()}
	if version >= 1 && len(r.Src) > 0 {
		if owned := r.NullableBytes(); owned != nil {
			a, err := decodeWorkerAssignment(owned)
			if err != nil {
				return m, err
			}
			m.Owned = workSet{Connectors: a.Connectors, Tasks: a.Tasks}
		}
	}
	return m, checkDecoded(&r, version)
}

func checkDecoded(r *kbin.Reader, version int16) error {
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: %w", errBadProtocol, err)
	}
	if version < 0 {
		return fmt.Errorf("%w: version %d", errBadProtocol, version)
	}
	return nil
}

// workSet is a set of connectors and tasks, kept as sorted slices.
type workSet struct {
	Connectors []string
	Tasks      []TaskID
}

func (w workSet) empty() bool { return len(w.Connectors) == 0 && len(w.Tasks) == 0 }

// workerAssignment is the leader's answer to one member.
type workerAssignment struct {
	Version      int16
	Error        int16
	Leader       string
	LeaderURL    string
	ConfigOffset int64
	// Connectors and Tasks are, in version 0, everything the member runs;
	// from version 1 on, what it starts in addition to what it keeps.
	Connectors []string
	Tasks      []TaskID
	// Revoked (version 1+) is what the member stops.
	Revoked workSet
	// Delay (version 1+, ms) asks the member to rejoin after that long,
	// when the leader reassigns the work of departed members.
	Delay int32
}

func appendWork(b []byte, conns []string, tasks []TaskID) []byte {
	byConn := map[string][]int32{}
	for _, c := range conns {
		byConn[c] = append(byConn[c], connectorTaskID)
	}
	for _, t := range tasks {
		byConn[t.Connector] = append(byConn[t.Connector], int32(t.Task))
	}
	names := make([]string, 0, len(byConn))
	for n := range byConn {
		names = append(names, n)
	}
	sort.Strings(names)
	b = kbin.AppendArrayLen(b, len(names))
	for _, n := range names {
		b = kbin.AppendString(b, n)
		b = kbin.AppendArrayLen(b, len(byConn[n]))
		for _, t := range byConn[n] {
			b = kbin.AppendInt32(b, t)
		}
	}
	return b
}

func readWork(r *kbin.Reader) workSet {
	var w workSet
	for range max(r.ArrayLen(), 0) {
		name := r.String()
		for range max(r.ArrayLen(), 0) {
			if t := r.Int32(); t == connectorTaskID {
				w.Connectors = append(w.Connectors, name)
			} else {
				w.Tasks = append(w.Tasks, TaskID{Connector: name, Task: int(t)})
			}
		}
	}
	return w
}

func (a workerAssignment) encode() []byte {
	b := kbin.AppendInt16(nil, a.Version)
	b = kbin.AppendInt16(b, a.Error)
	b = kbin.AppendString(b, a.Leader)
	b = kbin.AppendString(b, a.LeaderURL)
	b = kbin.AppendInt64(b, a.ConfigOffset)
	b = appendWork(b, a.Connectors, a.Tasks)
	if a.Version == 0 {
		return b
	}
	b = appendWork(b, a.Revoked.Connectors, a.Revoked.Tasks)
	return kbin.AppendInt32(b, a.Delay)
}

func decodeWorkerAssignment(b []byte) (workerAssignment, error) {
	r := kbin.Reader{Src: b}
	var a workerAssignment
	a.Version = r.Int16()
	a.Error, a.Leader, a.LeaderURL, a.ConfigOffset = r.Int16(), r.String(), r.String(), r.Int64()
	w := readWork(&r)
	a.Connectors, a.Tasks = w.Connectors, w.Tasks
	// Versions 1 and 2 tolerate the fields they added being absent.
	if a.Version >= 1 && len(r.Src) > 0 {
		a.Revoked = readWork(&r)
		if len(r.Src) > 0 {
			a.Delay = r.Int32()
		}
	}
	return a, checkDecoded(&r, a.Version)
}

// assignWork is the eager protocol's assignment: connectors and then tasks
// round-robin over the members (sorted by ID), continuing where the
// connectors stopped so that a connector and its first task tend to land
// on different workers.
func assignWork(members []string, conns map[string]int) map[string]*workerAssignment {
	members = slices.Sorted(slices.Values(members))
	out := map[string]*workerAssignment{}
	for _, m := range members {
		out[m] = &workerAssignment{}
	}
	if len(members) == 0 {
		return out
	}
	names := make([]string, 0, len(conns))
	for n := range conns {
		names = append(names, n)
	}
	sort.Strings(names)
	i := 0
	for _, n := range names {
		a := out[members[i%len(members)]]
		a.Connectors = append(a.Connectors, n)
		i++
	}
	for _, n := range names {
		for t := range conns[n] {
			a := out[members[i%len(members)]]
			a.Tasks = append(a.Tasks, TaskID{Connector: n, Task: t})
			i++
		}
	}
	return out
}
