package server

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/keyvault"
	mlendpoint "github.com/amlid/amlid/internal/ml/endpoint"
	"github.com/amlid/amlid/internal/registry"
)

// azureRoute tells the proxy (hostport) which service owns an Azure host
// name: Resource Manager, Entra and Graph are the front door; Blob (and
// dfs, served by the Blob data plane) gets the request with its own
// account host; vaults, registries and scoring endpoints are the pool's;
// {region}.api.azureml.ms is the jobs' discovery and run history.
func (s *Server) azureRoute(blobH http.Handler) func(n azurehost.Name) (http.Handler, error) {
	front := s.logRequests(limitBody(azureStyleEndpoints(s.front()), s.Opts.BodyIdleTimeout, frontReadTimeout))
	blob := s.logRequests(limitBody(blobH, s.Opts.BodyIdleTimeout, dataReadTimeout))
	// One run-history handler: its log URLs are signed with a key it holds.
	runHistory := sync.OnceValue(func() http.Handler {
		return s.logRequests(limitBody(s.ml.jobs.RunHistoryHandler(s.armAuthn.Authenticate), s.Opts.BodyIdleTimeout, frontReadTimeout))
	})
	return func(n azurehost.Name) (http.Handler, error) {
		switch n.Service {
		case azurehost.ARM, azurehost.Login, azurehost.Graph:
			return front, nil
		case azurehost.Blob, azurehost.DFS:
			return blob, nil
		case azurehost.Vault:
			return s.Hosts.NamedHandler(keyvault.HostKind, n.Resource, n.Host)
		case azurehost.Registry:
			return s.Hosts.NamedHandler(registry.HostKind, n.Resource, n.Host)
		case azurehost.MLAPI:
			if s.ml.jobs == nil {
				return nil, fmt.Errorf("amlid's ML wing is not running")
			}
			return runHistory(), nil
		case azurehost.Scoring:
			return s.Hosts.NamedHandler(mlendpoint.EndpointKind, n.Resource, n.Host)
		}
		return nil, fmt.Errorf("amlid does not serve %s", n.Host)
	}
}
