package blob

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a Storage error: HTTP status, Azure's error code (also sent as
// x-ms-error-code), a message, and optional extra XML elements
// (AuthenticationErrorDetail, QueryParameterName, …). Only codes the real
// service uses are produced: clients map them (client-protocols §4).
type Error struct {
	Status  int
	Code    string
	Message string
	// Detail elements, written after <Message> in this order.
	Detail [][2]string
	// Header holds extra response headers (WWW-Authenticate, Content-Range).
	Header http.Header
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// with adds a detail element.
func (e *Error) with(name, value string) *Error {
	e.Detail = append(e.Detail, [2]string{name, value})
	return e
}

// Messages of the common codes, verbatim from the service.
const (
	msgAuthFailed       = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."
	msgAuthHeader       = "Server failed to authenticate the request. Please refer to the information in the www-authenticate header."
	msgPermission       = "This request is not authorized to perform this operation using this permission."
	msgNotAuthorized    = "This request is not authorized to perform this operation."
	msgContainerMissing = "The specified container does not exist."
	msgBlobMissing      = "The specified blob does not exist."
	msgConditionNotMet  = "The condition specified using HTTP conditional header(s) is not met."
)

func errContainerNotFound() *Error {
	return errorf(http.StatusNotFound, "ContainerNotFound", msgContainerMissing)
}

func errBlobNotFound() *Error { return errorf(http.StatusNotFound, "BlobNotFound", msgBlobMissing) }

func errConditionNotMet() *Error {
	return errorf(http.StatusPreconditionFailed, "ConditionNotMet", msgConditionNotMet)
}

func errInvalidHeader(name, value, why string) *Error {
	e := errorf(http.StatusBadRequest, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
	e.with("HeaderName", name).with("HeaderValue", value)
	if why != "" {
		e.with("Reason", why)
	}
	return e
}

func errInvalidQuery(name, value, why string) *Error {
	e := errorf(http.StatusBadRequest, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
	e.with("QueryParameterName", name).with("QueryParameterValue", value)
	if why != "" {
		e.with("Reason", why)
	}
	return e
}

func errInternal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "InternalError",
		Message: "The server encountered an internal error. Please retry the request.", Detail: [][2]string{{"ExceptionDetails", err.Error()}}}
}

// asError converts any error to *Error (unknown errors are internal ones).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errInternal(err)
}

// xmlEscape escapes s for element content the way the service writes
// messages: &, < and > are escaped, quotes and newlines stay readable, and
// characters XML cannot carry become character references (or U+FFFD).
func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\n' || r == '\t' || r == '\r' || (r >= 0x20 && r != 0xFFFE && r != 0xFFFF):
			b.WriteRune(r)
		default:
			b.WriteRune('\uFFFD')
		}
	}
	return b.String()
}

// timeFormatError is the Time line of an error message.
const timeFormatError = "2006-01-02T15:04:05.0000000Z"

// writeErrorHeaders writes e's headers and x-ms-error-code, both APIs'
// way; for a HEAD request or a 304 it also writes the status (no body) and
// reports true: the response is complete.
func writeErrorHeaders(w http.ResponseWriter, r *http.Request, e *Error) bool {
	h := w.Header()
	for k, vs := range e.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("x-ms-error-code", e.Code)
	if r.Method == http.MethodHead || e.Status == http.StatusNotModified {
		h.Del("Content-Type")
		if e.Status != http.StatusNotModified {
			h.Set("Content-Length", "0")
		}
		w.WriteHeader(e.Status)
		return true
	}
	return false
}

// writeError writes e as the Storage XML error body with x-ms-error-code;
// HEAD responses carry the header only.
func writeError(w http.ResponseWriter, r *http.Request, requestID string, now time.Time, e *Error) {
	if writeErrorHeaders(w, r, e) {
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><Error><Code>`)
	b.WriteString(xmlEscape(e.Code))
	b.WriteString("</Code><Message>")
	b.WriteString(xmlEscape(e.Message + "\nRequestId:" + requestID + "\nTime:" + now.UTC().Format(timeFormatError)))
	b.WriteString("</Message>")
	for _, d := range e.Detail {
		b.WriteString("<" + d[0] + ">" + xmlEscape(d[1]) + "</" + d[0] + ">")
	}
	b.WriteString("</Error>")
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", fmt.Sprint(b.Len()))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(b.String()))
}
