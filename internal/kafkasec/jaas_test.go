package kafkasec

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseJAAS(t *testing.T) {
	tests := []struct {
		in   string
		want []LoginModule
	}{
		{
			`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`,
			[]LoginModule{{Class: PlainLoginModule, Flag: "required", Options: map[string]string{
				"username": "admin", "password": "admin-secret", "user_admin": "admin-secret", "user_alice": "alice-secret"}}},
		},
		{
			"  org.apache.kafka.common.security.scram.ScramLoginModule  REQUIRED\n\tusername = alice\n password=\"p;a=s\\\"s w\\\\rd\" ;",
			[]LoginModule{{Class: ScramLoginModule, Flag: "required", Options: map[string]string{"username": "alice", "password": `p;a=s"s w\rd`}}},
		},
		{
			"a.B optional; /* comment */ c.D sufficient k=\"v\"; // trailing\n",
			[]LoginModule{{Class: "a.B", Flag: "optional", Options: map[string]string{}}, {Class: "c.D", Flag: "sufficient", Options: map[string]string{"k": "v"}}},
		},
		{
			`x.Y required user_ünï="pässwörd";`,
			[]LoginModule{{Class: "x.Y", Flag: "required", Options: map[string]string{"user_ünï": "pässwörd"}}},
		},
	}
	for _, tt := range tests {
		got, err := ParseJAAS(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseJAASErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"a.B required",                // no ;
		"a.B;",                        // no flag
		"a.B mandatory;",              // bad flag
		`a.B required user="x;`,       // unterminated quote
		"a.B required user=;",         // no value
		"a.B required =x;",            // no key
		"a.B required user x;",        // no =
		"a.B required /* comment ; ",  // unterminated comment
		`"quoted.Class" required;`,    // class must be a word
		"a.B required k=v; extra",     // a second module without a flag
		"a.B required k=v k2=\"v2\"x", // no ; after the last option
	} {
		if _, err := ParseJAAS(in); !errors.Is(err, ErrBadJAAS) {
			t.Errorf("%q: got %v, want ErrBadJAAS", in, err)
		}
	}
	if _, err := ParseSingleJAAS("a.B required; c.D required;"); !errors.Is(err, ErrBadJAAS) {
		t.Errorf("two modules in sasl.jaas.config: %v", err)
	}
}

func TestPlainUsers(t *testing.T) {
	m, err := ParseSingleJAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" user_admin="a" user_bob="b" user_="x";`)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.PlainUsers(); !reflect.DeepEqual(got, map[string]string{"admin": "a", "bob": "b"}) {
		t.Errorf("users %v", got)
	}
}

func FuzzParseJAAS(f *testing.F) {
	for _, s := range []string{
		`a.B required k="v";`, `x y z=1;`, `"`, `/*`, `a.B required k="\"";`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := ParseJAAS(s)
		if err != nil {
			return
		}
		for _, m := range mods {
			if m.Class == "" || m.Options == nil {
				t.Fatalf("accepted %q as %+v", s, m)
			}
		}
	})
}
