package rest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime/rest"
)

type client struct {
	t    *testing.T
	base string
}

// do sends a request and returns the status and decoded body (nil when
// empty).
func (c client) do(method, path string, body any) (int, any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, v
}

func (c client) expect(method, path string, body any, want int) any {
	c.t.Helper()
	got, v := c.do(method, path, body)
	if got != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %v", method, path, got, want, v)
	}
	if want >= 400 {
		m, _ := v.(map[string]any)
		if m["error_code"] != float64(want) || m["message"] == "" {
			c.t.Fatalf("%s %s: error body %v lacks error_code/message", method, path, v)
		}
	}
	return v
}

func (c client) state(name string) (string, []any) {
	c.t.Helper()
	v := c.expect("GET", "/connectors/"+name+"/status", nil, 200).(map[string]any)
	return v["connector"].(map[string]any)["state"].(string), v["tasks"].([]any)
}

func (c client) waitState(name, conn, task string) {
	c.t.Helper()
	connecttest.Eventually(c.t, 30*time.Second, name+" "+conn+"/"+task, func() bool {
		s, tasks := c.state(name)
		if s != conn {
			return false
		}
		for _, tk := range tasks {
			if tk.(map[string]any)["state"] != task {
				return false
			}
		}
		return task == "" || len(tasks) > 0
	})
}

