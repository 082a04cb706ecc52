package arm

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

type doCallerKey struct{}

// SystemCaller is amlid acting as a resource provider on its own behalf.
func SystemCaller(tenantID string) *Caller {
	return &Caller{ObjectID: "amlid", TenantID: tenantID, Name: "amlid", Type: "Application", System: true}
}

// Do runs one ARM request in-process as caller, through the same routing,
// validation, hooks and RBAC as a request from the network (a resource
// provider creating dependent resources: a workspace's storage account and
// key vault as the user who creates the workspace, or its registry as
// amlid itself, rule WS-7). path includes the query (api-version). It must
// not be called inside a store transaction. The result is the status and
// body; a status >= 400 also comes back as an *Error.
func (s *Server) Do(ctx context.Context, caller *Caller, method, path string, body any) (int, []byte, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	ctx = context.WithValue(ctx, doCallerKey{}, caller)
	r, err := http.NewRequestWithContext(ctx, method, "https://amlid.internal"+path, rd)
	if err != nil {
		return 0, nil, Errorf(http.StatusBadRequest, "InvalidRequestUri", "%v", err)
	}
	r.RequestURI, r.RemoteAddr = path, "127.0.0.1:0"
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := &response{header: http.Header{}, Code: http.StatusOK}
	s.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if rec.Code >= 400 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(out, &e)
		if e.Error.Code == "" {
			e.Error.Code, e.Error.Message = "InternalError", strings.TrimSpace(string(out))
		}
		return rec.Code, out, Errorf(rec.Code, e.Error.Code, "%s", e.Error.Message)
	}
	return rec.Code, out, nil
}

// CallerOrSystem returns the caller of an in-flight call (amlid itself for
// an anonymous one), to pass to Do.
func (c *Call) CallerOrSystem() *Caller {
	if c.Caller != nil {
		return c.Caller
	}
	return SystemCaller(c.TenantID())
}

// response collects what an in-process request writes (Do).
type response struct {
	header http.Header
	Code   int
	Body   bytes.Buffer
	wrote  bool
}

func (r *response) Header() http.Header { return r.header }

func (r *response) WriteHeader(code int) {
	if !r.wrote {
		r.Code, r.wrote = code, true
	}
}

func (r *response) Write(b []byte) (int, error) {
	r.wrote = true
	return r.Body.Write(b)
}
