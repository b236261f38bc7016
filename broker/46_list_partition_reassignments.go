package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments: v0
//
// A single node never moves replicas, so no reassignment is ever in
// progress: the answer is always an empty list.

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	return resp, nil
}
