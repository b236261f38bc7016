package group

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record key versions in __consumer_offsets, as Kafka writes them.
const (
	offsetKeyVersion = 1 // OffsetCommitKey (0 is also read)
	groupKeyVersion  = 2 // GroupMetadataKey
)

// ErrBadRecord is returned for a __consumer_offsets record that cannot be
// decoded.
var ErrBadRecord = errors.New("bad __consumer_offsets record")

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// offsetRecord encodes a commit: value version 3, or version 1 when the
// commit carries an explicit expiry (only v1 has that field).
func offsetRecord(group string, tp TopicPartition, o Offset) Record {
	v := kmsg.OffsetCommitValue{Version: 3, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimestamp: o.CommitTimestamp, ExpireTimestamp: -1}
	if o.ExpireTimestamp >= 0 {
		v.Version = 1
		v.ExpireTimestamp = o.ExpireTimestamp
	}
	return Record{Key: offsetKey(group, tp), Value: v.AppendTo(nil)}
}

func (g *Group) metadataRecord(now int64) Record {
	assign := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		assign[id] = m.assignment
	}
	return g.metadataRecordWith(now, assign)
}

// metadataRecordWith encodes the group metadata (value version 3) with the
// given assignment.
func (g *Group) metadataRecordWith(now int64, assign map[string][]byte) Record {
	v := kmsg.GroupMetadataValue{Version: 3, ProtocolType: g.protocolType, Generation: g.generation, CurrentStateTimestamp: g.stateTimestamp}
	if len(g.members) > 0 {
		v.Protocol = kmsg.StringPtr(g.protocol)
		v.Leader = kmsg.StringPtr(g.leader)
	}
	if g.stateTimestamp == 0 {
		v.CurrentStateTimestamp = now
	}
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.GroupMetadataValueMember{
			MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost,
			RebalanceTimeoutMillis: m.rebalanceTimeoutMs, SessionTimeoutMillis: m.sessionTimeoutMs,
			Subscription: orEmpty(m.metadataFor(g.protocol)), Assignment: orEmpty(assign[id]),
		}
		if m.instanceID != "" {
			vm.InstanceID = kmsg.StringPtr(m.instanceID)
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// subscriptions returns the topics a "consumer" group's members subscribe
// to, or nil when that cannot be known.
func (g *Group) subscriptions() map[string]bool {
	if g.protocolType != "consumer" {
		return nil
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}

// decodedRecord is one decoded __consumer_offsets record.
type decodedRecord struct {
	group  string
	offset *TopicPartition // set for an offset commit record
}

// decodeKey decodes a record key. ok is false for record types this
// coordinator does not keep (KIP-848 and newer records), which are skipped.
func decodeKey(key []byte) (decodedRecord, bool, error) {
	if len(key) < 2 {
		return decodedRecord{}, false, fmt.Errorf("%w: %d-byte key", ErrBadRecord, len(key))
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return decodedRecord{}, false, fmt.Errorf("%w: offset commit key: %w", ErrBadRecord, err)
		}
		return decodedRecord{group: k.Group, offset: &TopicPartition{Topic: k.Topic, Partition: k.Partition}}, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return decodedRecord{}, false, fmt.Errorf("%w: group metadata key: %w", ErrBadRecord, err)
		}
		return decodedRecord{group: k.Group}, true, nil
	}
	return decodedRecord{}, false, nil
}

func decodeOffset(value []byte) (Offset, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return Offset{}, fmt.Errorf("%w: offset commit value: %w", ErrBadRecord, err)
	}
	o := Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTimestamp: v.CommitTimestamp, ExpireTimestamp: -1}
	if v.Version >= 3 {
		o.LeaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.ExpireTimestamp = v.ExpireTimestamp
	}
	return o, nil
}

// restore replaces the group's membership with a stored group metadata
// value. A group with members comes back Stable; their sessions restart
// when the load finishes (Loaded).
func (g *Group) restore(value []byte) error {
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("%w: group metadata value: %w", ErrBadRecord, err)
	}
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.stateTimestamp = v.CurrentStateTimestamp
	clear(g.members)
	clear(g.static)
	g.order = g.order[:0]
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			sessionTimeoutMs: vm.SessionTimeoutMillis, rebalanceTimeoutMs: vm.RebalanceTimeoutMillis,
			protocolType: v.ProtocolType, assignment: vm.Assignment,
		}
		if v.Version < 1 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		if g.protocol != "" {
			m.protocols = []Protocol{{Name: g.protocol, Metadata: vm.Subscription}}
		}
		if vm.InstanceID != nil && *vm.InstanceID != "" {
			m.instanceID = *vm.InstanceID
			g.static[m.instanceID] = m.id
		}
		g.members[m.id] = m
		g.addToOrder(m.id)
	}
	if len(g.members) > 0 {
		g.state = Stable
		g.subscribed = g.subscriptions()
	} else {
		g.state = Empty
		g.subscribed = nil
	}
	return nil
}

// Loaded is called once the group's partition has been read back: members
// of a restored group get a fresh session from now.
func (g *Group) Loaded(now int64) Output {
	var out Output
	for _, id := range g.order {
		m := g.members[id]
		m.armedAt = 0
		g.touch(now, m, &out)
	}
	return out
}
