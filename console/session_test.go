package console_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/console"
)

// TestLoginSCRAM runs the console against a broker whose only client
// listener for the console is SASL_PLAINTEXT with SCRAM and an
// authorizer: the console asks for credentials, and the broker's ACLs
// decide what each user sees.
func TestLoginSCRAM(t *testing.T) {
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
		brokertest.WithProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		brokertest.WithProperty("super.users", "User:ANONYMOUS;User:admin"),
	)
	saslAddr, ok := b.Broker().ListenerAddr("SASL_PLAINTEXT")
	if !ok {
		t.Fatal("no SASL_PLAINTEXT listener")
	}
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var ups []kadm.UpsertSCRAM
	for _, u := range []string{"admin", "alice", "bob"} {
		ups = append(ups, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: u + "-secret"})
	}
	if res, err := adm.AlterUserSCRAMs(ctx, nil, ups); err != nil || res.Error() != nil {
		t.Fatalf("users: %v %v", err, res.Error())
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "shared"); err != nil {
		t.Fatal(err)
	}
	acl := kmsg.NewCreateACLsRequestCreation()
	acl.ResourceType, acl.ResourceName, acl.ResourcePatternType = kmsg.ACLResourceTypeTopic, "shared", kmsg.ACLResourcePatternTypeLiteral
	acl.Principal, acl.Host, acl.Operation, acl.PermissionType = "User:alice", "*", kmsg.ACLOperationDescribe, kmsg.ACLPermissionTypeAllow
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = append(req.Creations, acl)
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("create ACL: %v %+v", err, resp)
	}

	e := newEnv(t, console.Config{Brokers: []string{saslAddr}, SASLMechanism: console.MechanismSCRAMSHA256})
	var sess struct {
		LoginRequired bool   `json:"loginRequired"`
		User          string `json:"user"`
	}
	if st := e.do("GET", "/api/session", nil, &sess); st != 200 || !sess.LoginRequired || sess.User != "" {
		t.Fatalf("session: %d %+v", st, sess)
	}
	var ae apiErr
	if st := e.do("GET", "/api/topics", nil, &ae); st != http.StatusUnauthorized {
		t.Fatalf("topics without a session: %d %+v", st, ae)
	}
	if st := e.do("POST", "/api/login", map[string]string{"username": "alice", "password": "wrong"}, &ae); st != http.StatusUnauthorized || ae.Code != "SASL_AUTHENTICATION_FAILED" {
		t.Fatalf("wrong password: %d %+v", st, ae)
	}
	if st := e.doH("POST", "/api/login", map[string]string{"username": "alice", "password": "alice-secret"}, nil, nil); st != http.StatusForbidden {
		t.Fatalf("login without the CSRF header: %d", st)
	}

	topicsAs := func(user string) []topicSummary {
		t.Helper()
		if st := e.do("POST", "/api/login", map[string]string{"username": user, "password": user + "-secret"}, &sess); st != 200 || sess.User != user {
			t.Fatalf("login %s: %d %+v", user, st, sess)
		}
		var list []topicSummary
		if st := e.do("GET", "/api/topics", nil, &list); st != 200 {
			t.Fatalf("topics as %s: %d", user, st)
		}
		return list
	}
	if list := topicsAs("alice"); len(list) != 1 || list[0].Name != "shared" {
		t.Fatalf("alice sees %+v", list)
	}
	if st := e.do("GET", "/api/session", nil, &sess); st != 200 || sess.User != "alice" {
		t.Fatalf("session as alice: %+v", sess)
	}
	// alice may not create topics: the broker says no.
	if st := e.do("POST", "/api/topics", map[string]any{"name": "mine"}, &ae); st != http.StatusForbidden {
		t.Fatalf("alice creates a topic: %d %+v", st, ae)
	}
	if st := e.do("POST", "/api/logout", nil, nil); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}
	if st := e.do("GET", "/api/topics", nil, &ae); st != http.StatusUnauthorized {
		t.Fatalf("topics after logout: %d", st)
	}
	if list := topicsAs("bob"); len(list) != 0 {
		t.Fatalf("bob, without ACLs, sees %+v", list)
	}
	topicsAs("admin")
	var acls []struct {
		Principal    string `json:"principal"`
		Operation    string `json:"operation"`
		ResourceName string `json:"resourceName"`
	}
	if st := e.do("GET", "/api/acls", nil, &acls); st != 200 || len(acls) != 1 || acls[0].Principal != "User:alice" || acls[0].Operation != "DESCRIBE" {
		t.Fatalf("acls: %d %+v", st, acls)
	}
	var users []struct {
		User       string   `json:"user"`
		Mechanisms []string `json:"mechanisms"`
	}
	if st := e.do("GET", "/api/users", nil, &users); st != 200 || len(users) != 3 || users[1].User != "alice" || users[1].Mechanisms[0] != "SCRAM-SHA-256" {
		t.Fatalf("users: %d %+v", st, users)
	}
}

func TestSecurityDisabled(t *testing.T) {
	e := newEnv(t, console.Config{})
	var ae apiErr
	if st := e.do("GET", "/api/acls", nil, &ae); st != 404 || ae.Code != "SECURITY_DISABLED" {
		t.Fatalf("acls without an authorizer: %d %+v", st, ae)
	}
}
