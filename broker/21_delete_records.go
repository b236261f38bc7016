package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
)

// DeleteRecords: v0-2
//
// Moves a partition's log start offset up to the requested offset (-1 means
// the high watermark), deleting whole segments below it; the new start is
// checkpointed, so a restart never brings the records back. Offsets above
// the high watermark are OFFSET_OUT_OF_RANGE.
//
// Version notes:
//   - v1: ThrottleMillis semantics; v2: flexible
//
// Authorization: DELETE on each topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		allowed := r.authorizeTopic(kmsg.ACLOperationDelete, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p := t.partition(rp.Partition)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case p == nil:
				sp.ErrorCode = t.partitionError(rp.Partition).Code
			default:
				off := rp.Offset
				hw := p.highWatermark()
				if off == -1 {
					off = hw
				}
				if off < 0 || off > hw {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				low, err := p.log.DeleteRecordsBefore(off)
				if err != nil {
					sp.ErrorCode = kerr.KafkaStorageError.Code
					if errors.Is(err, blog.ErrOffsetOutOfRange) {
						sp.ErrorCode = kerr.OffsetOutOfRange.Code
					}
					b.logger.Warn("delete records", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					break
				}
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
