package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/auth"
)

// DescribeUserScramCredentials: v0 (flexible; KIP-554)
//
// Lists the SCRAM mechanisms and iteration counts of users, never their
// salts or keys. A null user list describes every user with credentials;
// a named user without any gets RESOURCE_NOT_FOUND, a user named twice
// DUPLICATE_RESOURCE (once in the results).
//
// Authorization: DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED).

func init() { register(50, 0, 0, handleDescribeUserSCRAMCredentials) }

func handleDescribeUserSCRAMCredentials(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !r.authorizeCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = scramErrMsg(kerr.ClusterAuthorizationFailed.Description)
		return resp, nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()

	var names []string
	count := map[string]int{}
	if req.Users == nil {
		names = b.meta.ScramUsers()
	} else {
		for _, u := range req.Users {
			if count[u.Name] == 0 {
				names = append(names, u.Name)
			}
			count[u.Name]++
		}
	}
	for _, name := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = name
		infos := b.meta.ScramMechanisms(name)
		switch {
		case count[name] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = scramErrMsg("Cannot describe SCRAM credentials for the same user twice in a single request")
		case len(infos) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = scramErrMsg("Attempt to describe a user credential that does not exist")
		}
		if res.ErrorCode == 0 {
			for _, in := range infos {
				m, _ := auth.ScramByName(in.Mechanism)
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = m.Code, in.Iterations
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// scramErrMsg is a response's optional error message.
func scramErrMsg(s string) *string { return &s }
