package broker

import (
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/quota"
)

// DescribeClientQuotas: v0-1 (KIP-546)
//
// Lists the client quotas of the entities that match a filter. Each
// component names an entity type and matches its exact name (match type
// 0; a nil name there means the default entity), the default entity (1)
// or any named, non-default entity (2). A strict filter matches entities
// with exactly the filter's types; otherwise an entity must have them and
// may have more (an empty filter matches every entity). A component of an
// unknown type, a type named twice, or ip together with user or client-id
// fails the whole request with INVALID_REQUEST.
//
// Version notes:
//   - v1: flexible
//
// Authorization: DESCRIBE_CONFIGS on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(48, 0, 1, handleDescribeClientQuotas) }

func handleDescribeClientQuotas(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !r.authorizeCluster(kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
		return resp, nil
	}
	if err := checkQuotaFilter(req.Components); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return resp, nil
	}
	b.mu.RLock()
	configs := b.meta.ClientQuotas()
	b.mu.RUnlock()
	for _, cfg := range configs {
		if !quotaFilterMatches(req.Components, req.Strict, cfg.Entity) {
			continue
		}
		var entry kmsg.DescribeClientQuotasResponseEntry
		for _, p := range cfg.Entity {
			ent := kmsg.DescribeClientQuotasResponseEntryEntity{Type: p.Type}
			if !p.Default {
				ent.Name = kmsg.StringPtr(p.Name)
			}
			entry.Entity = append(entry.Entity, ent)
		}
		keys := make([]string, 0, len(cfg.Values))
		for k := range cfg.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			entry.Values = append(entry.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: cfg.Values[k]})
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
}

// checkQuotaFilter checks a filter as Kafka does.
func checkQuotaFilter(cs []kmsg.DescribeClientQuotasRequestComponent) error {
	seen := map[string]bool{}
	for _, c := range cs {
		switch c.EntityType {
		case quota.EntityUser, quota.EntityClientID, quota.EntityIP:
		default:
			return fmt.Errorf("custom entity type %q not supported", c.EntityType)
		}
		if seen[c.EntityType] {
			return fmt.Errorf("duplicate %s filter component entity type", c.EntityType)
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact, kmsg.QuotasMatchTypeDefault, kmsg.QuotasMatchTypeAny:
		default:
			return fmt.Errorf("unknown match type %d", c.MatchType)
		}
	}
	if seen[quota.EntityIP] && (seen[quota.EntityUser] || seen[quota.EntityClientID]) {
		return errors.New("invalid entity filter component combination: an ip filter component cannot be used with a user or client-id one")
	}
	return nil
}

// quotaFilterMatches reports whether e matches the filter.
func quotaFilterMatches(cs []kmsg.DescribeClientQuotasRequestComponent, strict bool, e quota.Entity) bool {
	if strict && len(cs) != len(e) {
		return false
	}
	for _, c := range cs {
		p, ok := e.Get(c.EntityType)
		if !ok {
			return false
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				if !p.Default {
					return false
				}
			} else if p.Default || p.Name != *c.Match {
				return false
			}
		case kmsg.QuotasMatchTypeDefault:
			if !p.Default {
				return false
			}
		case kmsg.QuotasMatchTypeAny:
			if p.Default {
				return false
			}
		}
	}
	return true
}
