package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/keyvault"
	"github.com/amlid/amlid/internal/store"
)

// vaultParts holds the key-vault pieces (issue 8).
type vaultParts struct {
	// Vaults is the provider and data plane; the ML workspace stores
	// datastore secrets through its Go API (SetSecret/GetSecret, rule DS-2).
	Vaults *keyvault.Vaults
}

// Vaults returns the key-vault provider (nil before Start).
func (s *Server) Vaults() *keyvault.Vaults { return s.kv.Vaults }

// VaultKeyFile is where the key that seals secret values lives, outside the
// store.
func VaultKeyFile(dataDir string) string { return filepath.Join(dataDir, "keys", "vault.key") }

// registerVaults declares Microsoft.KeyVault/vaults and mounts the secrets
// data plane on s.Hosts (kind "vault"). base is the front door's URL.
func (s *Server) registerVaults(ctx context.Context, reg *arm.Registry, base string) error {
	v, err := keyvault.New(ctx, keyvault.Config{
		Store: s.Store, Directory: s.Directory, Tokens: s.Tokens, Authz: s.Authz, Hosts: s.Hosts,
		KeyFile: VaultKeyFile(s.Opts.DataDir), Sealer: s.Sealer, AuthorityHost: base, DefaultTenant: s.Bootstrap.TenantID, Logger: s.log,
	})
	if err != nil {
		return err
	}
	s.kv.Vaults = v
	v.Register(reg)
	s.Hosts.Handle(keyvault.HostKind, v.Handler())
	s.Hosts.SetIssuer(s.CA.IssueLeaf)
	return nil
}

const kindVaultProxy = "keyvault.meta"

// openVaultHosts reopens every vault's port at start, and the CONNECT proxy
// that lets az reach a vault as {vault}.vault.azure.net (its port is kept
// in the store so HTTPS_PROXY stays valid across restarts).
func (s *Server) openVaultHosts(ctx context.Context) error {
	if s.kv.Vaults == nil {
		return nil
	}
	if err := s.kv.Vaults.OpenHosts(ctx); err != nil {
		return err
	}
	want := 0
	if rec, err := s.Store.Get(ctx, kindVaultProxy, "proxyPort"); err == nil {
		_ = json.Unmarshal(rec.Value, &want)
	}
	port, err := s.Hosts.ListenProxy(want)
	if errors.Is(err, hostport.ErrPortInUse) {
		s.log.Warn("the vault proxy's port is taken; it moves (re-export HTTPS_PROXY from `amlid keyvault proxy-env`)", "port", want)
		port, err = s.Hosts.ListenProxy(0)
	}
	if err != nil {
		return fmt.Errorf("vault proxy: %w", err)
	}
	if port != want {
		if _, err := store.Put(ctx, s.Store, store.Record{Kind: kindVaultProxy, Key: "proxyPort", Value: []byte(strconv.Itoa(port))}, ""); err != nil {
			return err
		}
	}
	s.State.VaultProxyURL = "http://" + s.Hosts.Host(port)
	return nil
}
