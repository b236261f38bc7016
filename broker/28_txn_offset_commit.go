package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/group"
)

// TxnOffsetCommit: v0-4
//
// Commits a consumer group's offsets inside a producer's transaction
// (consume-transform-produce): the producer's ID and epoch must be current
// and the group's __consumer_offsets partition must have been added with
// AddOffsetsToTxn, which the group coordinator checks with the transaction
// coordinator, on this broker or another (KIP-890 verification). The offsets are written as a transactional batch and stay
// invisible to OffsetFetch until EndTxn's marker commits them (or drops
// them on abort).
//
// Version notes:
//   - v2: per-partition CommittedLeaderEpoch
//   - v3: GenerationID, MemberID, GroupInstanceID checked against the group
//     (KIP-447); flexible; PRODUCER_FENCED (KIP-588)
//   - v4: no field changes (KIP-890 part 1)
//
// Authorization: WRITE on the transactional ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group (else
// GROUP_AUTHORIZATION_FAILED) and READ on each topic (else
// TOPIC_AUTHORIZATION_FAILED for its partitions; the others are committed).

func init() { register(28, 0, 4, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	fenced := fencedError(r, 3)
	answer := func(codeFor func(topic string, part int32) int16) (kmsg.Response, error) {
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, codeFor(rt.Topic, rp.Partition)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		return answer(func(string, int32) int16 { return e.Code })
	}
	if !r.authorizeTxnID(kmsg.ACLOperationWrite, req.TransactionalID) {
		return fail(kerr.TransactionalIDAuthorizationFailed)
	}
	if !r.authorizeGroup(kmsg.ACLOperationRead, req.Group) {
		return fail(kerr.GroupAuthorizationFailed)
	}
	readable := r.topicAuthorizer(kmsg.ACLOperationRead) // authorize.go
	gc, kErr := b.groupCoordinator()
	if kErr != nil {
		return fail(kErr)
	}
	if kErr := b.checkTxnOffsetCommit(req, gc, fenced); kErr != nil {
		return fail(kErr)
	}
	var offsets []group.CommitOffset
	unknown := map[group.TopicPartition]bool{}
	for _, rt := range req.Topics {
		t := b.topicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			tp := group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if !readable.allowed(rt.Topic) {
				continue
			}
			if !t.hasPartition(rp.Partition) {
				unknown[tp] = true
				continue
			}
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			offsets = append(offsets, group.CommitOffset{TopicPartition: tp, Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: md, ExpireTimestamp: -1})
		}
	}
	creq := group.CommitRequest{Generation: req.Generation, MemberID: req.MemberID}
	if req.InstanceID != nil {
		creq.InstanceID = *req.InstanceID
	}
	if r.version < 3 {
		creq = group.CommitRequest{Generation: -1}
	}
	errs := gc.CommitTxnOffsets(req.Group, req.ProducerID, req.ProducerEpoch, creq, offsets)
	byTP := map[group.TopicPartition]*kerr.Error{}
	for i, o := range offsets {
		byTP[o.TopicPartition] = errs[i]
	}
	return answer(func(topic string, part int32) int16 {
		tp := group.TopicPartition{Topic: topic, Partition: part}
		if !readable.allowed(topic) {
			return kerr.TopicAuthorizationFailed.Code
		}
		if unknown[tp] {
			return kerr.UnknownTopicOrPartition.Code
		}
		if e := byTP[tp]; e != nil {
			return e.Code
		}
		return 0
	})
}

// checkTxnOffsetCommit checks the producer against its transaction, and
// that the group's offsets partition is part of it, with the transaction
// coordinator wherever it lives (txn_verify.go) — unless the producer
// already has a transaction open on the partition at this epoch.
// Coordinator trouble is COORDINATOR_NOT_AVAILABLE (retriable).
func (b *Broker) checkTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, gc *group.Coordinator, fenced *kerr.Error) *kerr.Error {
	p := b.topicByName(offsetsTopic).partition(gc.PartitionFor(req.Group))
	if p == nil {
		return kerr.NotCoordinator
	}
	if p.log.HasOngoingTxn(req.ProducerID, req.ProducerEpoch) {
		return nil
	}
	switch kErr := b.verifyTxnPartitions(req.TransactionalID, []txnCheck{{p: p, pid: req.ProducerID, epoch: req.ProducerEpoch}})[p]; kErr {
	case nil, kerr.InvalidProducerIDMapping, kerr.InvalidTxnState, kerr.ConcurrentTransactions:
		return kErr
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return fenced
	default:
		return kerr.CoordinatorNotAvailable
	}
}
