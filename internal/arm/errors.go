package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an ARM error response: {"error":{"code","message","target"}}.
// Handlers return it; one place (WriteError) turns it into a response.
type Error struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Target  string       `json:"target,omitempty"`
	Details []ErrorEntry `json:"details,omitempty"`
	// Header is extra response headers (WWW-Authenticate on 401).
	Header http.Header `json:"-"`
}

// ErrorEntry is one entry of details.
type ErrorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError converts any error to an *Error; an unknown error becomes a 500
// (which is a bug: client mistakes must never be 5xx).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errorf(http.StatusInternalServerError, "InternalServerError", "amlid failed to handle the request: %v", err)
}

// WriteError writes e as ARM JSON, with the code also in x-ms-error-code
// (azcore reads the header first).
func WriteError(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-error-code", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error *Error `json:"error"`
	}{e})
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
