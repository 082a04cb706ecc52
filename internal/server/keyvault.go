package server

import (
	"context"

	"github.com/amlid/amlid/internal/arm"
)

// vaultParts holds the key-vault pieces (issue 8).
type vaultParts struct{}

// registerVaults declares Microsoft.KeyVault/vaults and mounts the secrets
// data plane on s.Hosts (kind "vault"). base is the front door's URL.
func (s *Server) registerVaults(ctx context.Context, reg *arm.Registry, base string) error {
	return nil
}

// openVaultHosts reopens every vault's port at start.
func (s *Server) openVaultHosts(ctx context.Context) error { return nil }
