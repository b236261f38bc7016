package rest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/runtime"
)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("/{$}", s.root)
	m.HandleFunc("/connectors", s.connectors)
	m.HandleFunc("/connectors/", s.notFound)
	m.HandleFunc("/connectors/{name}", s.connector)
	m.HandleFunc("/connectors/{name}/config", s.config)
	m.HandleFunc("/connectors/{name}/status", only(http.MethodGet, s.status))
	m.HandleFunc("/connectors/{name}/restart", only(http.MethodPost, s.restart))
	m.HandleFunc("/connectors/{name}/pause", only(http.MethodPut, s.pause))
	m.HandleFunc("/connectors/{name}/resume", only(http.MethodPut, s.resume))
	m.HandleFunc("/connectors/{name}/stop", only(http.MethodPut, s.stop))
	m.HandleFunc("/connectors/{name}/tasks", only(http.MethodGet, s.tasks))
	m.HandleFunc("/connectors/{name}/tasks/{task}/status", only(http.MethodGet, s.taskStatus))
	m.HandleFunc("/connectors/{name}/tasks/{task}/restart", only(http.MethodPost, s.taskRestart))
	m.HandleFunc("/connectors/{name}/topics", only(http.MethodGet, s.topics))
	m.HandleFunc("/connectors/{name}/topics/reset", only(http.MethodPut, s.topicsReset))
	m.HandleFunc("/connector-plugins", only(http.MethodGet, s.plugins))
	m.HandleFunc("/connector-plugins/{plugin}/config", only(http.MethodGet, s.pluginConfig))
	m.HandleFunc("/connector-plugins/{plugin}/config/validate", only(http.MethodPut, s.validate))
	m.HandleFunc("/", s.notFound)
}

func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			methodNotAllowed(w, r)
			return
		}
		h(w, r)
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "HTTP 404 Not Found")
}

// GET /
func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r)
		return
	}
	id, err := s.h.ClusterID(r.Context())
	if err != nil {
		s.log.Warn("cluster id unavailable", "err", err)
	}
	writeJSON(w, http.StatusOK, ServerInfo{Version: connect.Version, Commit: "gregor", KafkaClusterID: id})
}

// GET /connectors[?expand=status&expand=info], POST /connectors
func (s *Server) connectors(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		names := s.h.Connectors()
		if names == nil {
			names = []string{}
		}
		expand := r.URL.Query()["expand"]
		if len(expand) == 0 {
			writeJSON(w, http.StatusOK, names)
			return
		}
		out := map[string]map[string]any{}
		for _, n := range names {
			e := map[string]any{}
			for _, x := range expand {
				switch x {
				case "status":
					if st, err := s.h.ConnectorStatus(n); err == nil {
						e["status"] = stateInfo(st)
					}
				case "info":
					if in, err := s.h.ConnectorInfo(n); err == nil {
						e["info"] = connectorInfo(in)
					}
				}
			}
			out[n] = e
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var req CreateConnectorRequest
		if !decode(w, r, &req) {
			return
		}
		if strings.TrimSpace(req.Name) == "" {
			writeError(w, http.StatusBadRequest, "Connector name must not be empty")
			return
		}
		if req.Config == nil {
			writeError(w, http.StatusBadRequest, "Connector config must not be null")
			return
		}
		var initial runtime.TargetState
		switch strings.ToUpper(req.InitialState) {
		case "", "RUNNING":
		case "PAUSED":
			initial = runtime.TargetPaused
		case "STOPPED":
			initial = runtime.TargetStopped
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid initial_state %q: use RUNNING, PAUSED or STOPPED", req.InitialState))
			return
		}
		info, _, err := s.h.PutConnectorConfig(r.Context(), req.Name, req.Config, false, initial)
		if err != nil {
			herderError(w, err)
			return
		}
		w.Header().Set("Location", "/connectors/"+info.Name)
		writeJSON(w, http.StatusCreated, connectorInfo(info))
	default:
		methodNotAllowed(w, r)
	}
}

// GET, DELETE /connectors/{name}
func (s *Server) connector(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch r.Method {
	case http.MethodGet:
		info, err := s.h.ConnectorInfo(name)
		if err != nil {
			herderError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, connectorInfo(info))
	case http.MethodDelete:
		if err := s.h.DeleteConnector(r.Context(), name); err != nil {
			herderError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, r)
	}
}

