package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/auth"
	"github.com/gregorhq/gregor/broker/meta"
)

// AlterUserScramCredentials: v0 (flexible; KIP-554)
//
// Upserts and deletes SCRAM-SHA-256 (mechanism 1) and SCRAM-SHA-512 (2)
// credentials. The client salts the password (Hi(password, salt, i)); the
// broker keeps only the salt, the iterations and the stored and server
// keys derived from it, in the cluster metadata (a scram-credentials
// record per user, so a user's changes apply together). One result per
// user, with Kafka's checks:
//   - UNACCEPTABLE_CREDENTIAL: empty user name, iterations outside
//     4096-16384, empty salt or salted password
//   - UNSUPPORTED_SASL_MECHANISM: a mechanism other than 1 and 2
//   - DUPLICATE_RESOURCE: the same user and mechanism twice in a request
//   - RESOURCE_NOT_FOUND: deleting a credential that does not exist
//
// A user with any failed change has none of its changes applied.
//
// Authorization: ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED for
// every user).

func init() { register(51, 0, 0, handleAlterUserSCRAMCredentials) }

// userChanges are one user's validated changes, or the first error.
type userChanges struct {
	user    string
	changes []meta.ScramChange
	code    *kerr.Error
	msg     string
}

func handleAlterUserSCRAMCredentials(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)

	var order []*userChanges
	byUser := map[string]*userChanges{}
	seen := map[[2]string]bool{}
	userOf := func(name string) *userChanges {
		u := byUser[name]
		if u == nil {
			u = &userChanges{user: name}
			byUser[name] = u
			order = append(order, u)
		}
		return u
	}
	fail := func(u *userChanges, code *kerr.Error, msg string) {
		if u.code == nil {
			u.code, u.msg = code, msg
		}
	}
	// check validates what deletions and upsertions share and returns the
	// mechanism.
	check := func(u *userChanges, code int8) (auth.ScramMechanism, bool) {
		if u.user == "" {
			fail(u, kerr.UnacceptableCredential, "Username must not be empty")
			return auth.ScramMechanism{}, false
		}
		m, ok := auth.ScramByCode(code)
		if !ok {
			fail(u, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
			return m, false
		}
		key := [2]string{u.user, m.Name}
		if seen[key] {
			fail(u, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
			return m, false
		}
		seen[key] = true
		return m, true
	}
	for _, d := range req.Deletions {
		u := userOf(d.Name)
		if m, ok := check(u, d.Mechanism); ok {
			u.changes = append(u.changes, meta.ScramChange{User: u.user, Mechanism: m.Name})
		}
	}
	for _, up := range req.Upsertions {
		u := userOf(up.Name)
		m, ok := check(u, up.Mechanism)
		if !ok {
			continue
		}
		switch {
		case int(up.Iterations) < m.MinIterations:
			fail(u, kerr.UnacceptableCredential, "Too few iterations")
		case int(up.Iterations) > m.MaxIterations:
			fail(u, kerr.UnacceptableCredential, "Too many iterations")
		case len(up.Salt) == 0 || len(up.SaltedPassword) == 0:
			fail(u, kerr.UnacceptableCredential, "Salt and salted password must not be empty")
		default:
			c := m.CredentialFromSalted(up.SaltedPassword, up.Salt, int(up.Iterations))
			u.changes = append(u.changes, meta.ScramChange{User: u.user, Mechanism: m.Name, Credential: &meta.ScramCredential{
				Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: up.Iterations,
			}})
		}
	}

	clusterOK := r.authorizeCluster(kmsg.ACLOperationAlter)
	for _, u := range order {
		if !clusterOK {
			u.code, u.msg = kerr.ClusterAuthorizationFailed, kerr.ClusterAuthorizationFailed.Description
		}
		if u.code == nil {
			b.alterScram(u)
		}
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u.user
		if u.code != nil {
			res.ErrorCode = u.code.Code
			msg := u.msg
			res.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// alterScram writes one user's changes to the metadata, recording an
// error in u.
func (b *Broker) alterScram(u *userChanges) {
	b.mu.RLock()
	for _, c := range u.changes {
		if _, ok := b.meta.ScramCredential(u.user, c.Mechanism); c.Credential == nil && !ok {
			u.code, u.msg = kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist"
		}
	}
	b.mu.RUnlock()
	if u.code != nil {
		return
	}
	err := b.propose(context.Background(), meta.Record{Type: meta.RecordScramCredentials, Scram: u.changes})
	switch {
	case err == nil:
		b.logger.Info("altered SCRAM credentials", "user", u.user, "changes", len(u.changes))
	case errors.Is(err, meta.ErrConflict):
		u.code, u.msg = kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist"
	default:
		u.code, u.msg = metadataErrorCode(err), err.Error()
	}
}
