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
	"github.com/amlid/amlid/internal/identity"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/workload"
)

// armResolver tells the workload registry which managed identities a
// resource holds, from ARM state, in the access wing's canonical order
// (access.Identities): the first is the acting identity, MSI_ENDPOINT's
// default token and DEFAULT_IDENTITY_CLIENT_ID (rules CMP-2, CMP-3, EP-3).
type armResolver struct {
	st  store.Store
	dir *directory.Directory
}

var _ workload.Resolver = (*armResolver)(nil)

func (r *armResolver) Identities(ctx context.Context, resourceID string) ([]*directory.Principal, error) {
	res, err := access.StoreSource(r.st).Get(ctx, resourceID)
	if errors.Is(err, access.ErrNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var out []*directory.Principal
	for _, id := range access.Identities(res) {
		if p, err := r.dir.Principal(ctx, id.PrincipalID); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// workloadRequest is POST /amlid/workloads: run a local process as a
// workload of a resource (amlid run --as).
type workloadRequest struct {
	ResourceID string `json:"resourceId"`
	ClientID   string `json:"clientId,omitempty"`
	// Environment (issue 21): an environment version (resource ID, or
	// azureml:name:version in the compute's workspace) whose amlid-registry
	// image the compute pulls as its identity before the command starts.
	Environment string `json:"environment,omitempty"`
}

// serveWorkloads registers a workload for the caller and keeps it alive for
// as long as the request stays open: the CLI holds the connection while its
// child process runs, so the credentials die with the process (a crash or a
// kill -9 of the CLI closes the connection too).
func (s *Server) serveWorkloads(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || strings.Trim(r.URL.Path, "/") != "amlid/workloads" {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "amlid serves nothing at '%s'.", r.URL.Path))
		return
	}
	caller, err := s.armAuthn.Authenticate(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	body, err := arm.ReadBody(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	var req workloadRequest
	if err := arm.DecodeJSON(body, &req); err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	id, err := arm.ParseID(req.ResourceID)
	if err != nil || id.Namespace == "" {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "InvalidResourceId", "'%s' is not a resource ID.", req.ResourceID))
		return
	}
	if strings.EqualFold(id.TypeName(), identity.UAIType) {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "NotAWorkloadHost",
			"A user-assigned identity is not a place code runs: run as a resource that holds it (a compute, an online endpoint, …) and pick it with --client-id (rule ID-3)."))
		return
	}
	ctx := r.Context()
	rec, err := s.Store.Get(ctx, arm.KindResource, id.Key())
	if errors.Is(err, store.ErrNotFound) {
		arm.WriteError(w, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", req.ResourceID))
		return
	}
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	res, _ := arm.DecodeResource(rec.Value)
	// Running code as a resource is deploying to it: it needs write on it.
	if err := s.Authz.Authorize(ctx, caller, id.TypeName()+"/write", res.ID); err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	opts := []workload.Option{workload.WithLabel("amlid run by " + caller.ObjectID)}
	if req.ClientID != "" {
		opts = append(opts, workload.WithDefaultClientID(req.ClientID))
	}
	// On a compute the command runs on one of its nodes (issue 17).
	node, release, err := s.computeNode(ctx, res.ID)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	defer release()
	pullLog, err := s.pullEnvironment(ctx, res, node, req.Environment)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	wl, err := s.Workloads.Register(ctx, res.ID, opts...)
	if err != nil {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "InvalidWorkload", "%v", err))
		return
	}
	defer s.Workloads.Unregister(wl.ID)
	env := msi.EnvFor(wl, s.State.MSIURL)
	if s.State.VaultProxyURL != "" {
		// Its own proxy credential: storage knows the command runs on this
		// resource (a compute's subnet: virtual-network rules, DS-8).
		for k, v := range workload.ProxyEnvFor(s.State.VaultProxyURL, wl) {
			env[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	answer := map[string]any{"workloadId": wl.ID, "resourceId": res.ID, "env": env}
	if node != nil {
		answer["node"], answer["workingDirectory"] = node.ID, node.Dir
	}
	if pullLog != "" {
		answer["imagePullLog"] = pullLog
	}
	_ = json.NewEncoder(w).Encode(answer)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case <-ctx.Done():
	case <-s.stopping:
	}
}
