package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// connectJSON is a Connect cluster of GET /api/connect.
type connectJSON struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	Version    string `json:"version"`
	Connectors int    `json:"connectors"`
	Error      string `json:"error,omitempty"`
}

// getJSON GETs url and decodes its JSON answer into v.
func (c *Console) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("console: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("console: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("console: GET %s: %w", url, err)
	}
	return nil
}

// listConnect answers GET /api/connect: each configured Connect cluster
// with its version and number of connectors, or why it cannot be reached.
func (c *Console) listConnect(_ http.ResponseWriter, r *http.Request, _ *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	out := []connectJSON{}
	for _, cc := range c.cfg.Connect {
		cj := connectJSON{Name: cc.Name, URL: strings.TrimRight(cc.URL, "/")}
		var root struct {
			Version string `json:"version"`
		}
		var connectors []string
		if err := c.getJSON(ctx, cj.URL+"/", &root); err != nil {
			cj.Error = err.Error()
		} else if err := c.getJSON(ctx, cj.URL+"/connectors", &connectors); err != nil {
			cj.Error = err.Error()
		}
		cj.Version, cj.Connectors = root.Version, len(connectors)
		out = append(out, cj)
	}
	return out, nil
}

// proxyConnect answers ANY /api/connect/{cluster}/{path...}: it passes the
// request to the Connect REST API path /{path...} of that cluster and its
// answer back, status and body unchanged.
func (c *Console) proxyConnect(w http.ResponseWriter, r *http.Request, _ *session) (any, error) {
	name := r.PathValue("cluster")
	cc, ok := c.connect[name]
	if !ok {
		return nil, notFound("no Connect cluster " + name)
	}
	// The escaped path keeps a connector name's %2F as it came.
	prefix := "/api/connect/" + name + "/"
	path := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
	if path == r.URL.EscapedPath() {
		path = r.PathValue("path")
	}
	target := cc.URL + "/" + path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, target, http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		return nil, badRequest(err.Error())
	}
	for _, h := range []string{"Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadGateway, Code: "CONNECT_UNAVAILABLE", Message: fmt.Sprintf("Connect cluster %s: %v", name, err)}
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return written, nil
}

// streamsJSON is a streams application of GET /api/streams.
type streamsJSON struct {
	ApplicationID string   `json:"applicationId"`
	URL           string   `json:"url"`
	State         string   `json:"state"`
	Tasks         []string `json:"tasks"`
	Members       int      `json:"members"`
	Lag           int64    `json:"lag"`
	Error         string   `json:"error,omitempty"`
}

// streamsInfo is what a streams App's GET /info answers.
type streamsInfo struct {
	ApplicationID string   `json:"applicationId"`
	State         string   `json:"state"`
	Tasks         []string `json:"tasks"`
}

// listStreams answers GET /api/streams: each configured streams
// application's state (from its /info), and the members and lag of its
// consumer group (its application.id).
func (c *Console) listStreams(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	out := []streamsJSON{}
	var groups []string
	for _, u := range c.cfg.Streams {
		sj := streamsJSON{URL: strings.TrimRight(u, "/"), Tasks: []string{}}
		var info streamsInfo
		if err := c.getJSON(ctx, sj.URL+"/info", &info); err != nil {
			sj.Error = err.Error()
		} else {
			sj.ApplicationID, sj.State = info.ApplicationID, info.State
			if info.Tasks != nil {
				sj.Tasks = info.Tasks
			}
			groups = append(groups, info.ApplicationID)
		}
		out = append(out, sj)
	}
	if len(groups) == 0 {
		return out, nil
	}
	lags, err := s.adm.Lag(ctx, groups...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	for i := range out {
		if l, ok := lags[out[i].ApplicationID]; ok && out[i].Error == "" {
			out[i].Members, out[i].Lag = len(l.Members), totalLag(l.Lag)
		}
	}
	return out, nil
}

// streamsTopology answers GET /api/streams/{app}/topology with the JSON
// topology of the configured application whose application.id is app.
func (c *Console) streamsTopology(w http.ResponseWriter, r *http.Request, _ *session) (any, error) {
	app := r.PathValue("app")
	ctx, cancel := opCtx(r)
	defer cancel()
	var errs []string
	for _, u := range c.cfg.Streams {
		u = strings.TrimRight(u, "/")
		var info streamsInfo
		if err := c.getJSON(ctx, u+"/info", &info); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if info.ApplicationID != app {
			continue
		}
		var topo json.RawMessage
		if err := c.getJSON(ctx, u+"/topology?format=json", &topo); err != nil {
			return nil, &apiError{Status: http.StatusBadGateway, Code: "STREAMS_UNAVAILABLE", Message: err.Error()}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(topo)
		return written, nil
	}
	msg := "no streams application " + app
	if len(errs) > 0 {
		slices.Sort(errs)
		msg += " (unreachable: " + strings.Join(errs, "; ") + ")"
	}
	return nil, notFound(msg)
}
