package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
	"github.com/gregorhq/gregor/broker/quota"
)

// AlterClientQuotas: v0-1 (KIP-546)
//
// Sets and removes client quotas of user, client-id, user+client-id and
// ip entities (a nil name is the entity type's default). Every entry is
// checked as Kafka checks it, failing alone with INVALID_REQUEST: known
// entity types, each at most once, ip never with user or client-id, an
// IP address for an ip name, a non-empty user name, known keys for the
// entity (producer_byte_rate, consumer_byte_rate, request_percentage,
// controller_mutation_rate; connection_creation_rate for ip), each key
// once, and a positive value (whole for the byte rates and
// connection_creation_rate). The valid entries are written to the cluster
// metadata as one client-quotas record, so they apply together on every
// node and survive restarts. ValidateOnly checks and writes nothing.
//
// Version notes:
//   - v1: flexible
//
// Authorization: ALTER_CONFIGS on the cluster (else every entry fails with
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(49, 0, 1, handleAlterClientQuotas) }

func handleAlterClientQuotas(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)

	var changes []meta.QuotaChange
	var valid []int // indexes into resp.Entries of entries to write
	clusterOK := r.authorizeCluster(kmsg.ACLOperationAlterConfigs)
	for _, entry := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, e := range entry.Entity {
			re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: e.Type, Name: e.Name})
		}
		ec, err := alterQuotaChanges(entry)
		if !clusterOK {
			re.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			re.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
		} else if err != nil {
			re.ErrorCode = kerr.InvalidRequest.Code
			re.ErrorMessage = kmsg.StringPtr(err.Error())
		} else {
			changes = append(changes, ec...)
			valid = append(valid, len(resp.Entries))
		}
		resp.Entries = append(resp.Entries, re)
	}
	if req.ValidateOnly || len(changes) == 0 {
		return resp, nil
	}
	if err := b.propose(context.Background(), meta.Record{Type: meta.RecordClientQuotas, Quotas: changes}); err != nil {
		code := metadataErrorCode(err)
		for _, i := range valid {
			resp.Entries[i].ErrorCode = code.Code
			resp.Entries[i].ErrorMessage = kmsg.StringPtr(err.Error())
		}
		return resp, nil
	}
	b.logger.Info("altered client quotas", "entries", len(valid), "changes", len(changes), "principal", r.conn.principal.String())
	return resp, nil
}

// alterQuotaChanges validates one entry and returns its changes.
func alterQuotaChanges(entry kmsg.AlterClientQuotasRequestEntry) ([]meta.QuotaChange, error) {
	e, err := quotaEntity(entry.Entity)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []meta.QuotaChange
	for _, op := range entry.Ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("duplicate quota key %q", op.Key)
		}
		seen[op.Key] = true
		if op.Remove {
			err = quota.ValidateKey(e, op.Key)
		} else {
			err = quota.ValidateValue(e, op.Key, op.Value)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, meta.QuotaChange{Entity: e, Key: op.Key, Value: op.Value, Remove: op.Remove})
	}
	return out, nil
}

// quotaEntity turns a request's entity into a quota.Entity.
func quotaEntity(parts []kmsg.AlterClientQuotasRequestEntryEntity) (quota.Entity, error) {
	var ps []quota.Part
	for _, p := range parts {
		if p.Name == nil {
			ps = append(ps, quota.Part{Type: p.Type, Default: true})
			continue
		}
		if *p.Name == "" && p.Type == quota.EntityUser {
			return nil, fmt.Errorf("%w: the user name must not be empty", quota.ErrInvalid)
		}
		ps = append(ps, quota.Part{Type: p.Type, Name: *p.Name})
	}
	return quota.NewEntity(ps...)
}
