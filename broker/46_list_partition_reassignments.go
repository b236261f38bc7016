package broker

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments: v0
//
// Lists the reassignments in progress (KIP-455) from the metadata: each
// partition's replicas (the union of the original and target replicas),
// and the replicas being added and removed. Null topics list every
// reassignment; named partitions that are not being reassigned are left
// out, as Kafka does, and an unknown topic or partition fails the request
// with UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization: DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED).

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !r.authorizeCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
		return resp, nil
	}
	b.mu.RLock()
	all := b.meta.Reassignments()
	b.mu.RUnlock()
	want := map[string][]int32{}
	if req.Topics == nil {
		for name, parts := range all {
			for i := range parts {
				want[name] = append(want[name], i)
			}
		}
	} else {
		for _, rt := range req.Topics {
			t := b.topicByName(rt.Topic)
			for _, i := range rt.Partitions {
				if !t.hasPartition(i) {
					resp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					resp.ErrorMessage = kmsg.StringPtr("The partition " + rt.Topic + " does not exist.")
					return resp, nil
				}
				want[rt.Topic] = append(want[rt.Topic], i)
			}
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = name
		parts := want[name]
		slices.Sort(parts)
		for _, i := range slices.Compact(parts) {
			ps, ok := all[name][i]
			if !ok {
				continue
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = i
			sp.Replicas = slices.Clone(ps.Replicas)
			sp.AddingReplicas = append([]int32{}, ps.AddingReplicas...)
			sp.RemovingReplicas = append([]int32{}, ps.RemovingReplicas...)
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return resp, nil
}
