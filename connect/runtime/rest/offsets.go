package rest

import (
	"bytes"
	"encoding/json"
	"github.com/gregorhq/gregor/connect/runtime"
	"io"
	"net/http"
	"strings"
)

// ConnectorOffsets is the body of GET and PATCH /connectors/{name}/offsets.
type ConnectorOffsets struct {
	Offsets []ConnectorOffset `json:"offsets"`
}

// ConnectorOffset is one partition's offset; a null offset in a PATCH
// removes it.
type ConnectorOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// Message is a response with only a message.
type Message struct {
	Message string `json:"message"`
}

// LoggerLevel is one logger in /admin/loggers.
type LoggerLevel struct {
	Level        string `json:"level"`
	LastModified *int64 `json:"last_modified,omitempty"`
}

func (s *Server) offsetRoutes() {
	s.mux.HandleFunc("/connectors/{name}/offsets", s.offsets)
	s.mux.HandleFunc("/admin/loggers", only(http.MethodGet, s.loggersAll))
	s.mux.HandleFunc("/admin/loggers/{logger}", s.logger)
}

// GET, PATCH, DELETE /connectors/{name}/offsets
func (s *Server) offsets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch r.Method {
	case http.MethodGet:
		offs, err := s.h.ConnectorOffsets(r.Context(), name)
		if err != nil {
			herderError(w, err)
			return
		}
		out := ConnectorOffsets{Offsets: []ConnectorOffset{}}
		for _, o := range offs {
			out.Offsets = append(out.Offsets, ConnectorOffset{Partition: o.Partition, Offset: o.Offset})
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPatch:
		raw, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "Request body could not be read: "+err.Error())
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var req ConnectorOffsets
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "Request body is not valid JSON: "+err.Error())
			return
		}
		offs := make([]runtime.ConnectorOffset, 0, len(req.Offsets))
		for _, o := range req.Offsets {
			offs = append(offs, runtime.ConnectorOffset{Partition: o.Partition, Offset: o.Offset})
		}
		msg, err := s.h.AlterConnectorOffsets(r.Context(), name, offs)
		if err != nil {
			herderError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Message{Message: msg})
	case http.MethodDelete:
		msg, err := s.h.ResetConnectorOffsets(r.Context(), name)
		if err != nil {
			herderError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Message{Message: msg})
	default:
		methodNotAllowed(w, r)
	}
}

func loggerLevel(l runtime.LoggerLevel) LoggerLevel {
	out := LoggerLevel{Level: l.Level}
	if !l.LastModified.IsZero() {
		ms := l.LastModified.UnixMilli()
		out.LastModified = &ms
	}
	return out
}

// GET /admin/loggers
func (s *Server) loggersAll(w http.ResponseWriter, _ *http.Request) {
	out := map[string]LoggerLevel{}
	for n, l := range s.loggers.All() {
		out[n] = loggerLevel(l)
	}
	writeJSON(w, http.StatusOK, out)
}

// GET, PUT /admin/loggers/{logger}[?scope=worker|cluster]
func (s *Server) logger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("logger")
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, loggerLevel(s.loggers.Level(name)))
	case http.MethodPut:
		var req map[string]string
		if !decode(w, r, &req) {
			return
		}
		level, ok := req["level"]
		if !ok {
			writeError(w, http.StatusBadRequest, "Desired 'level' parameter was not specified in request.")
			return
		}
		scope := strings.ToLower(r.URL.Query().Get("scope"))
		if scope != "" && scope != "worker" && scope != "cluster" {
			writeError(w, http.StatusBadRequest, "Invalid scope '"+scope+"'; must be 'worker' or 'cluster'")
			return
		}
		affected, err := s.loggers.SetLevel(name, level)
		if err != nil {
			herderError(w, err)
			return
		}
		if scope == "cluster" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, affected)
	default:
		methodNotAllowed(w, r)
	}
}
