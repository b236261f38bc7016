package connect

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Kafka Connect's group protocol (protocol type "connect"): the eager
// protocol "default" (version 0), whose member metadata is
// {version int16, url string, config_offset int64} and whose assignment
// is {version int16, error int16, leader string, leader_url string,
// config_offset int64, assignment [{connector string, tasks [int32]}]},
// where task -1 stands for the connector instance itself.
const (
	connectProtocolType = "connect"
	connectProtocolName = "default"
	connectorTaskID     = -1
)

var errBadProtocol = errors.New("malformed connect protocol data")

type workerMetadata struct {
	URL          string
	ConfigOffset int64
}

func (m workerMetadata) encode() []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendString(b, m.URL)
	return kbin.AppendInt64(b, m.ConfigOffset)
}

func decodeWorkerMetadata(b []byte) (workerMetadata, error) {
	r := kbin.Reader{Src: b}
	_ = r.Int16()
	m := workerMetadata{URL: r.String(), ConfigOffset: r.Int64()}
	if err := r.Complete(); err != nil {
		return m, fmt.Errorf("%w: %w", errBadProtocol, err)
	}
	return m, nil
}

// workerAssignment is what one worker runs.
type workerAssignment struct {
	Error        int16
	Leader       string
	LeaderURL    string
	ConfigOffset int64
	Connectors   []string
	Tasks        []TaskID
}

func (a workerAssignment) encode() []byte {
	byConn := map[string][]int32{}
	for _, c := range a.Connectors {
		byConn[c] = append(byConn[c], connectorTaskID)
	}
	for _, t := range a.Tasks {
		byConn[t.Connector] = append(byConn[t.Connector], int32(t.Task))
	}
	names := make([]string, 0, len(byConn))
	for n := range byConn {
		names = append(names, n)
	}
	sort.Strings(names)
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt16(b, a.Error)
	b = kbin.AppendString(b, a.Leader)
	b = kbin.AppendString(b, a.LeaderURL)
	b = kbin.AppendInt64(b, a.ConfigOffset)
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

func decodeWorkerAssignment(b []byte) (workerAssignment, error) {
	r := kbin.Reader{Src: b}
	var a workerAssignment
	_ = r.Int16()
	a.Error, a.Leader, a.LeaderURL, a.ConfigOffset = r.Int16(), r.String(), r.String(), r.Int64()
	for range max(r.ArrayLen(), 0) {
		name := r.String()
		for range max(r.ArrayLen(), 0) {
			if t := r.Int32(); t == connectorTaskID {
				a.Connectors = append(a.Connectors, name)
			} else {
				a.Tasks = append(a.Tasks, TaskID{Connector: name, Task: int(t)})
			}
		}
	}
	if err := r.Complete(); err != nil {
		return a, fmt.Errorf("%w: %w", errBadProtocol, err)
	}
	return a, nil
}

// assignWork spreads connectors and then tasks round-robin over the
// members (sorted by ID), continuing where the connectors stopped so that
// a connector and its first task tend to land on different workers.
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
