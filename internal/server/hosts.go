package server

import "context"

// openResourceHosts reopens the per-resource ports (package hostport) of
// every registry and vault recorded in the store.
func (s *Server) openResourceHosts(ctx context.Context) error {
	if err := s.openRegistryHosts(ctx); err != nil {
		return err
	}
	if err := s.openVaultHosts(ctx); err != nil {
		return err
	}
	return s.openMLHosts(ctx)
}