// GET, PUT, PATCH /connectors/{name}/config
func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch r.Method {
	case http.MethodGet:
		cfg, err := s.h.ConnectorConfig(name)
		if err != nil {
			herderError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, cfg)
	case http.MethodPut:
		var cfg map[string]string
		if !decode(w, r, &cfg) {
			return
		}
		info, created, err := s.h.PutConnectorConfig(r.Context(), name, cfg, true, "")
		if err != nil {
			herderError(w, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "/connectors/"+info.Name)
		}
		writeJSON(w, status, connectorInfo(info))
	case http.MethodPatch:
		var patch map[string]*string
		if !decode(w, r, &patch) {
			return
		}
		info, err := s.h.PatchConnectorConfig(r.Context(), name, patch)
		if err != nil {
			herderError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, connectorInfo(info))
	default:
		methodNotAllowed(w, r)
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.h.ConnectorStatus(r.PathValue("name"))
	if err != nil {
		herderError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, stateInfo(st))
}

// POST /connectors/{name}/restart?includeTasks=&onlyFailed=
func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	include, ok := boolParam(w, r, "includeTasks")
	if !ok {
		return
	}
	onlyFailed, ok := boolParam(w, r, "onlyFailed")
	if !ok {
		return
	}
	plan, err := s.h.RestartConnector(r.Context(), r.PathValue("name"), runtime.RestartRequest{IncludeTasks: include, OnlyFailed: onlyFailed})
	if err != nil {
		herderError(w, err)
		return
	}
	if plan == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusAccepted, stateInfo(*plan))
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	if err := s.h.PauseConnector(r.Context(), r.PathValue("name")); err != nil {
		herderError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if err := s.h.ResumeConnector(r.Context(), r.PathValue("name")); err != nil {
		herderError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	if err := s.h.StopConnector(r.Context(), r.PathValue("name")); err != nil {
		herderError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) tasks(w http.ResponseWriter, r *http.Request) {
	tcs, err := s.h.TaskConfigs(r.PathValue("name"))
	if err != nil {
		herderError(w, err)
		return
	}
	out := make([]TaskInfo, 0, len(tcs))
	for _, t := range tcs {
		out = append(out, TaskInfo{ID: t.ID, Config: t.Config})
	}
	writeJSON(w, http.StatusOK, out)
}

func taskID(w http.ResponseWriter, r *http.Request) (runtime.TaskID, bool) {
	n, err := strconv.Atoi(r.PathValue("task"))
	if err != nil {
		writeError(w, http.StatusNotFound, "HTTP 404 Not Found")
		return runtime.TaskID{}, false
	}
	return runtime.TaskID{Connector: r.PathValue("name"), Task: n}, true
}

func (s *Server) taskStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	st, err := s.h.TaskStatus(id)
	if err != nil {
		herderError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, taskState(st))
}

func (s *Server) taskRestart(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	if err := s.h.RestartTask(r.Context(), id); err != nil {
		herderError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ts, err := s.h.ConnectorTopics(name)
	if err != nil {
		herderError(w, err)
		return
	}
	out := ActiveTopics{}
	e := out[name]
	e.Topics = ts
	out[name] = e
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) topicsReset(w http.ResponseWriter, r *http.Request) {
	if err := s.h.ResetConnectorTopics(r.PathValue("name")); err != nil {
		herderError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// GET /connector-plugins[?connectorsOnly=false]
func (s *Server) plugins(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("connectorsOnly") == "false"
	out := []PluginInfo{}
	for _, p := range s.h.Plugins(all) {
		out = append(out, PluginInfo{Class: p.Class, Type: string(p.Type), Version: p.Version})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pluginConfig(w http.ResponseWriter, r *http.Request) {
	keys, err := s.h.PluginConfig(r.PathValue("plugin"))
	if err != nil {
		herderError(w, err)
		return
	}
	out := make([]ConfigKeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, configKeyInfo(k))
	}
	writeJSON(w, http.StatusOK, out)
}

// PUT /connector-plugins/{plugin}/config/validate
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	plugin := r.PathValue("plugin")
	var cfg map[string]string
	if !decode(w, r, &cfg) {
		return
	}
	if cfg == nil {
		cfg = map[string]string{}
	}
	if c, ok := cfg[runtime.ConnectorClassConfig]; ok && !samePlugin(c, plugin) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Included connector type %s does not match request type %s", c, plugin))
		return
	}
	cfg[runtime.ConnectorClassConfig] = plugin
	infos, err := s.h.ValidateConfig(r.Context(), cfg)
	if err != nil {
		herderError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, configInfos(infos))
}

// samePlugin compares class names loosely, as Kafka does: either may be
// the simple name of the other.
func samePlugin(a, b string) bool {
	simple := func(s string) string {
		s = s[strings.LastIndex(s, ".")+1:]
		return strings.TrimSuffix(s, "Connector")
	}
	return a == b || simple(a) == simple(b)
}
