// Package ml is amlid's Microsoft.MachineLearningServices resource provider:
// workspaces with their identities and associated resources (rules
// WS-1..WS-7, workspace.go), the minimal Microsoft.Insights/components a
// workspace needs (insights.go), the assets deployments use (assets.go),
// and online endpoints and deployments (endpoint.go, deployment.go,
// scoring.go; rules EP-1..EP-5) run by package runtime.
//
// The provider creates the resources a workspace depends on (storage
// account, key vault, application insights, and on first need the container
// registry) through arm.Server.Do: the same validation, hooks and RBAC as a
// request from the network, so a workspace's storage account is an ordinary
// storage account.
package ml

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/runtime"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/workload"
)

// Type names.
const (
	Namespace     = "Microsoft.MachineLearningServices"
	WorkspaceType = "Microsoft.MachineLearningServices/workspaces"
	InsightsType  = "Microsoft.Insights/components"
)

// API versions of the types this package declares and of the ones it calls.
const (
	apiStorage  = "2022-09-01"
	apiVault    = "2022-07-01"
	apiRegistry = "2022-02-01-preview"
	apiInsights = "2020-02-02"
	apiGroup    = "2021-04-01"
)

// MLAPIVersions span azure-ai-ml 1.4 (2022-10-01, 2023-04-01-preview),
// armmachinelearning v4 (2024-04-01) and newer SDKs.
var MLAPIVersions = []string{"2020-06-01", "2021-07-01", "2022-05-01", "2022-10-01", "2022-12-01-preview",
	"2023-04-01", "2023-04-01-preview", "2023-10-01", "2024-04-01", "2024-10-01", "2025-01-01-preview", "2025-09-01", "2025-12-01"}

// Provider declares the ML types.
type Provider struct {
	Store     store.Store
	Directory *directory.Directory
	Authz     *authorization.Service
	// ARM is the front door (it exists before any provider declares its
	// types, so providers hold it directly).
	ARM    *arm.Server
	Logger *slog.Logger

	// Online endpoints (issue 10).
	Hosts        *hostport.Pool              // one scoring port per endpoint
	Runtime      *runtime.Supervisor         // the deployments' processes
	Workloads    *workload.Registry          // MSI_ENDPOINT/MSI_SECRET per deployment
	MSIURL       string                      // base URL of the managed-identity endpoints
	Tokens       *token.Service              // aad_token endpoints
	RootCAs      *x509.CertPool              // to read the workspace's blobs over amlid's TLS
	BlobEndpoint func(account string) string // an account's blob endpoint on this run
	CABundle     string                      // system roots + amlid's CA, trusted by scoring code
	WorkDir      string                      // <data-dir>/ml: downloaded code and models

	mu        sync.Mutex
	workloads map[string]string // lower(deployment ID) → workload ID
}

func (p *Provider) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Register declares the types on reg.
func (p *Provider) Register(reg *arm.Registry) {
	p.workloads = map[string]string{}
	p.registerWorkspace(reg)
	p.registerInsights(reg)
	p.registerAssets(reg)
	p.registerEndpoint(reg)
	p.registerDeployment(reg)
	if p.Hosts != nil {
		p.Hosts.Handle(EndpointKind, p.ScoringHandler())
	}
}

// loadResource reads a resource by ID inside or outside a transaction.
func loadResource(ctx context.Context, r store.Reader, id string) (*arm.Resource, error) {
	pid, err := arm.ParseID(id)
	if err != nil {
		return nil, err
	}
	rec, err := r.Get(ctx, arm.KindResource, pid.Key())
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}
