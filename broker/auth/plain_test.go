package auth

import (
	"errors"
	"testing"
)

func TestPlain(t *testing.T) {
	users := map[string]string{"alice": "alice-secret", "bob": "b"}
	tests := []struct {
		token string
		err   error
	}{
		{"\x00alice\x00alice-secret", nil},
		{"alice\x00alice\x00alice-secret", nil},
		{"\x00alice\x00wrong", ErrAuthenticationFailed},
		{"\x00alice\x00alice-secretX", ErrAuthenticationFailed},
		{"\x00mallory\x00alice-secret", ErrAuthenticationFailed},
		{"bob\x00alice\x00alice-secret", ErrBadToken}, // authzid of another user
		{"\x00\x00pw", ErrBadToken},
		{"\x00alice\x00", ErrBadToken},
		{"alice\x00alice-secret", ErrBadToken},
		{"\x00alice\x00alice-secret\x00", ErrBadToken},
		{"", ErrBadToken},
	}
	for _, tt := range tests {
		p := NewPlain(users)
		out, done, err := p.Step([]byte(tt.token))
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: got %v, want %v", tt.token, err, tt.err)
			continue
		}
		if tt.err == nil && (!done || len(out) != 0 || p.Principal() != User("alice")) {
			t.Errorf("%q: done %v, out %q, principal %v", tt.token, done, out, p.Principal())
		}
	}
	p := NewPlain(users)
	p.Step([]byte("\x00alice\x00alice-secret"))
	if _, _, err := p.Step([]byte("\x00alice\x00alice-secret")); !errors.Is(err, ErrBadToken) {
		t.Errorf("second PLAIN message: %v", err)
	}
}
