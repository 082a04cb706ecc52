package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/assets"
	"github.com/amlid/amlid/internal/ml/compute"
	"github.com/amlid/amlid/internal/ml/connection"
	"github.com/amlid/amlid/internal/ml/datastore"
	"github.com/amlid/amlid/internal/ml/endpoint"
	"github.com/amlid/amlid/internal/ml/envimage"
	"github.com/amlid/amlid/internal/ml/job"
	"github.com/amlid/amlid/internal/runtime"
	"github.com/amlid/amlid/internal/token"
)

// mlParts holds the Azure ML wing (issues 9 and 10): the core
// (workspaces), assets and online endpoints.
type mlParts struct {
	provider  *ml.Provider
	assets    *assets.Provider
	endpoints *endpoint.Provider
	runtime   *runtime.Supervisor
	compute   *compute.Provider    // workspaces/computes and their nodes (issue 17)
	data      *datastore.Provider  // datastores and data assets (issue 18)
	jobs      *job.Provider        // jobs on the computes' nodes (issue 20)
	conns     *connection.Provider // workspace connections (issue 21)
	images    *envimage.Provider   // environment image pulls and builds (issue 21)
}

// registerML declares Microsoft.MachineLearningServices and its children,
// and mounts the endpoints' scoring handler on s.Hosts.
func (s *Server) registerML(ctx context.Context, reg *arm.Registry, base string) error {
	s.ml.runtime = runtime.New(runtime.Config{LogDir: filepath.Join(s.Opts.DataDir, "ml", "logs"), Python: s.Opts.Python, Logger: s.log, Sandbox: s.Sandbox})
	s.ml.provider = &ml.Provider{Store: s.Store, Directory: s.Directory, Authz: s.Authz, ARM: s.ARM, Logger: s.log}
	s.ml.assets = &assets.Provider{Provider: s.ml.provider}
	s.ml.endpoints = &endpoint.Provider{Provider: s.ml.provider,
		Hosts: s.Hosts, Runtime: s.ml.runtime, Workloads: s.Workloads, MSIURL: s.State.MSIURL,
		Tokens: s.Tokens, RootCAs: s.CA.Pool(), CABundle: s.State.CABundle,
		BlobEndpoint: s.Storage.BlobEndpoint, WorkDir: filepath.Join(s.Opts.DataDir, "ml"),
		ProxyURL: func() string { return s.State.VaultProxyURL },
	}
	s.ml.provider.Register(reg)
	s.ml.assets.Register(reg)
	s.ml.endpoints.Register(reg)
	s.ml.compute = &compute.Provider{Provider: s.ml.provider, Workloads: s.Workloads, MSIURL: s.State.MSIURL, RootCAs: s.CA.Pool(),
		WorkDir: filepath.Join(s.Opts.DataDir, "ml"), ARMURL: s.State.ARMURL, Minute: s.Opts.ComputeMinute, Logger: s.log,
		ProxyURL: func() string { return s.State.VaultProxyURL }}
	s.ml.compute.Register(reg)
	s.ml.compute.RegisterAKS(reg)
	s.ml.data = &datastore.Provider{ML: s.ml.provider, Vaults: func() datastore.Vaults { return s.kv.Vaults },
		Tokens: s.Tokens, RootCAs: s.CA.Pool(), BlobEndpoint: s.Storage.BlobEndpoint}
	s.ml.data.Register(reg)
	s.ml.jobs = &job.Provider{Provider: s.ml.provider, Compute: s.ml.compute, Data: s.ml.data,
		Vaults: func() datastore.Vaults { return s.kv.Vaults }, Tokens: s.Tokens, Sandbox: s.Sandbox, RootCAs: s.CA.Pool(),
		BlobEndpoint: s.Storage.BlobEndpoint, WorkDir: filepath.Join(s.Opts.DataDir, "ml", "jobs"), Python: s.Opts.Python,
		CABundle: s.State.CABundle, Replica: fmt.Sprintf("%s-%d", s.State.ARMURL, os.Getpid())}
	s.ml.jobs.Register(reg)
	s.ml.conns = &connection.Provider{ML: s.ml.provider, Sealer: s.Sealer}
	s.ml.conns.Register(reg)
	s.ml.images = &envimage.Provider{ML: s.ml.provider, Tokens: s.Tokens, RootCAs: s.CA.Pool(), Password: s.ml.conns.Password}
	s.ml.assets.EnvHook = s.ml.images.PrepareEnvironment
	s.ml.endpoints.PullImage = s.ml.images.PullInto
	s.ml.jobs.PullImage = s.ml.images.PullInto
	return nil
}

