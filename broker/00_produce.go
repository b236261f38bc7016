package broker

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/txn"
)

// Produce: v3-13
//
// Each partition's records must be exactly one magic-v2 record batch (older
// message formats, Produce v0-2, are not served). The batch is validated
// (size against the topic's max.message.bytes, CRC-32C, record count and
// offset span, codec, timestamps against message.timestamp.before/after.max.ms,
// no client-sent control batches, sequence numbers for idempotent producers)
// and appended as received apart from the fields Kafka's validator assigns:
// base offset, partition leader epoch and, for LogAppendTime topics, the
// timestamp (with the CRC recomputed); a topic whose compression.type names
// a codec gets the batch recompressed to it. acks=0 gets no response; acks=1 and
// acks=-1 are answered after the append (and, under the durable flush
// policy, after the fsync that covers it, with group commit).
//
// Version notes:
//   - v3: record batches (magic v2), TransactionalID
//   - v5: LogStartOffset in the response
//   - v7: zstd allowed (KIP-110)
//   - v8: per-record errors and an ErrorMessage (KIP-467)
//   - v9: flexible
//   - v10: CurrentLeader / NodeEndpoints tagged fields (not needed on one node)
//   - v12: KIP-890 part 1: a transactional batch must go to a partition the
//     producer added to its ongoing transaction (else INVALID_TXN_STATE),
//     checked with the coordinator on whichever broker it lives
//     (txn_verify.go; NOT_ENOUGH_REPLICAS while it cannot be reached)
//   - v13: topics named by ID (KIP-516)
//
// Authorization: a request with a transactional ID needs WRITE on it (else
// every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED); each topic
// needs WRITE (else TOPIC_AUTHORIZATION_FAILED, whether it exists or not).
// A denied partition appends nothing.

func init() { register(0, 3, 13, handleProduce) }

// pendingSync is a partition that got data in this request and, under the
// durable flush policy, must be fsync'd before the response goes out.
type pendingSync struct {
	p              *partition
	next           int64 // offset after the appended batch
	topic, partIdx int   // where its result sits in the response
}

