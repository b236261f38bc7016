package auth

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// rfcVector is an exchange from an RFC, word for word.
type rfcVector struct {
	name        string
	mech        ScramMechanism
	salt        string // base64
	serverNonce string
	steps       [4]string // client-first, server-first, client-final, server-final
}

var rfcVectors = []rfcVector{
	{
		name:        "RFC 5802 section 5 (SCRAM-SHA-1)",
		mech:        ScramMechanism{Name: "SCRAM-SHA-1", Hash: sha1.New, MinIterations: 4096, MaxIterations: 16384},
		salt:        "QSXCR+Q6sek8bf92",
		serverNonce: "3rfcNHYJY1ZVvWVs7j",
		steps: [4]string{
			"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
	},
	{
		name:        "RFC 7677 section 3 (SCRAM-SHA-256)",
		mech:        ScramSHA256,
		salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		steps: [4]string{
			"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	},
}

// lookupOf is a credential store holding one user.
func lookupOf(user string, cred ScramCredential) ScramLookup {
	return func(u string) (ScramCredential, bool) { return cred, u == user }
}

func TestScramRFCVectors(t *testing.T) {
	for _, v := range rfcVectors {
		t.Run(v.name, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			salted, err := v.mech.SaltedPassword("pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			cred := v.mech.CredentialFromSalted(salted, salt, 4096)
			s := NewScram(v.mech, lookupOf("user", cred), []byte("secret"), func() string { return v.serverNonce })
			out, done, err := s.Step([]byte(v.steps[0]))
			if err != nil || done || string(out) != v.steps[1] {
				t.Fatalf("server-first: %q, %v, %v; want %q", out, done, err, v.steps[1])
			}
			out, done, err = s.Step([]byte(v.steps[2]))
			if err != nil || !done || string(out) != v.steps[3] {
				t.Fatalf("server-final: %q, %v, %v; want %q", out, done, err, v.steps[3])
			}
			if s.Principal() != User("user") {
				t.Errorf("principal %v", s.Principal())
			}
			// The same exchange with one bit of the proof flipped fails.
			s = NewScram(v.mech, lookupOf("user", cred), []byte("secret"), func() string { return v.serverNonce })
			s.Step([]byte(v.steps[0]))
			bad := strings.Replace(v.steps[2], "p=v", "p=w", 1)
			bad = strings.Replace(bad, "p=d", "p=e", 1)
			if _, _, err := s.Step([]byte(bad)); !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("wrong proof: got %v, want ErrAuthenticationFailed", err)
			}
		})
	}
}

// converse runs franz-go's SCRAM client (an independent implementation)
// against the server.
func converse(t *testing.T, client scram.Auth, sha512 bool, server *Scram) error {
	t.Helper()
	m := client.AsSha256Mechanism()
	if sha512 {
		m = client.AsSha512Mechanism()
	}
	sess, msg, err := m.Authenticate(context.Background(), "broker:9092")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		out, _, err := server.Step(msg)
		if err != nil {
			return err
		}
		done, next, err := sess.Challenge(out)
		if err != nil {
			t.Fatalf("client rejected the server's message %q: %v", out, err)
		}
		if done {
			return nil
		}
		msg = next
	}
	t.Fatal("exchange did not finish")
	return nil
}

func TestScramWithFranzGoClient(t *testing.T) {
	for _, mech := range []ScramMechanism{ScramSHA256, ScramSHA512} {
		t.Run(mech.Name, func(t *testing.T) {
			cred, err := mech.NewCredential("s3cret,=pw", 4096)
			if err != nil {
				t.Fatal(err)
			}
			user := "ali,ce=x" // needs =2C and =3D escaping
			is512 := mech.Name == MechanismScramSHA512
			s := NewScram(mech, lookupOf(user, cred), []byte("k"), nil)
			if err := converse(t, scram.Auth{User: user, Pass: "s3cret,=pw"}, is512, s); err != nil {
				t.Fatalf("right password: %v", err)
			}
			if s.Principal() != User(user) {
				t.Errorf("principal %v", s.Principal())
			}
			s = NewScram(mech, lookupOf(user, cred), []byte("k"), nil)
			if err := converse(t, scram.Auth{User: user, Pass: "wrong"}, is512, s); !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("wrong password: got %v", err)
			}
			// An unknown user gets a server-first like a known one and fails
			// at the proof with the same error.
			s = NewScram(mech, lookupOf(user, cred), []byte("k"), nil)
			err = converse(t, scram.Auth{User: "nobody", Pass: "s3cret,=pw"}, is512, s)
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("unknown user: got %v", err)
			}
		})
	}
}

func TestScramDecoyIsStable(t *testing.T) {
	first := func() string {
		s := NewScram(ScramSHA256, lookupOf("alice", ScramCredential{}), []byte("k"), func() string { return "S" })
		out, _, err := s.Step([]byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := first(), first()
	if a != b || !strings.Contains(a, ",i=4096") {
		t.Errorf("an unknown user's server-first changes between attempts: %q vs %q", a, b)
	}
}

func TestScramProtocolErrors(t *testing.T) {
	cred, _ := ScramSHA256.NewCredential("pw", 4096)
	newS := func() *Scram {
		return NewScram(ScramSHA256, lookupOf("u", cred), []byte("k"), func() string { return "SRV" })
	}
	for _, first := range []string{
		"", "n", "x,,n=u,r=a", "n,,r=a,n=u", "n,,n=,r=a", "n,,n=u", "n,,n=u,r=", "n,b=x,n=u,r=a",
		"n,,m=ext,n=u,r=a", "n,,n=u=2X,r=a", "p=tls-unique,,n=u,r=a", "n,a=other,n=u,r=a",
		"n,,n=u,r=a,tokenauth=true", "n,,n=u,r=a,junk",
	} {
		if _, _, err := newS().Step([]byte(first)); !errors.Is(err, ErrBadToken) {
			t.Errorf("client-first %q: got %v, want ErrBadToken", first, err)
		}
	}
	for _, final := range []string{
		"", "c=biws,r=aSRV", "c=biws,r=aSRV,p=!!!", "c=eSws,r=aSRV,p=AAAA", "c=biws,r=other,p=AAAA", "r=aSRV,c=biws,p=AAAA",
	} {
		s := newS()
		if _, _, err := s.Step([]byte("n,,n=u,r=a")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Step([]byte(final)); err == nil {
			t.Errorf("client-final %q accepted", final)
		}
	}
	// A third step is out of turn.
	s := newS()
	s.Step([]byte("n,,n=u,r=a"))
	s.Step([]byte("c=biws,r=aSRV,p=AAAA"))
	if _, _, err := s.Step([]byte("more")); !errors.Is(err, ErrBadToken) {
		t.Errorf("third step: %v", err)
	}
}

func TestScramAuthzIDEqualToUser(t *testing.T) {
	cf, err := ParseClientFirst("n,a=u,n=u,r=abc,ext=1")
	if err != nil {
		t.Fatal(err)
	}
	if cf.AuthzID != "u" || cf.User != "u" || cf.Nonce != "abc" || cf.GS2Header != "n,a=u," || cf.Bare != "n=u,r=abc,ext=1" || cf.Extensions["ext"] != "1" {
		t.Errorf("parsed %+v", cf)
	}
}
