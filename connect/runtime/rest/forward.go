package rest

import (
	"github.com/gregorhq/gregor/connect/runtime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Coordinated is implemented by herders that belong to a group of workers
// (runtime.Distributed): writes go to the leader, and nothing is written
// while the group rebalances.
type Coordinated interface {
	// Leader returns the leader's REST URL, whether this worker is the
	// leader, and whether a rebalance is in progress.
	Leader() (url string, self, rebalancing bool)
}

// forwardedHeader marks a request forwarded by another worker, which the
// receiver then serves itself.
const forwardedHeader = runtime.ForwardedHeader

// forwarding sends connector writes (anything but GET under /connectors)
// to the leader, and answers 409 while the group rebalances, as Kafka
// Connect's distributed workers do.
func (s *Server) forwarding(next http.Handler) http.Handler {
	c, ok := s.h.(Coordinated)
	if !ok {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || !strings.HasPrefix(r.URL.Path, "/connectors") {
			next.ServeHTTP(w, r)
			return
		}
		leader, self, rebalancing := c.Leader()
		if rebalancing {
			writeError(w, http.StatusConflict, "Cannot complete request because of a conflicting operation (e.g. worker rebalance)")
			return
		}
		if self || r.Header.Get(forwardedHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		u, err := url.Parse(leader)
		if err != nil || u.Host == "" {
			writeError(w, http.StatusInternalServerError, "Cannot forward the request: leader URL "+leader+" is invalid")
			return
		}
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusInternalServerError, "Error trying to forward REST request: "+err.Error())
		}
		r.Header.Set(forwardedHeader, "1")
		s.log.Debug("forwarding request to the leader", "method", r.Method, "path", r.URL.Path, "leader", leader)
		proxy.ServeHTTP(w, r)
	})
}