func handleProduce(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acksOK := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	now := time.Now()

	if req.TransactionID != nil && !r.authorizeTxnID(kmsg.ACLOperationWrite, *req.TransactionID) {
		return produceRefused(req, resp, kerr.TransactionalIDAuthorizationFailed), nil
	}
	writable := r.topicAuthorizer(kmsg.ACLOperationWrite) // authorize.go
	var pending []pendingSync
	var waits []replicationWait
	verdicts := b.txnProduceVerdicts(req, r.version) // txn_verify.go
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		topicErr := kerr.UnknownTopicOrPartition
		if r.version >= 13 {
			t = b.topicByID(uuid.UUID(rt.TopicID))
			topicErr = kerr.UnknownTopicID
		} else {
			t = b.topicByName(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			p := t.partition(rp.Partition)
			if t != nil {
				t.metrics.totalProduce.Add(1)
			}
			switch {
			case !acksOK:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case !(t == nil && r.version >= 13) && !writable.allowed(topicName(t, rt.Topic)):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil:
				sp.ErrorCode = topicErr.Code
			case p == nil:
				sp.ErrorCode = t.partitionError(rp.Partition).Code
				b.produceLeaderHint(r, resp, &sp, t, rp.Partition)
			case t.internal:
				// Only the broker writes __consumer_offsets and __transaction_state.
				sp.ErrorCode = kerr.InvalidTopicException.Code
				if r.version >= 8 {
					sp.ErrorMessage = kmsg.StringPtr("Cannot append to internal topic " + t.name)
				}
			case req.Acks == -1 && !p.enoughInSync():
				// acks=all with the ISR below min.insync.replicas: refused
				// before anything is appended.
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				t.metrics.failedProduce.Add(1)
				if r.version >= 8 {
					sp.ErrorMessage = kmsg.StringPtr(p.inSyncMessage())
				}
			default:
				// The batch is stamped with the leader epoch read here; it
				// is appended only while this node still leads in it
				// (appendAsLeader), and an acks=all wait holds only while
				// it still does.
				epoch := p.log.LeaderEpoch()
				next, kErr, msg := b.produceTo(p, epoch, rp.Records, r.version, req, now, &sp, verdicts)
				if kErr == nil {
					if b.cfg.FlushPolicy == FlushDurable && req.Acks != 0 {
						pending = append(pending, pendingSync{p: p, next: next, topic: len(resp.Topics), partIdx: len(st.Partitions)})
					} else {
						p.localAppended(next)
					}
					if req.Acks == -1 {
						waits = append(waits, replicationWait{p: p, next: next, epoch: epoch, topic: len(resp.Topics), partIdx: len(st.Partitions)})
					}
				}
				if kErr != nil {
					t.metrics.produceFailed(kErr, len(rp.Records))
					sp.ErrorCode = kErr.Code
					if msg != "" && r.version >= 8 {
						sp.ErrorMessage = kmsg.StringPtr(msg)
					}
					if kErr != kerr.OutOfOrderSequenceNumber && kErr != kerr.InvalidProducerEpoch {
						b.logger.Debug("produce rejected", "topic", t.name, "partition", p.index, "code", kErr.Message, "why", msg)
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(pending) > 0 {
		b.syncAppended(resp, pending)
	}
	if len(waits) > 0 {
		b.awaitReplication(r, resp, waits, time.Duration(req.TimeoutMillis)*time.Millisecond) // replication.go
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// produceLeaderHint adds the partition's current leader to a
// NOT_LEADER_OR_FOLLOWER answer (v10+, KIP-951), and the leader's endpoint
// to the response once.
func (b *Broker) produceLeaderHint(r *request, resp *kmsg.ProduceResponse, sp *kmsg.ProduceResponseTopicPartition, t *topic, partition int32) {
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || r.version < 10 {
		return
	}
	h := b.hintFor(t, partition, r.conn.listener)
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = h.leader, h.epoch
	if h.endpoint != nil && !slices.ContainsFunc(resp.Brokers, func(x kmsg.ProduceResponseBroker) bool { return x.NodeID == h.leader }) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: h.leader, Host: h.endpoint.host, Port: h.endpoint.port})
	}
}

// produceRefused answers every partition of a produce with code (nil for
// acks=0, which gets no response).
func produceRefused(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code *kerr.Error) kmsg.Response {
	if req.Acks == 0 {
		return nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code.Code
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// produceTo validates and appends one partition's batch in leader epoch
// epoch, filling sp. It returns the offset after the batch. verdicts are
// the transaction verifications of the request's batches.
func (b *Broker) produceTo(p *partition, epoch int32, records []byte, version int16, req *kmsg.ProduceRequest, now time.Time, sp *kmsg.ProduceResponseTopicPartition, verdicts map[*partition]*kerr.Error) (int64, *kerr.Error, string) {
	set := p.topic.settings.Load()
	size := len(records) // as received, before any recompression
	if len(records) > int(set.maxMessageBytes) {
		return 0, kerr.MessageTooLarge, fmt.Sprintf("batch of %d bytes exceeds max.message.bytes %d", len(records), set.maxMessageBytes)
	}
	h, err := blog.ValidateBatch(records)
	if err != nil {
		if errors.Is(err, blog.ErrBatchMagic) {
			return 0, kerr.UnsupportedForMessageFormat, err.Error()
		}
		return 0, kerr.CorruptMessage, err.Error()
	}
	if h.Size() != len(records) {
		return 0, kerr.InvalidRecord, "a produce request must carry exactly one record batch per partition"
	}
	if h.IsControl() {
		return 0, kerr.InvalidRecord, "clients may not send control batches"
	}
	if h.RecordCount <= 0 {
		return 0, kerr.InvalidRecord, "record batch has no records"
	}
	if h.LastOffsetDelta != h.RecordCount-1 { // a client batch has no offset gaps
		return 0, kerr.InvalidRecord, fmt.Sprintf("inconsistent batch offset range and record count: %d records, last offset delta %d", h.RecordCount, h.LastOffsetDelta)
	}
	switch c := h.Compression(); {
	case c > blog.CompressionZstd:
		return 0, kerr.CorruptMessage, fmt.Sprintf("unknown compression codec %d", c)
	case c == blog.CompressionZstd && version < 7:
		return 0, kerr.UnsupportedCompressionType, "zstd needs Produce v7 or newer"
	}
	// Decode every record, as Kafka's validator does, so a batch whose
	// CRC holds but whose records do not decode is never stored.
	nullKey, err := blog.ValidateRecords(records)
	if err != nil {
		return 0, kerr.CorruptMessage, err.Error()
	}
	if nullKey && set.compaction { // compacted topics need a key on every record
		return 0, kerr.InvalidRecord, blog.ErrNullKey.Error()
	}
	if set.recompress && h.Compression() != set.codec {
		if records, err = blog.Recompress(records, set.codec); err != nil {
			return 0, kerr.CorruptMessage, err.Error()
		}
	}
	if h.IsTransactional() {
		if req.TransactionID == nil {
			return 0, kerr.InvalidRecord, "transactional batch in a produce request without a transactional ID"
		}
		if kErr := verdicts[p]; kErr != nil {
			return 0, kErr, "transaction verification: " + kErr.Message
		}
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return 0, kerr.InvalidRecord, "idempotent batch without a sequence number"
	}
	opts := blog.AppendOptions{LeaderEpoch: epoch}
	nowMs := now.UnixMilli()
	if set.logAppendTime {
		opts.LogAppendTime = nowMs
	} else {
		if nowMs-h.BaseTimestamp > set.tsBeforeMaxMs || nowMs-h.MaxTimestamp > set.tsBeforeMaxMs {
			return 0, kerr.InvalidTimestamp, fmt.Sprintf("timestamp %d is more than message.timestamp.before.max.ms (%d) before broker time", h.BaseTimestamp, set.tsBeforeMaxMs)
		}
		if h.MaxTimestamp-nowMs > set.tsAfterMaxMs || h.BaseTimestamp-nowMs > set.tsAfterMaxMs {
			return 0, kerr.InvalidTimestamp, fmt.Sprintf("timestamp %d is more than message.timestamp.after.max.ms (%d) after broker time", h.MaxTimestamp, set.tsAfterMaxMs)
		}
	}
	if p.deleted.Load() {
		return 0, kerr.UnknownTopicOrPartition, ""
	}
	res, err := p.appendAsLeader(records, opts) // partition.go
	if err != nil {
		if errors.Is(err, blog.ErrStorage) {
			b.dirHealth.refused(p.topic.name, p.index, len(records), err)
		}
		kErr, msg := appendError(err)
		return 0, kErr, msg
	}
	if !res.Duplicate { // a duplicate wrote nothing, so proves nothing about the disk
		b.dirHealth.accepted()
		p.topic.metrics.messagesIn.Add(uint64(h.RecordCount))
		p.topic.metrics.bytesIn.Add(uint64(size))
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogStartOffset = res.LogStartOffset
	if set.logAppendTime {
		sp.LogAppendTime = nowMs
		if res.Duplicate {
			sp.LogAppendTime = res.MaxTimestamp
		}
	}
	return res.LastOffset + 1, nil, ""
}

// syncAppended fsyncs every partition this request appended to (in
// parallel; each log groups concurrent syncs into one) and only then makes
// the data visible by advancing the high watermark.
func (b *Broker) syncAppended(resp *kmsg.ProduceResponse, pending []pendingSync) {
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i := range pending {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = pending[i].p.log.Sync(pending[i].next)
		}(i)
	}
	wg.Wait()
	for i, ps := range pending {
		if errs[i] != nil {
			kErr, _ := appendError(errs[i])
			resp.Topics[ps.topic].Partitions[ps.partIdx].ErrorCode = kErr.Code
			b.logger.Error("sync failed", "topic", ps.p.topic.name, "partition", ps.p.index, "err", errs[i])
			continue
		}
		ps.p.localAppended(ps.next)
	}
}

// produceTooOld answers a Produce v0-2 (message format v0/v1, which this
// broker does not store) with UNSUPPORTED_VERSION for every partition, and
// says why in the log. acks=0 requests get no answer, as always.
func produceTooOld(b *Broker, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ProduceRequest)
	b.logger.Warn(fmt.Sprintf("refusing Produce v%d: message format v0/v1 is not supported; use a client that sends Produce v3+ (Kafka 0.11+)", r.version),
		"remote", r.conn.remote, "client", r.clientID)
	if req.Acks == 0 {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnsupportedVersion.Code
			sp.BaseOffset, sp.LogAppendTime = -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// appendError maps a log append failure to its Kafka error code.
func appendError(err error) (*kerr.Error, string) {
	switch {
	case errors.Is(err, txn.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber, err.Error()
	case errors.Is(err, txn.ErrInvalidEpoch):
		return kerr.InvalidProducerEpoch, err.Error()
	case errors.Is(err, blog.ErrStorage):
		return kerr.KafkaStorageError, err.Error()
	case errors.Is(err, blog.ErrClosed), errors.Is(err, blog.ErrStaleLeaderEpoch), errors.Is(err, errNotLeading):
		return kerr.NotLeaderForPartition, err.Error()
	}
	return kerr.UnknownServerError, err.Error()
}
