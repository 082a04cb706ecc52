package server

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"log/slog"

	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/identity"
	"github.com/amlid/amlid/internal/storage"
)

// Module is one capability `amlid up` assembles on the core (store,
// directory, tokens, authorization, the ARM front door, the per-resource
// host pool, the workload registry): it is built by a function that
// declares its ARM types and mounts its data plane, then
//   - Resume reopens what it serves once every module is in place and the
//     front door is serving (per-resource ports, deployment processes);
//   - Stop stops what it runs, in reverse start order.
type Module interface {
	Name() string
	Resume(ctx context.Context) error
	Stop(ctx context.Context)
}

// module is a Module from its parts.
type module struct {
	name   string
	resume func(ctx context.Context) error
	stop   func(ctx context.Context)
}

func (m module) Name() string { return m.name }

func (m module) Resume(ctx context.Context) error {
	if m.resume == nil {
		return nil
	}
	return m.resume(ctx)
}

func (m module) Stop(ctx context.Context) {
	if m.stop != nil {
		m.stop(ctx)
	}
}

// moduleList is amlid's assembly: every provider, in dependency order.
func (s *Server) moduleList() []func(context.Context) (Module, error) {
	return []func(context.Context) (Module, error){
		s.identityModule,
		s.storageModule,
		s.registryModule,
		s.vaultModule,
		s.mlModule,
		s.webModule,
	}
}

// identityModule is Microsoft.ManagedIdentity.
func (s *Server) identityModule(context.Context) (Module, error) {
	s.Identity = &identity.Provider{Cleanup: []identity.PrincipalCleanup{authorization.DeleteAssignmentsOf}}
	s.Identity.Register(s.ARM.Registry())
	return module{name: "identity"}, nil
}

// storageModule is Microsoft.Storage and the Blob data plane on its port.
func (s *Server) storageModule(context.Context) (Module, error) {
	s.Storage = &storage.Provider{Store: s.Store, BlobBaseURL: s.State.BlobURL}
	s.Storage.Register(s.ARM.Registry())
	bcfg := blob.Config{Storage: s.Storage, Store: s.Store, Tokens: s.Tokens, Authz: s.Authz,
		DataDir: filepath.Join(s.Opts.DataDir, "blobs"), Logger: s.log, AuthorityHost: s.State.ARMURL, TrustedService: s.trustedService,
		SubnetOf: s.subnetOf}
	if t := s.Opts.Testing; t != nil && t.Blob != nil {
		t.Blob(&bcfg)
	}
	blobH, err := blob.New(bcfg)
	if err != nil {
		return nil, err
	}
	s.Blob = blobH
	// The proxy that serves Azure's host names (`amlid env --azure-hostnames`).
	s.Hosts.SetRouter(s.azureRoute(blobH))
	// Workloads' own proxy credentials tell storage where a request comes
	// from (virtual-network rules).
	s.Hosts.SetOrigins(s.workloadOrigin)
	s.blobSrv = &http.Server{Handler: s.logRequests(limitBody(blobH, s.Opts.BodyIdleTimeout, dataReadTimeout)), TLSConfig: s.CA.TLSConfig(),
		ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	// Files of crashed uploads and blocks never committed are swept at
	// start and hourly.
	sweep := func(context.Context) error {
		go func() {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				if _, err := blobH.Sweep(context.Background(), time.Hour); err != nil {
					s.log.Warn("blob sweep", "err", err)
				}
				select {
				case <-s.stopping:
					return
				case <-t.C:
				}
			}
		}()
		return nil
	}
	return module{name: "storage", resume: sweep}, nil
}

// registryModule is Microsoft.ContainerRegistry with its OCI data plane.
func (s *Server) registryModule(ctx context.Context) (Module, error) {
	if err := s.registerRegistries(ctx, s.ARM.Registry(), s.State.ARMURL); err != nil {
		return nil, err
	}
	return module{name: "registry", resume: s.openRegistryHosts}, nil
}

// vaultModule is Microsoft.KeyVault with its secrets data plane and proxy.
func (s *Server) vaultModule(ctx context.Context) (Module, error) {
	if err := s.registerVaults(ctx, s.ARM.Registry(), s.State.ARMURL); err != nil {
		return nil, err
	}
	return module{name: "keyvault", resume: s.openVaultHosts}, nil
}

// mlModule is Microsoft.MachineLearningServices and its runtime.
func (s *Server) mlModule(ctx context.Context) (Module, error) {
	if err := s.registerML(ctx, s.ARM.Registry(), s.State.ARMURL); err != nil {
		return nil, err
	}
	return module{name: "ml", resume: s.openMLHosts, stop: s.stopML}, nil
}
