package broker_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// scramBroker has a PLAINTEXT listener (for the admin client) and a
// SASL_PLAINTEXT one with both SCRAM mechanisms.
func scramBroker(t *testing.T, opts ...brokertest.Option) (*brokertest.Broker, string) {
	t.Helper()
	b := brokertest.Start(t, append([]brokertest.Option{
		brokertest.WithProperty("listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512"),
	}, opts...)...)
	addr, ok := b.Broker().ListenerAddr("SASL_PLAINTEXT")
	if !ok {
		t.Fatal("no SASL_PLAINTEXT listener")
	}
	return b, addr
}

func upsert(t *testing.T, adm *kadm.Client, user, password string, mech kadm.ScramMechanism) {
	t.Helper()
	res, err := adm.AlterUserSCRAMs(testCtx(t), nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: 4096, Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("upsert %s: %v", user, err)
	}
}

func TestSASLScram(t *testing.T) {
	b, saslAddr := scramBroker(t)
	_, adm := newAdmin(t, b.Addr())
	upsert(t, adm, "alice", "alice-256", kadm.ScramSha256)
	upsert(t, adm, "alice", "alice-512", kadm.ScramSha512)

	if err := produceConsume(t, saslAddr, "scram", kgo.SASL(scram.Auth{User: "alice", Pass: "alice-256"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	if err := produceConsume(t, saslAddr, "scram", kgo.SASL(scram.Auth{User: "alice", Pass: "alice-512"}.AsSha512Mechanism())); err != nil {
		t.Fatalf("SCRAM-SHA-512: %v", err)
	}
	for name, opt := range map[string]kgo.Opt{
		"wrong password":             kgo.SASL(scram.Auth{User: "alice", Pass: "alice-512"}.AsSha256Mechanism()),
		"unknown user":               kgo.SASL(scram.Auth{User: "bob", Pass: "x"}.AsSha512Mechanism()),
		"the other mechanism's user": kgo.SASL(scram.Auth{User: "alice", Pass: "alice-256"}.AsSha512Mechanism()),
	} {
		if err := requestErr(t, saslAddr, opt); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: got %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}

	described, err := adm.DescribeUserSCRAMs(testCtx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	a := described["alice"]
	if a.Err != nil || len(a.CredInfos) != 2 || a.CredInfos[0].Iterations != 4096 {
		t.Fatalf("describe alice: %+v", a)
	}

	// Deleting the credential stops the logins at once.
	res, err := adm.AlterUserSCRAMs(testCtx(t), []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || res.Error() != nil {
		t.Fatalf("delete: %v %v", err, res.Error())
	}
	if err := requestErr(t, saslAddr, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-256"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("after delete: %v", err)
	}
}

func TestScramCredentialsSurviveRestart(t *testing.T) {
	b, _ := scramBroker(t)
	_, adm := newAdmin(t, b.Addr())
	upsert(t, adm, "carol", "carol-pw", kadm.ScramSha512)
	b.Restart()
	saslAddr, _ := b.Broker().ListenerAddr("SASL_PLAINTEXT")
	if err := requestErr(t, saslAddr, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism())); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestAlterUserScramCredentialsValidation(t *testing.T) {
	b, _ := scramBroker(t)
	cl, _ := newAdmin(t, b.Addr())
	ctx := testCtx(t)
	salt, salted := []byte("salt"), make([]byte, 32)
	up := func(name string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, mech, iters, salt, salted
		return u
	}
	del := func(name string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = name, mech
		return d
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		up("", 1, 4096),
		up("few", 1, 4095),
		up("many", 2, 16385),
		up("mech", 3, 4096),
		up("dup", 1, 4096), up("dup", 1, 8192),
		up("ok", 1, 4096), up("ok", 2, 8192),
		up("partly", 1, 4096), up("partly", 2, 1),
	}
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("ghost", 1), del("badmech", 0)}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*kerr.Error{
		"": kerr.UnacceptableCredential, "few": kerr.UnacceptableCredential, "many": kerr.UnacceptableCredential,
		"mech": kerr.UnsupportedSaslMechanism, "dup": kerr.DuplicateResource, "ok": nil, "partly": kerr.UnacceptableCredential,
		"ghost": kerr.ResourceNotFound, "badmech": kerr.UnsupportedSaslMechanism,
	}
	if len(resp.Results) != len(want) {
		t.Errorf("%d results, want %d", len(resp.Results), len(want))
	}
	for _, r := range resp.Results {
		w, ok := want[r.User]
		if !ok {
			t.Errorf("unexpected result for %q", r.User)
			continue
		}
		if got := kerr.ErrorForCode(r.ErrorCode); !errors.Is(got, w) && !(w == nil && got == nil) {
			t.Errorf("user %q: got %v, want %v", r.User, got, w)
		}
		if w != nil && (r.ErrorMessage == nil || *r.ErrorMessage == "") {
			t.Errorf("user %q: no error message", r.User)
		}
	}
	// Only "ok" has credentials; "partly" got none of its changes.
	dreq := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dresp.Results) != 1 || dresp.Results[0].User != "ok" || len(dresp.Results[0].CredentialInfos) != 2 {
		t.Fatalf("describe all: %+v", dresp.Results)
	}
	// Named users: one missing, one twice.
	for _, n := range []string{"ok", "partly", "ok"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		dreq.Users = append(dreq.Users, u)
	}
	dresp, err = dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range dresp.Results {
		codes[r.User] = r.ErrorCode
	}
	if len(dresp.Results) != 2 || codes["ok"] != kerr.DuplicateResource.Code || codes["partly"] != kerr.ResourceNotFound.Code {
		t.Fatalf("describe named: %+v", dresp.Results)
	}
}
