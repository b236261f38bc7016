package auth

import (
	"testing"

	"github.com/gregorhq/gregor/internal/testcerts"
)

func TestSubjectDN(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	for _, subject := range []string{
		"CN=alice,OU=eng,O=Acme,C=US",
		"CN=bob",
	} {
		is := ca.Issue(t, subject, testcerts.Client())
		got, err := SubjectDN(is.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if got != subject {
			t.Errorf("SubjectDN = %q, want %q", got, subject)
		}
	}
}

func TestEscapeDNValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "a,b": `a\,b`, "#x": `\#x`, " lead": `\ lead`, "trail ": `trail\ `, `q"<>;+\`: `q\"\<\>\;\+\\`,
	} {
		if got := escapeDNValue(in); got != want {
			t.Errorf("escape %q = %q, want %q", in, got, want)
		}
	}
}
