package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs: v0-2
//
// The legacy, whole-set form: the configs named replace every dynamic
// config of the resource (those not named go back to their defaults).
// Topic configs take effect at once; broker configs may be the broker-level
// defaults of topic configs and the connection limits, for this node or
// (empty name) cluster-wide. ValidateOnly checks and changes nothing.
//
// Version notes:
//   - v1: ThrottleMillis; v2: flexible
//
// Authorization: ALTER_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or,
// for a broker or broker logger, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		changes := make([]configChange, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			changes = append(changes, configChange{op: opSet, name: c.Name, value: c.Value})
		}
		kErr, msg := configResourceDenied(r, int8(rr.ResourceType), rr.ResourceName, kmsg.ACLOperationAlterConfigs), ""
		if kErr != nil {
			msg = kErr.Description
		} else {
			kErr, msg = b.alterResource(int8(rr.ResourceType), rr.ResourceName, changes, true, req.ValidateOnly)
		}
		if kErr != nil {
			res.ErrorCode = kErr.Code
			res.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// alterResource routes a config change to a topic or the broker.
func (b *Broker) alterResource(typ int8, name string, changes []configChange, replace, validateOnly bool) (*kerr.Error, string) {
	switch typ {
	case resourceTopic:
		return b.alterTopicConfigs(name, changes, replace, validateOnly)
	case resourceBroker:
		return b.alterBrokerConfigs(name, changes, replace, validateOnly)
	case resourceBrokerLogger:
		return kerr.InvalidRequest, "broker logger levels are not managed through AlterConfigs here"
	}
	return kerr.InvalidRequest, fmt.Sprintf("Unsupported resource type %d", typ)
}
