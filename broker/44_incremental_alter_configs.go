package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs: v0-1
//
// Changes only the configs named, with SET, DELETE (back to the inherited
// value), APPEND and SUBTRACT (list configs such as cleanup.policy), for
// topics and brokers, validated as in AlterConfigs (KIP-339).
//
// Version notes:
//   - v1: flexible
//
// Authorization: ALTER_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED) or,
// for a broker or broker logger, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		changes := make([]configChange, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			changes = append(changes, configChange{op: int8(c.Op), name: c.Name, value: c.Value})
		}
		kErr, msg := configResourceDenied(r, int8(rr.ResourceType), rr.ResourceName, kmsg.ACLOperationAlterConfigs), ""
		if kErr != nil {
			msg = kErr.Description
		} else {
			kErr, msg = b.alterResource(int8(rr.ResourceType), rr.ResourceName, changes, false, req.ValidateOnly)
		}
		if kErr != nil {
			res.ErrorCode = kErr.Code
			res.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}
