package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers: v0
//
// The producers a partition's log remembers (KIP-664): ID, epoch, last
// sequence and timestamp, the epoch of the coordinator that wrote its last
// transaction marker (-1 when none) and the start offset of an open
// transaction (-1 when none), as kafka-transactions.sh describe-producers
// shows them.
//
// Authorization: READ on each topic (else TOPIC_AUTHORIZATION_FAILED).

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.topicByName(rt.Topic)
		allowed := r.authorizeTopic(kmsg.ACLOperationRead, rt.Topic)
		for _, i := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = i
			p := t.partition(i)
			if !allowed {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if p == nil {
				sp.ErrorCode = t.partitionError(i).Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pi := range p.log.OngoingProducers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.ProducerEpoch)
				ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.TxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
