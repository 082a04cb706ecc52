package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// OCI distribution-spec error codes.
const (
	CodeBlobUnknown         = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       = "DIGEST_INVALID"
	CodeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     = "MANIFEST_INVALID"
	CodeManifestUnknown     = "MANIFEST_UNKNOWN"
	CodeNameInvalid         = "NAME_INVALID"
	CodeNameUnknown         = "NAME_UNKNOWN"
	CodeSizeInvalid         = "SIZE_INVALID"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeDenied              = "DENIED"
	CodeUnsupported         = "UNSUPPORTED"
)

// Error is an OCI error response: {"errors":[{"code","message","detail"}]}.
// Handlers return it; writeError turns it into the response.
type Error struct {
	Status  int
	Code    string
	Message string
	Detail  any
	// Header is extra response headers (WWW-Authenticate on 401, Range on
	// 416).
	Header http.Header
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail sets the detail field.
func (e *Error) WithDetail(d any) *Error { e.Detail = d; return e }

// WriteError writes e in the distribution-spec error format.
func WriteError(w http.ResponseWriter, r *http.Request, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(e.Status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{Code: e.Code, Message: e.Message, Detail: e.Detail}}})
}

// ociError is err as the error to answer: an *Error as it is; anything
// else is amlid's fault, logged (with attrs) and answered as a 500 with
// userMsg, never with the internal detail.
func (h *Handler) ociError(err error, logMsg, userMsg string, attrs ...any) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	h.cfg.Logger.Error(logMsg, append(attrs, "err", err)...)
	return Errorf(http.StatusInternalServerError, CodeUnsupported, "%s", userMsg)
}
