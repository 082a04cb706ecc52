package token

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/google/uuid"
)

// oauthError is an Entra (AADSTS) error answer. Every client mistake is a
// 4xx: clients retry 5xx for minutes.
type oauthError struct {
	Status int
	Code   string // OAuth error: invalid_client, invalid_grant, …
	AADSTS int
	Desc   string // without the "AADSTSnnn: " prefix and trace lines
	cause  error  // server-side detail for the log only
}

func (e *oauthError) Error() string { return fmt.Sprintf("%s AADSTS%d: %s", e.Code, e.AADSTS, e.Desc) }

func newErr(status int, code string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{Status: status, Code: code, AADSTS: aadsts, Desc: fmt.Sprintf(format, args...)}
}

func errTenantNotFound(seg, why string) *oauthError {
	d := fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", seg)
	if why != "" {
		d += " (" + why + ")"
	}
	return newErr(http.StatusBadRequest, "invalid_request", 90002, "%s", d)
}

func errMissing(param string) *oauthError {
	return newErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: '%s'.", param)
}

func errUnknownClient(clientID, tenant string) *oauthError {
	return newErr(http.StatusBadRequest, "unauthorized_client", 700016,
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant)
}

func errBadSecret(clientID string) *oauthError {
	return newErr(http.StatusUnauthorized, "invalid_client", 7000215,
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
}

func errBadCredentials() *oauthError {
	return newErr(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
}

func errServer(err error) *oauthError {
	// A store failure is the server's problem, not the client's: 500 is
	// right here, and it is the only place the token service answers 5xx.
	return &oauthError{Status: http.StatusInternalServerError, Code: "server_error", AADSTS: 90100,
		Desc: "An internal error occurred while processing the request.", cause: err}
}

// writeError writes the AADSTS JSON body.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	now := s.now()
	trace, corr := requestIDs(w, r)
	ts := now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": e.Code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.AADSTS, e.Desc, trace, corr, ts),
		"error_codes":    []int{e.AADSTS},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
	}
	writeJSON(w, e.Status, body)
}

// requestIDs returns the trace ID (new) and correlation ID (the client's
// client-request-id when it sent one) and sets the response headers.
func requestIDs(w http.ResponseWriter, r *http.Request) (trace, corr string) {
	if v := w.Header().Get("x-ms-request-id"); v != "" {
		trace = v
	} else {
		trace = uuid.NewString()
		w.Header().Set("x-ms-request-id", trace)
	}
	corr = r.Header.Get("client-request-id")
	if _, err := uuid.Parse(corr); err != nil {
		corr = trace
	}
	w.Header().Set("client-request-id", corr)
	return trace, corr
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
