package server

import (
	"context"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/token"
)

// mlParts holds the Azure ML pieces (issues 9 and 10).
type mlParts struct {
	provider *ml.Provider
}

// registerML declares Microsoft.MachineLearningServices and its children.
func (s *Server) registerML(ctx context.Context, reg *arm.Registry, base string) error {
	s.ml.provider = &ml.Provider{Store: s.Store, Directory: s.Directory, Authz: s.Authz,
		ARM: func() *arm.Server { return s.ARM }, Logger: s.log}
	s.ml.provider.Register(reg)
	return nil
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
func (s *Server) stopML(ctx context.Context) {}
