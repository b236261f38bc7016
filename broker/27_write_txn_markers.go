package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// WriteTxnMarkers: v0-1
//
// Broker to broker: a transaction coordinator asks the leader of each
// partition of a finished transaction to write its commit or abort marker,
// a control batch carrying the producer's ID and epoch and the
// coordinator's epoch. The leader keeps the highest coordinator epoch it
// has seen per producer (in the partition's producer state) and refuses a
// marker from an older coordinator (TRANSACTION_COORDINATOR_FENCED), as
// well as one older than the producer's epoch (INVALID_PRODUCER_EPOCH).
// Partitions it does not lead get NOT_LEADER_OR_FOLLOWER, unknown ones
// UNKNOWN_TOPIC_OR_PARTITION, and an ISR below min.insync.replicas
// NOT_ENOUGH_REPLICAS. The answer waits until the markers are replicated
// (the high watermark passes them), as acks=all does. A marker on a
// __consumer_offsets partition also commits or drops the producer's
// transactional offset commits in the group coordinator.
//
// Version notes:
//   - v1: flexible
//   - v2 (Kafka 4.2, KIP-1228: a TransactionVersion per marker) is not
//     served: the coordinators of this cluster run transaction version 1
//     (EndTxn v5 is not served either)
//
// Authorization: CLUSTER_ACTION on the cluster (else every partition gets
// CLUSTER_AUTHORIZATION_FAILED): only brokers write markers.

func init() { register(27, 0, 1, handleWriteTxnMarkers) }

// markerWrite is one appended marker waiting for the high watermark.
type markerWrite struct {
	p         *partition
	next      int64
	epoch     int32
	pid       int64
	commit    bool
	code      *int16
	completes bool // a __consumer_offsets partition
}

func handleWriteTxnMarkers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	now := time.Now().UnixMilli()
	// Shape the whole response first: the writes point into it.
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, mt := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = mt.Topic
			for _, i := range mt.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = i
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	if !r.authorizeCluster(kmsg.ACLOperationClusterAction) {
		for mi := range resp.Markers {
			for ti := range resp.Markers[mi].Topics {
				for pi := range resp.Markers[mi].Topics[ti].Partitions {
					resp.Markers[mi].Topics[ti].Partitions[pi].ErrorCode = kerr.ClusterAuthorizationFailed.Code
				}
			}
		}
		return resp, nil
	}
	var writes []markerWrite
	for mi, m := range req.Markers {
		marker := blog.ControlAbort
		if m.Committed {
			marker = blog.ControlCommit
		}
		for ti, mt := range m.Topics {
			t := b.topicByName(mt.Topic)
			for pi, i := range mt.Partitions {
				code := &resp.Markers[mi].Topics[ti].Partitions[pi].ErrorCode
				p := t.partition(i)
				switch {
				case t == nil || !t.hasPartition(i):
					*code = kerr.UnknownTopicOrPartition.Code
					continue
				case p == nil:
					*code = kerr.NotLeaderForPartition.Code
					continue
				case !p.enoughInSync():
					*code = kerr.NotEnoughReplicas.Code
					continue
				}
				epoch := p.leaderEpoch.Load()
				batch := blog.EncodeControlBatch(m.ProducerID, m.ProducerEpoch, marker, m.CoordinatorEpoch, now)
				if err := b.appendInternal(p, batch); err != nil {
					*code = markerAppendError(err).Code
					if *code != kerr.TransactionCoordinatorFenced.Code && *code != kerr.InvalidProducerEpoch.Code {
						b.logger.Warn("transaction marker refused", "topic", t.name, "partition", i, "producer", m.ProducerID, "err", err)
					}
					continue
				}
				writes = append(writes, markerWrite{p: p, next: p.log.LogEndOffset(), epoch: epoch, pid: m.ProducerID,
					commit: m.Committed, code: code, completes: t.name == offsetsTopic})
			}
		}
	}
	deadline := time.Now().Add(replicatedAppendTimeout)
	for _, w := range writes {
		if err := b.awaitHighWatermark(w.p, w.next, w.epoch, max(time.Until(deadline), time.Millisecond)); err != nil {
			switch {
			case !w.p.leading.Load() || w.p.leaderEpoch.Load() != w.epoch:
				*w.code = kerr.NotLeaderForPartition.Code
			case !w.p.enoughInSync():
				*w.code = kerr.NotEnoughReplicasAfterAppend.Code
			default:
				*w.code = kerr.RequestTimedOut.Code
			}
			continue
		}
		if w.completes {
			b.completeTxnOffsets(w.pid, w.p.index, w.commit)
		}
	}
	return resp, nil
}

// markerAppendError maps a failed marker append to its Kafka error code.
func markerAppendError(err error) *kerr.Error {
	switch {
	case errors.Is(err, txn.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced
	case errors.Is(err, txn.ErrInvalidEpoch):
		return kerr.InvalidProducerEpoch
	}
	kErr, _ := appendError(err)
	return kErr
}
