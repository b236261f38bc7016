package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gregorhq/gregor/internal/observe"
)

// startHTTP serves the App's metrics, health and profiler at Config.HTTPAddr
// (nothing when it is empty); /readyz answers 200 once the App is RUNNING.
// It also serves GET /topology (the topology's description, Kafka Streams'
// text or ?format=json) and GET /info (application.id, state and tasks),
// which Gregor's web console reads.
func (a *App) startHTTP() error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	reg := observe.NewRegistry()
	if err := reg.Register(a.Collector()); err != nil {
		return fmt.Errorf("streams: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /topology", a.serveTopology)
	mux.HandleFunc("GET /info", a.serveInfo)
	srv, err := observe.Listen(observe.Config{Addr: a.cfg.HTTPAddr, Registry: reg, Logger: a.cfg.Logger, Mount: mux,
		Ready: func() error {
			if s := a.state(); s != stateRunning {
				return errors.New(s)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	a.http = srv
	a.cfg.Logger.Info("streams: metrics and health on http://"+srv.Addr(), "application.id", a.cfg.ApplicationID)
	return nil
}

// TopologyJSON is the JSON form of a TopologyDescription that GET /topology?format=json
// serves: the sub-topologies with their nodes, and every edge between two nodes.
type TopologyJSON struct {
	Subtopologies []SubtopologyJSON `json:"subtopologies"`
	Edges         []EdgeJSON        `json:"edges"`
}

// SubtopologyJSON is a sub-topology of TopologyJSON.
type SubtopologyJSON struct {
	ID     int        `json:"id"`
	Global bool       `json:"global"`
	Nodes  []NodeJSON `json:"nodes"`
}

// NodeJSON is a node of TopologyJSON.
type NodeJSON struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"` // Source, Processor or Sink
	Topics       []string `json:"topics"`
	Stores       []string `json:"stores"`
	Successors   []string `json:"successors"`
	Predecessors []string `json:"predecessors"`
}

// EdgeJSON is an edge of TopologyJSON, from a node to its successor.
type EdgeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// JSON returns the description in its JSON form.
func (d TopologyDescription) JSON() TopologyJSON {
	out := TopologyJSON{Subtopologies: []SubtopologyJSON{}, Edges: []EdgeJSON{}}
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	for _, sub := range d.Subtopologies {
		sj := SubtopologyJSON{ID: sub.ID, Global: sub.Global, Nodes: []NodeJSON{}}
		for _, n := range sub.Nodes {
			sj.Nodes = append(sj.Nodes, NodeJSON{Name: n.Name, Kind: n.Kind, Topics: list(n.Topics), Stores: list(n.Stores),
				Successors: list(n.Successors), Predecessors: list(n.Predecessors)})
			for _, s := range n.Successors {
				out.Edges = append(out.Edges, EdgeJSON{From: n.Name, To: s})
			}
		}
		out.Subtopologies = append(out.Subtopologies, sj)
	}
	return out
}

// serveTopology answers GET /topology: the description as Kafka Streams
// prints it, or JSON with ?format=json.
func (a *App) serveTopology(w http.ResponseWriter, r *http.Request) {
	d := a.topo.Describe()
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d.JSON())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(d.String()))
}

// AppInfo is what GET /info serves.
type AppInfo struct {
	ApplicationID string   `json:"applicationId"`
	State         string   `json:"state"`
	Tasks         []string `json:"tasks"`
}

// serveInfo answers GET /info.
func (a *App) serveInfo(w http.ResponseWriter, _ *http.Request) {
	info := AppInfo{ApplicationID: a.cfg.ApplicationID, State: a.state(), Tasks: []string{}}
	for _, id := range a.Tasks() {
		info.Tasks = append(info.Tasks, id.String())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(info)
}

// closeHTTP stops the listener of Config.HTTPAddr, if any.
func (a *App) closeHTTP() {
	if a.http != nil {
		_ = a.http.Close()
	}
}

// HTTPAddr is the address the App serves metrics and health on (Config.HTTPAddr with
// the port it picked), or "" when it serves none. It is set once Start has begun.
func (a *App) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}
