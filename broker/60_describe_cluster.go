package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
)

// DescribeCluster: v0-2
//
// Brokers are the registered, unfenced ones (fenced too when asked, v2) at
// their endpoint for the listener the request came in on; the controller
// ID is the active controller when it is also a broker, as KRaft tells
// clients. EndpointType 2 lists the controller quorum's voters (a single
// node with no quorum settings answers with itself).
//
// Version notes:
//   - v1: EndpointType (1 brokers; 2 controllers, which a combined
//     single node answers with itself) (KIP-919)
//   - v2: IncludeFencedBrokers, IsFenced (never fenced here)
//
// Authorization: none, as in Kafka; ClusterAuthorizedOperations is filled in
// when asked for and the principal may DESCRIBE the cluster.

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
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = b.clientControllerID()
	if req.IncludeClusterAuthorizedOperations && r.authorizeCluster(kmsg.ACLOperationDescribe) {
		resp.ClusterAuthorizedOperations = r.authorizedOperations(kmsg.ACLResourceTypeCluster, acl.ClusterName, clusterOperations)
	}
	if r.version >= 1 && req.EndpointType == 2 {
		// Controllers: reachable only on their controller listeners.
		resp.ControllerID = b.controllerNode()
		for _, v := range b.controllerEndpoints() {
			br := kmsg.NewDescribeClusterResponseBroker()
			br.NodeID, br.Host, br.Port = v.id, v.host, v.port
			resp.Brokers = append(resp.Brokers, br)
		}
		return resp, nil
	}
	for _, cb := range b.clientBrokers(r.conn.listener, r.version >= 2 && req.IncludeFencedBrokers) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack, br.IsFenced = cb.id, cb.host, cb.port, cb.rack, cb.fenced
		resp.Brokers = append(resp.Brokers, br)
	}
	return resp, nil
}
