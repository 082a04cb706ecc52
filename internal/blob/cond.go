package blob

import (
	"net/http"
	"strings"
	"time"
)

// target is what conditional headers are evaluated against.
type target struct {
	exists   bool
	etag     string
	modified time.Time
}

func etagEqual(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, "W/")
		return strings.Trim(s, `"`)
	}
	return norm(a) == norm(b)
}

func etagListHas(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		if strings.TrimSpace(e) == "*" || etagEqual(e, etag) {
			return true
		}
	}
	return false
}

// conditionKind says how a failed condition is answered.
type conditionKind int

const (
	condRead   conditionKind = iota // GET/HEAD: 304 for If-None-Match / If-Modified-Since
	condWrite                       // writes: 412 ConditionNotMet
	condCreate                      // Put Blob / Put Block List / Copy: If-None-Match:* on an existing blob is 409 BlobAlreadyExists
)

func errNotModified() *Error {
	return &Error{Status: http.StatusNotModified, Code: "ConditionNotMet", Message: msgConditionNotMet}
}

// checkConditions evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since (second precision, as HTTP dates carry).
func checkConditions(r *http.Request, t target, kind conditionKind) *Error {
	h := r.Header
	mod := t.modified.Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !t.exists || !etagListHas(v, t.etag) {
			return errConditionNotMet()
		}
	}
	if v := h.Get("If-None-Match"); v != "" && t.exists {
		if strings.TrimSpace(v) == "*" {
			switch kind {
			case condCreate:
				return errorf(http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
			case condRead:
				return errNotModified()
			}
			return errConditionNotMet()
		}
		if etagListHas(v, t.etag) {
			if kind == condRead {
				return errNotModified()
			}
			return errConditionNotMet()
		}
	}
	if v := h.Get("If-Modified-Since"); v != "" && t.exists {
		if since, err := http.ParseTime(v); err == nil && !mod.After(since) {
			if kind == condRead {
				return errNotModified()
			}
			return errConditionNotMet()
		}
	}
	if v := h.Get("If-Unmodified-Since"); v != "" && t.exists {
		if since, err := http.ParseTime(v); err == nil && mod.After(since) {
			return errConditionNotMet()
		}
	}
	return nil
}

// asTarget is what conditional headers are checked against: the blob's
// ETag and modification time, or a missing blob for nil.
func (b *blobRecord) asTarget() target {
	if b == nil {
		return target{}
	}
	return target{exists: true, etag: b.ETag, modified: b.Modified}
}
