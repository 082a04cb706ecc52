// Package endpoint is the ML wing's online endpoints and deployments
// (rules EP-1..EP-6): endpoints with their identities, keys and aml_token
// (endpoint.go), deployments checked against rule EP-3 and run by package
// runtime with their identity wired in (deployment.go, download.go), and
// each endpoint's scoring port (scoring.go).
package endpoint

import (
	"context"
	"crypto/x509"
	"io"
	"sync"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/runtime"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/workload"
)

// Provider declares online endpoints and deployments over the ML core.
type Provider struct {
	*ml.Provider

	Hosts        *hostport.Pool              // one scoring port per endpoint
	Runtime      *runtime.Supervisor         // the deployments' processes
	Workloads    *workload.Registry          // MSI_ENDPOINT/MSI_SECRET per deployment
	MSIURL       string                      // base URL of the managed-identity endpoints
	Tokens       *token.Service              // aad_token endpoints
	RootCAs      *x509.CertPool              // to read the workspace's blobs over amlid's TLS
	BlobEndpoint func(account string) string // an account's blob endpoint on this run
	CABundle     string                      // system roots + amlid's CA, trusted by scoring code
	WorkDir      string                      // <data-dir>/ml: downloaded code and models
	// ProxyURL is amlid's proxy for Azure's host names (known once the
	// vault module resumed): scoring code gets it as HTTPS_PROXY, so it
	// reaches {account}.blob.core.windows.net (or .chinacloudapi.cn) as
	// written for Azure.
	ProxyURL func() string
	// PullImage pulls a deployment's environment image when it names an
	// amlid registry (issue 21: envimage.Provider.PullInto), as identity id
	// into dir, logging to log; it returns the image ("" when none).
	PullImage func(ctx context.Context, env *arm.Resource, id access.Identity, dir string, log io.Writer) (string, error)

	mu        sync.Mutex
	workloads map[string]string // lower(deployment ID) → workload ID
}

// API versions this package calls.
const apiStorage = "2022-09-01"

// Register declares the endpoint and deployment types on reg and mounts the
// scoring handler on the host pool.
func (p *Provider) Register(reg *arm.Registry) {
	p.workloads = map[string]string{}
	p.registerEndpoint(reg)
	p.registerDeployment(reg)
	if p.Hosts != nil {
		p.Hosts.Handle(EndpointKind, p.ScoringHandler())
	}
}
