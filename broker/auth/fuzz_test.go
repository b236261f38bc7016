package auth

import (
	"strings"
	"testing"
)

// The SASL decoders read bytes from unauthenticated clients: they must
// never panic, and what they accept must be well formed.

func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "a\x00b\x00c", "", "\x00\x00", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePlain(b)
		if err != nil {
			return
		}
		if m.Username == "" || m.Password == "" || strings.Contains(m.Username, "\x00") {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		NewPlain(map[string]string{"alice": "pw"}).Step(b)
	})
}

func FuzzParseClientFirst(f *testing.F) {
	for _, s := range []string{"n,,n=user,r=abc", "y,a=u,n=u,r=x,ext=1", "p=tls,,n=u,r=x", "n,,n=a=2Cb=3D,r=q", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cf, err := ParseClientFirst(s)
		if err != nil {
			return
		}
		if cf.User == "" || cf.Nonce == "" || cf.GS2Header+cf.Bare != s {
			t.Fatalf("accepted %q as %+v", s, cf)
		}
		// The server goes on to a well-formed server-first.
		sc := NewScram(ScramSHA256, func(string) (ScramCredential, bool) { return ScramCredential{}, false }, []byte("k"), nil)
		if out, _, err := sc.Step([]byte(s)); err == nil && !strings.HasPrefix(string(out), "r="+cf.Nonce) {
			t.Fatalf("server-first %q for %q", out, s)
		}
	})
}

func FuzzParseClientFinal(f *testing.F) {
	for _, s := range []string{"c=biws,r=abc,p=dHzb", "c=biws,r=a,x=1,p=AAAA", "c=,r=,p=", ""} {
		f.Add(s)
	}
	cred, _ := ScramSHA256.NewCredential("pw", 4096)
	f.Fuzz(func(t *testing.T, s string) {
		cf, err := ParseClientFinal(s)
		if err != nil {
			return
		}
		if cf.Nonce == "" || len(cf.Proof) == 0 || !strings.HasPrefix(s, cf.WithoutProof+",p=") {
			t.Fatalf("accepted %q as %+v", s, cf)
		}
		sc := NewScram(ScramSHA256, func(string) (ScramCredential, bool) { return cred, true }, []byte("k"), func() string { return "S" })
		sc.Step([]byte("n,,n=u,r=abc"))
		sc.Step([]byte(s))
	})
}
