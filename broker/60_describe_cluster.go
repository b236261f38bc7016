package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-2
//
// This node is the only broker and the controller; the broker is advertised
// at the address of the listener the request came in on.
//
// Version notes:
//   - v1: EndpointType (1 brokers; 2 controllers, which a combined
//     single node answers with itself) (KIP-919)
//   - v2: IncludeFencedBrokers, IsFenced (never fenced here)

func init() { register(60, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.version >= 1 {
		if req.EndpointType != 1 && req.EndpointType != 2 {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			resp.ErrorMessage = kmsg.StringPtr("unknown endpoint type")
			return resp, nil
		}
		resp.EndpointType = req.EndpointType
	}
	adv := b.advertised(r.conn.listener)
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, adv.Host, adv.Port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp, nil
}
