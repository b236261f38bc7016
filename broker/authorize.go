package broker

import (
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/meta"
)

// Authorization (authorizer.class.name) follows Kafka's: each handler asks
// the authorizer what KafkaApis asks, for the connection's principal and
// IP address, and answers a denial with Kafka's error code. The ACL
// bindings live in the cluster metadata (create-acls, delete-acls
// records); the broker rebuilds its immutable acl.Authorizer whenever an
// applied record or snapshot changed them, so every node authorizes with
// the ACLs it has applied.
//
// Brokers talk to each other as their inter-broker listener's principal
// (replica fetches, transaction markers need CLUSTER_ACTION on the
// cluster): make that principal a super user, e.g. super.users=User:broker
// with SASL between brokers, or User:ANONYMOUS on a PLAINTEXT
// inter-broker listener (as with Kafka).

// authzState is the broker's authorizer and what it was built from.
type authzState struct {
	cfg acl.Config
	cur atomic.Pointer[acl.Authorizer]
	// builtFrom and builtGen name the metadata the current authorizer
	// was built from (guarded by Broker.mu).
	builtFrom *meta.State
	builtGen  uint64
}

// openAuthorizer reads the authorizer settings. With authorization off,
// the authorizer allows everything.
func (b *Broker) openAuthorizer() error {
	cfg, err := acl.ConfigFromProperties(b.cfg.Properties)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	b.authz.cfg = cfg
	b.authz.cur.Store(acl.New(cfg, nil))
	if cfg.Enabled && len(b.cfg.Cluster.Voters) > 1 {
		// Followers fetch and markers are written as the inter-broker
		// principal: without a login that is User:ANONYMOUS.
		protos, _ := b.cfg.securityProtocols()
		ib := b.interBrokerListener()
		if p := protos[ib]; (p == protoPlaintext || p == protoSSL) && !b.authorizer().IsSuperUser("User:ANONYMOUS") {
			b.logger.Warn("the authorizer is on and brokers reach each other without SASL on listener "+ib+
				": replication and transaction markers need User:ANONYMOUS (or the certificate's principal) in super.users or ClusterAction on the cluster",
				"listener", ib, "protocol", p)
		}
	}
	return nil
}

// refreshAuthorizerLocked rebuilds the authorizer if the metadata's ACLs
// changed since it was built. Callers hold b.mu.
func (b *Broker) refreshAuthorizerLocked() {
	if !b.authz.cfg.Enabled || b.meta == nil {
		return
	}
	if b.authz.builtFrom == b.meta && b.authz.builtGen == b.meta.ACLGeneration() {
		return
	}
	b.authz.builtFrom, b.authz.builtGen = b.meta, b.meta.ACLGeneration()
	b.authz.cur.Store(acl.New(b.authz.cfg, b.meta.ACLs()))
}

// authorizer is the current authorizer (never nil once New returned).
func (b *Broker) authorizer() *acl.Authorizer { return b.authz.cur.Load() }

// authorize reports whether the request's principal may perform op on the
// resource.
func (r *request) authorize(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	a := r.conn.b.authorizer()
	if !a.Enabled() {
		return true
	}
	return a.Authorize(acl.Action{Principal: r.conn.principal.String(), Host: r.conn.ip, Operation: op, ResourceType: rt, ResourceName: name})
}

// authorizeCluster checks op on the CLUSTER resource.
func (r *request) authorizeCluster(op kmsg.ACLOperation) bool {
	return r.authorize(op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// authorizeTopic checks op on a topic.
func (r *request) authorizeTopic(op kmsg.ACLOperation, name string) bool {
	return r.authorize(op, kmsg.ACLResourceTypeTopic, name)
}

// authorizeGroup checks op on a group.
func (r *request) authorizeGroup(op kmsg.ACLOperation, name string) bool {
	return r.authorize(op, kmsg.ACLResourceTypeGroup, name)
}

// authorizeTxnID checks op on a transactional ID.
func (r *request) authorizeTxnID(op kmsg.ACLOperation, id string) bool {
	return r.authorize(op, kmsg.ACLResourceTypeTransactionalId, id)
}

// authorizeAnyTopic reports whether the principal may perform op on some
// topic (Kafka's authorizeByResourceType).
func (r *request) authorizeAnyTopic(op kmsg.ACLOperation) bool {
	a := r.conn.b.authorizer()
	if !a.Enabled() {
		return true
	}
	return a.AuthorizeByResourceType(r.conn.principal.String(), r.conn.ip, op, kmsg.ACLResourceTypeTopic)
}

// topicAuthorizer caches topic decisions of one request (a request may
// name a topic in many partitions).
type topicAuthorizer struct {
	r    *request
	op   kmsg.ACLOperation
	seen map[string]bool
}

func (r *request) topicAuthorizer(op kmsg.ACLOperation) *topicAuthorizer {
	return &topicAuthorizer{r: r, op: op, seen: map[string]bool{}}
}

// allowed reports whether the request may perform the operation on topic.
func (t *topicAuthorizer) allowed(topic string) bool {
	ok, seen := t.seen[topic]
	if !seen {
		ok = t.r.authorizeTopic(t.op, topic)
		t.seen[topic] = ok
	}
	return ok
}

// topicName is t's name, or name when the topic is unknown.
func topicName(t *topic, name string) string {
	if t != nil {
		return t.name
	}
	return name
}

// authorizedOperations keeps of the operations in mask (bit i for
// operation i) those the principal may perform on the resource (Kafka's
// AuthorizedOperations fields).
func (r *request) authorizedOperations(rt kmsg.ACLResourceType, name string, mask int32) int32 {
	var out int32
	for op := kmsg.ACLOperationRead; op <= kmsg.ACLOperationDescribeTokens; op++ {
		if mask&(1<<op) != 0 && r.authorize(op, rt, name) {
			out |= 1 << op
		}
	}
	return out
}

// deniedTopic applies Kafka's rule for an operation on a topic named by
// the client that may not exist: without op, the answer is
// TOPIC_AUTHORIZATION_FAILED, except for a missing topic the principal may
// DESCRIBE, which is reported as missing (nil here); so a principal learns
// nothing about topics it may not describe.
func deniedTopic(r *request, op kmsg.ACLOperation, name string, exists bool) *kerr.Error {
	if r.authorizeTopic(op, name) {
		return nil
	}
	if !exists && r.authorizeTopic(kmsg.ACLOperationDescribe, name) {
		return nil
	}
	return kerr.TopicAuthorizationFailed
}

// configResourceDenied checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource: a topic needs it on the topic (else
// TOPIC_AUTHORIZATION_FAILED), a broker or broker logger on the cluster
// (else CLUSTER_AUTHORIZATION_FAILED). Other types are left to the
// handler.
func configResourceDenied(r *request, typ int8, name string, op kmsg.ACLOperation) *kerr.Error {
	switch typ {
	case resourceTopic:
		if !r.authorizeTopic(op, name) {
			return kerr.TopicAuthorizationFailed
		}
	case resourceBroker, resourceBrokerLogger:
		if !r.authorizeCluster(op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// clusterOperations are the operations on the cluster resource, as a bit
// field (DescribeCluster's ClusterAuthorizedOperations): CREATE, ALTER,
// DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and
// IDEMPOTENT_WRITE.
const clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

// topicOperations are the operations on a topic, as a bit field
// (AuthorizedOperations of Metadata and DescribeTopicPartitions): READ,
// WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS and
// ALTER_CONFIGS.
const topicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
