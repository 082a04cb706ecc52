package server

import (
	"context"

	"github.com/amlid/amlid/internal/arm"
)

// mlParts holds the Azure ML pieces (issues 9 and 10).
type mlParts struct{}

// registerML declares Microsoft.MachineLearningServices and its children.
func (s *Server) registerML(ctx context.Context, reg *arm.Registry, base string) error {
	return nil
}

// stopML stops the deployments' processes.
func (s *Server) stopML(ctx context.Context) {}
