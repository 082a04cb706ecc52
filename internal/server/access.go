package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
)

// amlid's own API (/amlid/…) on the front door: workloads (amlid run --as),
// and the access analyzer for the web page and scripts.
func (s *Server) serveAmlid(w http.ResponseWriter, r *http.Request) {
	switch strings.Trim(strings.ToLower(r.URL.Path), "/") {
	case "amlid/analyze":
		s.serveAnalyze(w, r)
	case "amlid/access/who-can":
		s.serveWhoCan(w, r)
	case tenantsPath:
		s.serveTenants(w, r)
	default:
		s.serveWorkloads(w, r)
	}
}

// accessCaller authenticates a GET and checks the caller may read role
// assignments over scope: the analyzer shows who holds what there.
func (s *Server) accessCaller(w http.ResponseWriter, r *http.Request, scope string) bool {
	if r.Method != http.MethodGet {
		arm.WriteError(w, arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Use GET."))
		return false
	}
	caller, err := s.armAuthn.Authenticate(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return false
	}
	if _, err := arm.ParseID(scope); err != nil {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "InvalidScope", "'%s' is not a subscription, resource group or resource ID.", scope))
		return false
	}
	if err := s.Authz.Authorize(r.Context(), caller, "Microsoft.Authorization/roleAssignments/read", scope); err != nil {
		arm.WriteError(w, arm.AsError(err))
		return false
	}
	return true
}

// serveAnalyze answers GET /amlid/analyze?scope=S[&resource=ID] with the
// access analyzer's report (access.Report).
func (s *Server) serveAnalyze(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scope, resource := q.Get("scope"), q.Get("resource")
	if scope == "" {
		scope = resource
	}
	if !s.accessCaller(w, r, scope) {
		return
	}
	a := &access.Analyzer{Src: access.StoreSource(s.Store), Decider: s.Authz, WhoCan: s.whoCanIndex(r.Context())}
	rep, err := a.Analyze(r.Context(), scope, resource)
	if errors.Is(err, access.ErrNotFound) {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "%v", err))
		return
	}
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	writeJSON(w, rep)
}

// serveWhoCan answers GET /amlid/access/who-can?scope=S&action=A[&dataAction=true].
func (s *Server) serveWhoCan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scope, action := q.Get("scope"), q.Get("action")
	if !s.accessCaller(w, r, scope) {
		return
	}
	if !strings.Contains(action, "/") {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "InvalidAction", "'%s' is not an action (Microsoft.Provider/type/…).", action))
		return
	}
	x := s.whoCanIndex(r.Context())
	writeJSON(w, map[string]any{"scope": scope, "action": action, "value": x.WhoCan(scope, action, q.Get("dataAction") == "true")})
}

// whoCanIndex indexes every role assignment, groups expanded through the
// directory.
func (s *Server) whoCanIndex(ctx context.Context) *access.WhoCanIndex {
	eng := s.Authz.Engine()
	x := access.NewWhoCanIndex(eng.Assignments(), eng.Role)
	x.Members = func(group string) []access.Member {
		g, err := s.Directory.Principal(ctx, group)
		if err != nil {
			return nil
		}
		var out []access.Member
		for _, m := range g.Members {
			t := directory.TypeServicePrincipal
			if p, err := s.Directory.Principal(ctx, m); err == nil {
				t = p.Type
			}
			out = append(out, access.Member{ID: m, Type: t})
		}
		return out
	}
	return x
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
