package console

import "net/http"

func notYet(http.ResponseWriter, *http.Request, *session) (any, error) {
	return nil, &apiError{Status: http.StatusNotImplemented, Code: "NOT_IMPLEMENTED", Message: "not implemented yet"}
}

var (
	_ = notYet
)

func (c *Console) browse(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) produce(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) listGroups(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) describeGroup(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) resetGroup(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) listConnect(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) proxyConnect(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) listStreams(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) streamsTopology(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) listACLs(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
func (c *Console) listUsers(w http.ResponseWriter, r *http.Request, s *session) (any, error) { return notYet(w, r, s) }
