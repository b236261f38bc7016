package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/broker/brokertest"
)

// aclBroker starts a broker with the standard authorizer on a
// SASL_PLAINTEXT listener with PLAIN users admin (a super user), alice and
// bob, each with the password <name>-secret.
func aclBroker(t *testing.T, opts ...brokertest.Option) *brokertest.Broker {
	t.Helper()
	base := []brokertest.Option{
		brokertest.WithProperty("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "PLAIN"),
		brokertest.WithProperty("listener.name.sasl_plaintext.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required `+
				`user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";`),
		brokertest.WithProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		brokertest.WithProperty("super.users", "User:admin"),
	}
	return brokertest.Start(t, append(base, opts...)...)
}

// userClient is a client that logs in as user (password user-secret).
func userClient(t *testing.T, addr, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second),
		kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// binding is one ACL to create.
func binding(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, perm
	return c
}

func allowTo(principal string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) kmsg.CreateACLsRequestCreation {
	return binding(rt, name, kmsg.ACLResourcePatternTypeLiteral, principal, op, kmsg.ACLPermissionTypeAllow)
}

// createACLs creates bindings through cl and fails the test on any error.
func createACLs(t *testing.T, cl *kgo.Client, cs ...kmsg.CreateACLsRequestCreation) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = cs
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			t.Fatalf("create ACL %d: %v", i, err)
		}
	}
}

func anyFilter() *kmsg.DescribeACLsRequest {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return req
}

// countACLs describes every ACL through cl.
func countACLs(t *testing.T, cl *kgo.Client, req *kmsg.DescribeACLsRequest) int {
	t.Helper()
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("describe ACLs: %v", err)
	}
	n := 0
	for _, r := range resp.Resources {
		n += len(r.ACLs)
	}
	return n
}

func TestACLAPIs(t *testing.T) {
	b := aclBroker(t)
	admin := userClient(t, b.Addr(), "admin")
	alice := userClient(t, b.Addr(), "alice")
	ctx := context.Background()

	createACLs(t, admin,
		allowTo("User:alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "orders"),
		binding(kmsg.ACLResourceTypeTopic, "logs-", kmsg.ACLResourcePatternTypePrefixed, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow),
		binding(kmsg.ACLResourceTypeGroup, "*", kmsg.ACLResourcePatternTypeLiteral, "User:*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeDeny),
		allowTo("User:alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "orders"), // again: no change
	)
	if n := countACLs(t, admin, anyFilter()); n != 3 {
		t.Fatalf("%d ACLs, want 3", n)
	}
	match := anyFilter()
	match.ResourceType, match.ResourcePatternType, match.ResourceName = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeMatch, kmsg.StringPtr("logs-app")
	if n := countACLs(t, admin, match); n != 1 {
		t.Fatalf("MATCH logs-app: %d ACLs, want 1", n)
	}

	// Bad bindings and filters are INVALID_REQUEST, each on its own.
	bad := binding(kmsg.ACLResourceTypeCluster, "not-the-cluster", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow)
	noType := allowTo("alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "t")
	good := allowTo("User:alice", kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, "g")
	creq := kmsg.NewPtrCreateACLsRequest()
	creq.Creations = []kmsg.CreateACLsRequestCreation{bad, noType, good}
	cresp, err := creq.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if c := cresp.Results; c[0].ErrorCode != kerr.InvalidRequest.Code || c[1].ErrorCode != kerr.InvalidRequest.Code || c[2].ErrorCode != 0 {
		t.Fatalf("create results %+v", c)
	}
	unknown := anyFilter()
	unknown.Operation = kmsg.ACLOperationUnknown
	if resp, err := unknown.RequestWith(ctx, admin); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe with UNKNOWN operation: %v %v", resp, err)
	}

	// Alice may neither change nor list ACLs.
	creq.Creations = []kmsg.CreateACLsRequestCreation{good}
	if cresp, err := creq.RequestWith(ctx, alice); err != nil || cresp.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alice creates: %+v %v", cresp, err)
	}
	if resp, err := anyFilter().RequestWith(ctx, alice); err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alice describes: %+v %v", resp, err)
	}
	dreq := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeGroup, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dreq.Filters = []kmsg.DeleteACLsRequestFilter{f}
	if dresp, err := dreq.RequestWith(ctx, alice); err != nil || dresp.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alice deletes: %+v %v", dresp, err)
	}

	// The ACLs are in the metadata: they survive a restart.
	b.Restart()
	admin = userClient(t, b.Addr(), "admin")
	if n := countACLs(t, admin, anyFilter()); n != 4 {
		t.Fatalf("after restart: %d ACLs, want 4", n)
	}
	dresp, err := dreq.RequestWith(ctx, admin)
	if err != nil || dresp.Results[0].ErrorCode != 0 || len(dresp.Results[0].MatchingACLs) != 2 {
		t.Fatalf("delete group ACLs: %+v %v", dresp, err)
	}
	if n := countACLs(t, admin, anyFilter()); n != 2 {
		t.Fatalf("after delete: %d ACLs, want 2", n)
	}
}

func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	b := brokertest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := anyFilter().RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("describe: %+v %v", resp, err)
	}
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = []kmsg.CreateACLsRequestCreation{allowTo("User:alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "t")}
	cresp, err := req.RequestWith(context.Background(), cl)
	if err != nil || cresp.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("create: %+v %v", cresp, err)
	}
}

func TestACLBadAuthorizerConfig(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Listeners = []broker.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = t.TempDir()
	cfg.Properties["authorizer.class.name"] = "com.example.MyAuthorizer"
	if b, err := broker.New(cfg); !errors.Is(err, broker.ErrBadConfig) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("an unknown authorizer class: %v", err)
	}
}
