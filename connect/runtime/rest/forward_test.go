package rest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/connect/runtime/rest"
)

// fakeMember is a herder in a group; only Leader and Connectors are
// implemented.
type fakeMember struct {
	runtime.Herder
	mu          sync.Mutex
	leader      string
	self        bool
	rebalancing bool
}

func (f *fakeMember) Leader() (string, bool, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader, f.self, f.rebalancing
}

func (f *fakeMember) Connectors() []string { return []string{"local"} }

// TestForwardingToLeader checks that a follower forwards writes to the
// leader (marking them), serves reads itself, and answers 409 while the
// group rebalances.
func TestForwardingToLeader(t *testing.T) {
	var gotPath, gotMark, gotBody string
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotMark, gotBody = r.Method+" "+r.URL.Path, r.Header.Get("X-Gregor-Connect-Forwarded"), string(b)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"name":"x"}`))
	}))
	defer leader.Close()
	f := &fakeMember{leader: leader.URL}
	srv := rest.New(f, nil)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client{t: t, base: "http://" + srv.Addr()}
	c.expect("POST", "/connectors", map[string]any{"name": "x", "config": map[string]string{}}, 201)
	if gotPath != "POST /connectors" || gotMark != "1" || !strings.Contains(gotBody, `"name":"x"`) {
		t.Fatalf("leader got %q mark %q body %q", gotPath, gotMark, gotBody)
	}
	if v := c.expect("GET", "/connectors", nil, 200).([]any); len(v) != 1 || v[0] != "local" {
		t.Fatalf("GET served by %v", v)
	}
	f.mu.Lock()
	f.rebalancing = true
	f.mu.Unlock()
	c.expect("PUT", "/connectors/x/pause", nil, 409)
	c.expect("DELETE", "/connectors/x", nil, 409)
}
