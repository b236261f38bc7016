package broker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// reauthLogger counts franz-go's re-authentications.
type reauthLogger struct{ reauths atomic.Int32 }

func (l *reauthLogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }
func (l *reauthLogger) Log(_ kgo.LogLevel, msg string, _ ...any) {
	if msg == "sasl expiry limit reached, reauthenticating" || msg == "sasl expiry limit reached and responses have drained, reauthenticating" {
		l.reauths.Add(1)
	}
}

func TestSASLReauthentication(t *testing.T) {
	b, saslAddr := scramBroker(t, brokertest.WithProperty("listener.name.sasl_plaintext.connections.max.reauth.ms", "2500"))
	_, adm := newAdmin(t, b.Addr())
	upsert(t, adm, "alice", "alice-secret", kadm.ScramSha256)

	// franz-go re-authenticates on the same connection before the session
	// lifetime the broker gave it runs out; its requests keep working.
	logger := &reauthLogger{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), kgo.WithLogger(logger),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatalf("request during re-authenticated sessions: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n := logger.reauths.Load(); n < 2 {
		t.Fatalf("franz-go re-authenticated %d times in 6s with a 2.5s session", n)
	}

	// A client that lets its session run out is cut off at its next request.
	c := dialRaw(t, saslAddr)
	hreq, hresp := handshake(1, "SCRAM-SHA-256")
	if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != 0 {
		t.Fatalf("handshake: %v %+v", err, hresp)
	}
	mech := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()
	sess, msg, err := mech.Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var lifetime int64
	for done := false; !done; {
		areq, aresp := authenticate(1, string(msg))
		if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != 0 {
			t.Fatalf("authenticate: %v %+v", err, aresp)
		}
		lifetime = aresp.SessionLifetimeMillis
		if done, msg, err = sess.Challenge(aresp.SASLAuthBytes); err != nil {
			t.Fatal(err)
		}
	}
	if lifetime != 2500 {
		t.Fatalf("session lifetime %d, want 2500", lifetime)
	}
	if err := c.send(metadata()); err != nil {
		t.Fatalf("within the session: %v", err)
	}
	time.Sleep(2600 * time.Millisecond)
	if err := c.send(metadata()); err == nil {
		t.Fatal("a request after the session expired was answered")
	}
}

func TestSASLReauthenticationAsAnotherUser(t *testing.T) {
	b, saslAddr := scramBroker(t, brokertest.WithProperty("connections.max.reauth.ms", "60000"))
	_, adm := newAdmin(t, b.Addr())
	upsert(t, adm, "alice", "a", kadm.ScramSha256)
	upsert(t, adm, "mallory", "m", kadm.ScramSha256)
	c := dialRaw(t, saslAddr)
	login := func(user, pass string) *kmsg.SASLAuthenticateResponse {
		hreq, hresp := handshake(1, "SCRAM-SHA-256")
		if err := c.send(hreq, hresp); err != nil || hresp.ErrorCode != 0 {
			t.Fatalf("handshake: %v %+v", err, hresp)
		}
		sess, msg, _ := scram.Auth{User: user, Pass: pass}.AsSha256Mechanism().Authenticate(context.Background(), "")
		for {
			areq, aresp := authenticate(2, string(msg))
			if err := c.send(areq, aresp); err != nil || aresp.ErrorCode != 0 {
				return aresp
			}
			done, next, err := sess.Challenge(aresp.SASLAuthBytes)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				return aresp
			}
			msg = next
		}
	}
	if resp := login("alice", "a"); resp.ErrorCode != 0 {
		t.Fatalf("alice: %+v", resp)
	}
	if err := c.send(metadata()); err != nil {
		t.Fatal(err)
	}
	resp := login("mallory", "m")
	if !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.SaslAuthenticationFailed) {
		t.Fatalf("re-authentication as mallory on alice's connection: %+v", resp)
	}
	if err := c.send(metadata()); err == nil {
		t.Fatal("the connection served a request after a failed re-authentication")
	}
}