// TestEndpoints exercises every REST endpoint over real HTTP against a
// worker connected to a real broker.
func TestEndpoints(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets"), nil)
	defer h.Close()
	srv := rest.New(h, nil)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client{t: t, base: "http://" + srv.Addr()}
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// GET /
	root := c.expect("GET", "/", nil, 200).(map[string]any)
	if root["version"] == "" || root["kafka_cluster_id"] == "" {
		t.Fatalf("GET / = %v", root)
	}
	// Plugins.
	plugins := c.expect("GET", "/connector-plugins", nil, 200).([]any)
	var classes []string
	for _, p := range plugins {
		pm := p.(map[string]any)
		classes = append(classes, pm["class"].(string))
		if pm["type"] == "converter" {
			t.Fatalf("connectorsOnly default lists a converter: %v", pm)
		}
	}
	if !slices.Contains(classes, "org.apache.kafka.connect.file.FileStreamSourceConnector") {
		t.Fatalf("plugins = %v", classes)
	}
	all := c.expect("GET", "/connector-plugins?connectorsOnly=false", nil, 200).([]any)
	if len(all) <= len(plugins) {
		t.Fatalf("connectorsOnly=false lists %d plugins, connectors only %d", len(all), len(plugins))
	}
	keys := c.expect("GET", "/connector-plugins/FileStreamSource/config", nil, 200).([]any)
	if len(keys) == 0 || keys[0].(map[string]any)["name"] == nil {
		t.Fatalf("plugin config = %v", keys)
	}
	c.expect("GET", "/connector-plugins/NoSuchConnector/config", nil, 404)
	// Validation.
	val := c.expect("PUT", "/connector-plugins/FileStreamSource/config/validate", map[string]string{"file": in}, 200).(map[string]any)
	if val["error_count"].(float64) < 1 || val["name"] != "org.apache.kafka.connect.file.FileStreamSourceConnector" {
		t.Fatalf("validate without topic = %v", val)
	}
	val = c.expect("PUT", "/connector-plugins/FileStreamSource/config/validate", map[string]string{"name": "x", "file": in, "topic": "t"}, 200).(map[string]any)
	if val["error_count"].(float64) != 0 {
		t.Fatalf("validate good config = %v", val)
	}
	c.expect("PUT", "/connector-plugins/FileStreamSource/config/validate", map[string]string{"connector.class": "FileStreamSink"}, 400)
	c.expect("PUT", "/connector-plugins/FileStreamSink/config/validate", "{not json", 400)

	// Create: invalid configs are rejected, nothing is created.
	bad := c.expect("POST", "/connectors", map[string]any{"name": "src", "config": map[string]string{"connector.class": "FileStreamSource", "file": in}}, 400)
	if !strings.Contains(bad.(map[string]any)["message"].(string), "topic") {
		t.Fatalf("invalid config message = %v", bad)
	}
	c.expect("POST", "/connectors", map[string]any{"name": "src", "config": map[string]string{"connector.class": "NoSuch"}}, 400)
	c.expect("POST", "/connectors", map[string]any{"name": "sink", "config": map[string]string{"connector.class": "FileStreamSink", "tasks.max": "zero"}}, 400)
	c.expect("POST", "/connectors", map[string]any{"name": "", "config": map[string]string{}}, 400)
	if names := c.expect("GET", "/connectors", nil, 200).([]any); len(names) != 0 {
		t.Fatalf("rejected connectors were created: %v", names)
	}
	// Create for real.
	srcCfg := map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "rest-lines"}
	info := c.expect("POST", "/connectors", map[string]any{"name": "src", "config": srcCfg}, 201).(map[string]any)
	if info["name"] != "src" || info["type"] != "source" {
		t.Fatalf("create = %v", info)
	}
	c.expect("POST", "/connectors", map[string]any{"name": "src", "config": srcCfg}, 409)
	c.waitState("src", "RUNNING", "RUNNING")

	// Reads.
	if names := c.expect("GET", "/connectors", nil, 200).([]any); !slices.Equal(names, []any{"src"}) {
		t.Fatalf("GET /connectors = %v", names)
	}
	exp := c.expect("GET", "/connectors?expand=status&expand=info", nil, 200).(map[string]any)
	e := exp["src"].(map[string]any)
	if e["status"] == nil || e["info"] == nil {
		t.Fatalf("expand = %v", exp)
	}
	c.expect("GET", "/connectors/src", nil, 200)
	cfg := c.expect("GET", "/connectors/src/config", nil, 200).(map[string]any)
	if cfg["topic"] != "rest-lines" || cfg["name"] != "src" {
		t.Fatalf("config = %v", cfg)
	}
	tasks := c.expect("GET", "/connectors/src/tasks", nil, 200).([]any)
	if len(tasks) != 1 || tasks[0].(map[string]any)["id"].(map[string]any)["connector"] != "src" {
		t.Fatalf("tasks = %v", tasks)
	}
	ts := c.expect("GET", "/connectors/src/tasks/0/status", nil, 200).(map[string]any)
	if ts["state"] != "RUNNING" || ts["id"] != float64(0) {
		t.Fatalf("task status = %v", ts)
	}
	c.expect("GET", "/connectors/src/tasks/7/status", nil, 404)
	connecttest.Eventually(t, 30*time.Second, "active topics", func() bool {
		v := c.expect("GET", "/connectors/src/topics", nil, 200).(map[string]any)
		tp := v["src"].(map[string]any)["topics"].([]any)
		return len(tp) == 1 && tp[0] == "rest-lines"
	})
	c.expect("PUT", "/connectors/src/topics/reset", nil, 202)

	// Config updates.
	srcCfg["batch.size"] = "10"
	c.expect("PUT", "/connectors/src/config", srcCfg, 200)
	c.expect("PUT", "/connectors/src/config", map[string]string{"connector.class": "FileStreamSource", "topic": "a,b"}, 400)
	patched := c.expect("PATCH", "/connectors/src/config", map[string]any{"batch.size": "20", "file": in}, 200).(map[string]any)
	if patched["config"].(map[string]any)["batch.size"] != "20" {
		t.Fatalf("patch = %v", patched)
	}
	c.expect("PATCH", "/connectors/src/config", map[string]any{"batch.size": nil}, 200)
	if _, ok := c.expect("GET", "/connectors/src/config", nil, 200).(map[string]any)["batch.size"]; ok {
		t.Fatal("PATCH with null did not remove batch.size")
	}
	sinkCfg := map[string]string{"connector.class": "FileStreamSink", "file": filepath.Join(dir, "out.txt"), "topics": "rest-lines"}
	c.expect("PUT", "/connectors/sink/config", sinkCfg, 201)
	c.waitState("sink", "RUNNING", "RUNNING")
	c.expect("PUT", "/connectors/sink/config", map[string]string{"connector.class": "FileStreamSink", "topics": "x", "name": "other"}, 400)
	c.expect("PATCH", "/connectors/nope/config", map[string]any{"a": "b"}, 404)

	// Lifecycle.
	c.expect("PUT", "/connectors/src/pause", nil, 202)
	c.waitState("src", "PAUSED", "PAUSED")
	c.expect("PUT", "/connectors/src/resume", nil, 202)
	c.waitState("src", "RUNNING", "RUNNING")
	c.expect("PUT", "/connectors/src/stop", nil, 204)
	if s, tk := c.state("src"); s != "STOPPED" || len(tk) != 0 {
		t.Fatalf("after stop: %s %v", s, tk)
	}
	c.expect("PUT", "/connectors/src/resume", nil, 202)
	c.waitState("src", "RUNNING", "RUNNING")
	c.expect("POST", "/connectors/src/restart", nil, 204)
	plan := c.expect("POST", "/connectors/src/restart?includeTasks=true", nil, 202).(map[string]any)
	if plan["connector"].(map[string]any)["state"] != "RESTARTING" || plan["tasks"].([]any)[0].(map[string]any)["state"] != "RESTARTING" {
		t.Fatalf("restart plan = %v", plan)
	}
	plan = c.expect("POST", "/connectors/src/restart?includeTasks=true&onlyFailed=true", nil, 202).(map[string]any)
	if plan["connector"].(map[string]any)["state"] != "RUNNING" {
		t.Fatalf("onlyFailed restarted a running connector: %v", plan)
	}
	c.expect("POST", "/connectors/src/restart?includeTasks=maybe", nil, 400)
	c.expect("POST", "/connectors/src/tasks/0/restart", nil, 204)
	c.expect("POST", "/connectors/src/tasks/5/restart", nil, 404)
	c.waitState("src", "RUNNING", "RUNNING")
	connecttest.Eventually(t, 30*time.Second, "sink output", func() bool {
		return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= 3
	})

	// Errors and deletion.
	c.expect("DELETE", "/connectors/src", nil, 204)
	nf := c.expect("GET", "/connectors/src", nil, 404).(map[string]any)
	if nf["message"] != "Connector src not found" {
		t.Fatalf("404 message = %q", nf["message"])
	}
	c.expect("DELETE", "/connectors/src", nil, 404)
	c.expect("GET", "/connectors/src/status", nil, 404)
	c.expect("DELETE", "/connector-plugins", nil, 405)
	c.expect("GET", "/connectors/sink/pause", nil, 405)
	c.expect("GET", "/no/such/path", nil, 404)
}

