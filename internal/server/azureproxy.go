package server

import (
	"fmt"
	"net/http"

	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/keyvault"
	mlendpoint "github.com/amlid/amlid/internal/ml/endpoint"
	"github.com/amlid/amlid/internal/registry"
)

// azureRoute tells the proxy (hostport) which service owns an Azure host
// name: Resource Manager, Entra and Graph are the front door; Blob (and
// dfs, served by the Blob data plane) gets the request with its own
// account host; vaults, registries and scoring endpoints are the pool's.
func (s *Server) azureRoute(blobH http.Handler) func(n azurehost.Name) (http.Handler, error) {
	front := s.logRequests(limitBody(azureStyleEndpoints(s.front()), s.Opts.BodyIdleTimeout, frontReadTimeout))
	blob := s.logRequests(limitBody(blobH, s.Opts.BodyIdleTimeout, dataReadTimeout))
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
		case azurehost.Scoring:
			return s.Hosts.NamedHandler(mlendpoint.EndpointKind, n.Resource, n.Host)
		}
		return nil, fmt.Errorf("amlid does not serve %s", n.Host)
	}
}
