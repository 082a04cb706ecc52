package server

import (
	"context"
	"path/filepath"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/registry"
)

// registryParts holds the container-registry pieces (issue 7).
type registryParts struct {
	provider *registry.Provider
}

// registerRegistries declares Microsoft.ContainerRegistry/registries and
// mounts the OCI data plane on s.Hosts (kind "registry"): each registry
// gets its own loopback HTTPS port, recorded as its loginServer. Blob
// contents live in <data-dir>/registry. base is the front door's URL.
func (s *Server) registerRegistries(ctx context.Context, reg *arm.Registry, base string) error {
	p, err := registry.New(ctx, registry.Config{
		Store: s.Store, Directory: s.Directory, Tokens: s.Tokens, Authz: s.Authz, Ports: s.Hosts,
		DataDir: filepath.Join(s.Opts.DataDir, "registry"), Logger: s.log,
	})
	if err != nil {
		return err
	}
	p.Register(reg)
	s.acr.provider = p
	return nil
}

// openRegistryHosts reopens every registry's port at start (a port taken
// meanwhile is replaced and the registry's loginServer updated).
func (s *Server) openRegistryHosts(ctx context.Context) error {
	if s.acr.provider == nil {
		return nil
	}
	return s.acr.provider.OpenAll(ctx)
}

// Registries returns the container-registry provider (nil before Start).
func (s *Server) Registries() *registry.Provider { return s.acr.provider }