// TestFailedTaskRestart: a task that fails shows FAILED with a trace and
// runs again after a restart over REST once the cause is fixed.
func TestFailedTaskRestart(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets"), nil)
	defer h.Close()
	srv := rest.New(h, nil)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client{t: t, base: "http://" + srv.Addr()}
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil { // reading a directory fails
		t.Fatal(err)
	}
	c.expect("POST", "/connectors", map[string]any{"name": "src", "config": map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "t"}}, 201)
	c.waitState("src", "RUNNING", "FAILED")
	ts := c.expect("GET", "/connectors/src/tasks/0/status", nil, 200).(map[string]any)
	if !strings.Contains(ts["trace"].(string), "is a directory") {
		t.Fatalf("trace = %v", ts["trace"])
	}
	plan := c.expect("POST", "/connectors/src/restart?includeTasks=true&onlyFailed=true", nil, 202).(map[string]any)
	if plan["connector"].(map[string]any)["state"] != "RUNNING" || plan["tasks"].([]any)[0].(map[string]any)["state"] != "RESTARTING" {
		t.Fatalf("plan = %v", plan)
	}
	c.waitState("src", "RUNNING", "FAILED")
	if err := os.Remove(in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.expect("POST", "/connectors/src/tasks/0/restart", nil, 204)
	c.waitState("src", "RUNNING", "RUNNING")
}
