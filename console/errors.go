package console

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// apiError is the JSON error object of the API:
// {"error": "...", "code": "KAFKA_ERROR_NAME or HTTP-ish", "field": "..."}.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// badRequest is a 400 error with code BAD_REQUEST.
func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: msg}
}

// notFound is a 404 error.
func notFound(msg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: msg}
}

// statusOfKafka maps Kafka error codes to HTTP statuses.
var statusOfKafka = map[int16]int{
	kerr.TopicAlreadyExists.Code:                 http.StatusConflict,
	kerr.NonEmptyGroup.Code:                      http.StatusConflict,
	kerr.InvalidConfig.Code:                      http.StatusBadRequest,
	kerr.InvalidPartitions.Code:                  http.StatusBadRequest,
	kerr.InvalidReplicationFactor.Code:           http.StatusBadRequest,
	kerr.InvalidTopicException.Code:              http.StatusBadRequest,
	kerr.InvalidRequest.Code:                     http.StatusBadRequest,
	kerr.PolicyViolation.Code:                    http.StatusBadRequest,
	kerr.InvalidReplicaAssignment.Code:           http.StatusBadRequest,
	kerr.UnknownTopicOrPartition.Code:            http.StatusNotFound,
	kerr.GroupIDNotFound.Code:                    http.StatusNotFound,
	kerr.TopicAuthorizationFailed.Code:           http.StatusForbidden,
	kerr.GroupAuthorizationFailed.Code:           http.StatusForbidden,
	kerr.ClusterAuthorizationFailed.Code:         http.StatusForbidden,
	kerr.TransactionalIDAuthorizationFailed.Code: http.StatusForbidden,
	kerr.SecurityDisabled.Code:                   http.StatusBadRequest,
	kerr.SaslAuthenticationFailed.Code:           http.StatusUnauthorized,
	kerr.UnsupportedVersion.Code:                 http.StatusNotImplemented,
}

// toAPIError turns any error into the API's error object: Kafka errors
// keep their name as the code.
func toAPIError(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok {
		status, ok := statusOfKafka[ke.Code]
		if !ok {
			status = http.StatusBadGateway
		}
		return &apiError{Status: status, Code: ke.Message, Message: err.Error()}
	}
	if ae, ok := errors.AsType[*kadm.AuthError](err); ok {
		return &apiError{Status: http.StatusForbidden, Code: "AUTHORIZATION_FAILED", Message: ae.Error()}
	}
	return &apiError{Status: http.StatusBadGateway, Code: "KAFKA_UNAVAILABLE", Message: err.Error()}
}

// writeError writes err as the API's error object.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	writeJSON(w, ae.Status, ae)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// readJSON decodes the request body (at most 4 MiB) into v.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: " + err.Error())
	}
	return nil
}
