package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: v1-9
//
// Special timestamps: -1 latest (the high watermark, or the last stable
// offset for read_committed), -2 earliest (the log start offset), -3 the
// record with the largest timestamp (KIP-734), -4 earliest local (the log
// start: there is no tiered storage), -5 latest tiered (none: -1). Any other
// timestamp finds the first record at or after it through the time index.
//
// Version notes:
//   - v1: one offset per partition, with its timestamp
//   - v2: IsolationLevel; v4: CurrentLeaderEpoch, LeaderEpoch
//   - v6: flexible; v7: MAX_TIMESTAMP (-3)
//   - v8: EARLIEST_LOCAL_TIMESTAMP (-4); v9: LATEST_TIERED_TIMESTAMP (-5)
//
// Authorization: DESCRIBE on each topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(2, 1, 9, handleListOffsets) }

func handleListOffsets(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	readCommitted := req.IsolationLevel == 1
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		allowed := r.authorizeTopic(kmsg.ACLOperationDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			p := t.partition(rp.Partition)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case p == nil:
				sp.ErrorCode = t.partitionError(rp.Partition).Code
			case rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.log.LeaderEpoch():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case rp.CurrentLeaderEpoch > p.log.LeaderEpoch():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				b.listOffset(p, rp.Timestamp, readCommitted, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) listOffset(p *partition, ts int64, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) {
	epoch := p.log.LeaderEpoch()
	switch ts {
	case -1:
		if p.highWatermarkLagging() {
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
			return
		}
		sp.Offset = p.highWatermark()
		if readCommitted {
			sp.Offset = p.lastStableOffset()
		}
		sp.LeaderEpoch = epoch
	case -2, -4:
		sp.Offset = p.log.LogStartOffset()
		sp.LeaderEpoch = epoch
	case -5:
		// No tiered storage: nothing is tiered.
	case -3:
		off, mts := p.log.MaxTimestamp()
		if off >= 0 && off < p.highWatermark() {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, mts, epoch
		}
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, found, err := b.offsetForTime(p, ts)
		if err != nil {
			sp.ErrorCode = fetchErrorCode(err)
			return
		}
		switch {
		case found.ok:
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, found.ts, epoch
		case p.highWatermarkLagging():
			// The record may be among those the high watermark has not
			// reached yet: "none" could be wrong.
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
		}
	}
}

type foundTS struct {
	ok bool
	ts int64
}

func (b *Broker) offsetForTime(p *partition, ts int64) (int64, foundTS, error) {
	off, rts, ok, err := p.log.OffsetForTimestamp(ts)
	if err != nil || !ok || off >= p.highWatermark() {
		return -1, foundTS{}, err
	}
	return off, foundTS{ok: true, ts: rts}, nil
}
