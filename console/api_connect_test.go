package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gregorhq/gregor/console"
)

// fakeConnect answers a few of Kafka Connect's REST paths and records
// what the proxy sent.
func fakeConnect(t *testing.T) (*httptest.Server, *[]string) {
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"version":"4.0.0","commit":"x","kafka_cluster_id":"c"}`)
	})
	mux.HandleFunc("GET /connectors", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("expand") {
			_, _ = io.WriteString(w, `{"a":{"status":{"connector":{"state":"RUNNING"}}},"b":{}}`)
			return
		}
		_, _ = io.WriteString(w, `["a","b"]`)
	})
	mux.HandleFunc("PUT /connector-plugins/{class}/config/validate", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(body))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"`+r.PathValue("class")+`","error_count":1,"configs":[{"value":{"name":"file","errors":["Missing required configuration"]}}]}`)
	})
	mux.HandleFunc("GET /connectors/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error_code":404,"message":"Connector `+r.PathValue("name")+` not found"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestConnectProxy(t *testing.T) {
	conn, seen := fakeConnect(t)
	e := newEnv(t, console.Config{Connect: []console.ConnectCluster{{Name: "main", URL: conn.URL + "/"}, {Name: "down", URL: "http://127.0.0.1:1"}}})

	var list []struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		Connectors int    `json:"connectors"`
		Error      string `json:"error"`
	}
	if st := e.do("GET", "/api/connect", nil, &list); st != 200 || len(list) != 2 {
		t.Fatalf("connect list: %d %+v", st, list)
	}
	if list[0].Name != "main" || list[0].Version != "4.0.0" || list[0].Connectors != 2 || list[0].Error != "" {
		t.Fatalf("main: %+v", list[0])
	}
	if list[1].Name != "down" || list[1].Error == "" {
		t.Fatalf("down: %+v", list[1])
	}

	var expanded map[string]json.RawMessage
	if st := e.do("GET", "/api/connect/main/connectors?expand=status&expand=info", nil, &expanded); st != 200 || len(expanded) != 2 {
		t.Fatalf("expand: %d %v", st, expanded)
	}
	var validated struct {
		Name       string `json:"name"`
		ErrorCount int    `json:"error_count"`
	}
	cfg := map[string]string{"connector.class": "FileStreamSource"}
	if st := e.do("PUT", "/api/connect/main/connector-plugins/FileStreamSource/config/validate", cfg, &validated); st != 200 || validated.ErrorCount != 1 || validated.Name != "FileStreamSource" {
		t.Fatalf("validate: %d %+v", st, validated)
	}
	var notFound struct {
		ErrorCode int `json:"error_code"`
	}
	if st := e.do("GET", "/api/connect/main/connectors/nope", nil, &notFound); st != 404 || notFound.ErrorCode != 404 {
		t.Fatalf("status passed through: %d %+v", st, notFound)
	}
	want := []string{
		"GET /connectors", // by GET /api/connect
		"GET /connectors?expand=status&expand=info",
		`PUT /connector-plugins/FileStreamSource/config/validate application/json {"connector.class":"FileStreamSource"}`,
	}
	if len(*seen) != 3 || (*seen)[0] != want[0] || (*seen)[1] != want[1] || (*seen)[2] != want[2] {
		t.Fatalf("Connect saw %q, want %q", *seen, want)
	}

	var ae apiErr
	if st := e.doH("PUT", "/api/connect/main/connector-plugins/X/config/validate", cfg, &ae, nil); st != 403 || ae.Code != "CSRF" {
		t.Fatalf("PUT without the header: %d %+v", st, ae)
	}
	if st := e.do("GET", "/api/connect/other/connectors", nil, &ae); st != 404 {
		t.Fatalf("unknown cluster: %d", st)
	}
	if st := e.do("GET", "/api/connect/down/connectors", nil, &ae); st != 502 || ae.Code != "CONNECT_UNAVAILABLE" {
		t.Fatalf("unreachable cluster: %d %+v", st, ae)
	}
}

func TestStreamsApps(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"applicationId":"wordcount","state":"RUNNING","tasks":["0_0","1_0"]}`)
	})
	mux.HandleFunc("GET /topology", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") != "json" {
			http.Error(w, "want json", 400)
			return
		}
		_, _ = io.WriteString(w, `{"subtopologies":[{"id":0,"global":false,"nodes":[{"name":"KSTREAM-SOURCE-0000000000","kind":"Source"}]}],"edges":[]}`)
	})
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	e := newEnv(t, console.Config{Streams: []string{app.URL}})

	var list []struct {
		ApplicationID string   `json:"applicationId"`
		State         string   `json:"state"`
		Tasks         []string `json:"tasks"`
		Members       int      `json:"members"`
		Error         string   `json:"error"`
	}
	if st := e.do("GET", "/api/streams", nil, &list); st != 200 || len(list) != 1 || list[0].ApplicationID != "wordcount" || list[0].State != "RUNNING" || len(list[0].Tasks) != 2 {
		t.Fatalf("streams: %d %+v", st, list)
	}
	var topo struct {
		Subtopologies []struct {
			ID    int `json:"id"`
			Nodes []struct {
				Name string `json:"name"`
			} `json:"nodes"`
		} `json:"subtopologies"`
	}
	if st := e.do("GET", "/api/streams/wordcount/topology", nil, &topo); st != 200 || len(topo.Subtopologies) != 1 || topo.Subtopologies[0].Nodes[0].Name != "KSTREAM-SOURCE-0000000000" {
		t.Fatalf("topology: %d %+v", st, topo)
	}
	var ae apiErr
	if st := e.do("GET", "/api/streams/other/topology", nil, &ae); st != 404 {
		t.Fatalf("unknown app: %d %+v", st, ae)
	}
}
