package keyvault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a Key Vault data-plane error:
// {"error":{"code","message","innererror":{"code"}}}.
type Error struct {
	Status  int
	Code    string
	Message string
	Inner   string      // innererror.code (ForbiddenByRbac, ForbiddenByPolicy, …)
	Header  http.Header // WWW-Authenticate on 401
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func kvErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func kvErrInner(status int, code, inner, format string, args ...any) *Error {
	e := kvErr(status, code, format, args...)
	e.Inner = inner
	return e
}

type errBody struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError *innerBody `json:"innererror,omitempty"`
}

type innerBody struct {
	Code string `json:"code"`
}

// writeError writes err in Key Vault's format. Anything that is not an
// *Error is amlid's fault: 500, details in the log, never in the body.
func (v *Vaults) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		v.cfg.Logger.Error("key vault request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = kvErr(http.StatusInternalServerError, "InternalServerError", "amlid failed to handle the request; see its log.")
	}
	for k, vs := range e.Header {
		for _, val := range vs {
			w.Header().Add(k, val)
		}
	}
	body := errBody{Code: e.Code, Message: e.Message}
	if e.Inner != "" {
		body.InnerError = &innerBody{Code: e.Inner}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}