// openMLHosts reopens the endpoints' scoring ports and restarts the
// deployments' processes.
func (s *Server) openMLHosts(ctx context.Context) error {
	if err := s.ml.compute.Resume(ctx); err != nil {
		return err
	}
	if err := s.ml.jobs.Resume(ctx); err != nil {
		return err
	}
	return s.ml.endpoints.ResumeDeployments(ctx)
}

// trustedService is the blob data plane's DS-8 hook: an ML workspace's
// identity is the trusted Azure service of a storage account whose network
// rules bypass AzureServices.
func (s *Server) trustedService(ctx context.Context, c *token.Claims) bool {
	if s.ml.provider == nil || c == nil || c.MIResourceID == "" {
		return false
	}
	return s.ml.provider.TrustedService(ctx, c.MIResourceID)
}

// stopML stops the deployments' processes.
func (s *Server) stopML(ctx context.Context) {
	if s.ml.jobs != nil {
		s.ml.jobs.Stop(ctx)
	}
	if s.ml.compute != nil {
		s.ml.compute.Close()
	}
	if s.ml.runtime != nil {
		s.ml.runtime.StopAll(ctx)
	}
}

// computeNode reserves a node when resourceID is a compute (amlid run --as
// <compute>); otherwise it returns no node.
func (s *Server) computeNode(ctx context.Context, resourceID string) (*compute.Node, func(), error) {
	if s.ml.compute == nil || !compute.IsCompute(resourceID) {
		return nil, func() {}, nil
	}
	return s.ml.compute.Acquire(ctx, resourceID)
}

// pullEnvironment pulls an environment's amlid-registry image onto a
// compute node as the compute's acting identity (rules ACR-5 and ACR-2,
// CMP-2) before `amlid run --environment` starts the command; it returns
// the pull's log.
func (s *Server) pullEnvironment(ctx context.Context, res *arm.Resource, node *compute.Node, env string) (string, error) {
	if env == "" {
		return "", nil
	}
	if node == nil || s.ml.images == nil {
		return "", arm.Errorf(http.StatusBadRequest, "UserError", "--environment applies to a command run on a compute (--as <compute ID>).")
	}
	envID := env
	if strings.HasPrefix(strings.ToLower(env), "azureml:") {
		parts := strings.Split(env[len("azureml:"):], ":")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return "", arm.Errorf(http.StatusBadRequest, "UserError", "environment '%s' must be azureml:<name>:<version> or an environment version's resource ID.", env)
		}
		cid, _ := arm.ParseID(res.ID)
		envID = cid.Parent().String() + "/environments/" + parts[0] + "/versions/" + parts[1]
	}
	er, err := ml.LoadResource(ctx, s.Store, envID)
	if err != nil {
		return "", arm.Errorf(http.StatusNotFound, "ResourceNotFound", "Environment version '%s' was not found.", envID)
	}
	id, ok := access.Acting(res)
	if !ok {
		return "", arm.Errorf(http.StatusBadRequest, "UserError", "Rule ACR-5: compute %s has no managed identity to pull environment %s's image with.", res.Name, er.Name)
	}
	if id.TenantID == "" {
		id.TenantID = res.Identity.TenantID
	}
	var log strings.Builder
	if _, err := s.ml.images.PullInto(ctx, er, id, filepath.Join(node.Dir, ".azureml-image"), &log); err != nil {
		return log.String(), envimage.ARMError(err)
	}
	return log.String(), nil
}
