// Package keyvault is amlid's Azure Key Vault: the Resource Manager type
// Microsoft.KeyVault/vaults (access policies, soft delete, purge protection,
// network rules, deleted vaults) and the secrets data plane each vault
// serves on its own loopback HTTPS port (package hostport), with Key Vault's
// challenge authentication, the shared token verifier, and both permission
// models: Azure RBAC or the vault's access policies.
//
// Where each rule lives:
//   - vault.go: the vault resource (validation, name uniqueness, ports, soft delete)
//   - accesspolicy.go: access-policy entries and accessPolicies/{add|replace|remove}
//   - deleted.go: deleted vaults (list, show, purge, recover via createMode)
//   - auth.go: the 401 challenge, token checks (ID-2, ID-4), the firewall,
//     and the two permission models (RBAC-2/RBAC-4, WS-5)
//   - secrets.go: secret versions, soft-deleted secrets, the Go API (DS-2)
//   - handler.go: the REST routes the SDKs and az call
//   - seal.go: encryption at rest (AES-256-GCM, key outside the store)
package keyvault

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/seal"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Names and constants.
const (
	Namespace = "Microsoft.KeyVault"
	VaultType = "Microsoft.KeyVault/vaults"
	// HostKind is the hostport kind vaults are served under.
	HostKind = "vault"
	// Audience is the Entra resource of Key Vault's data plane (rule ID-2).
	Audience = "https://vault.azure.net"
	// DefaultDNSSuffix is the cloud's keyVaultDns suffix: a vault is also
	// reachable as {name}.vault.azure.net through the resource proxy.
	DefaultDNSSuffix = ".vault.azure.net"
)

// Store kinds.
const (
	KindName    = "keyvault.name"          // key: lower(vault name) → nameEntry (vault names are global)
	KindDeleted = "keyvault.deletedvault"  // key: lower(vault name) → deletedVault
	KindSecret  = "keyvault.secret"        // key: lower(vault ID)/secrets/lower(name) → secretRecord
	KindVersion = "keyvault.secretversion" // key: secret key/version → versionRecord (value sealed)
	KindMeta    = "keyvault.meta"          // keycheck, proxyPort
)

// APIVersions of Microsoft.KeyVault/vaults (az 2.45 sends 2022-07-01,
// armkeyvault 1.5 sends 2024-11-01); any date in between is accepted.
var APIVersions = []string{"2016-10-01", "2018-02-14", "2019-09-01", "2021-10-01", "2022-07-01", "2023-07-01", "2024-11-01", "2025-05-01"}

// Config wires a Vaults.
type Config struct {
	Store     store.Store
	Directory *directory.Directory
	Tokens    *token.Service
	Authz     *authorization.Service
	// Hosts serves each vault on its own port (nil in unit tests: vaults
	// then get no port and vaultUri points at DNSSuffix names).
	Hosts *hostport.Pool
	// KeyFile is the AES-256 key that seals secret values
	// (<data-dir>/keys/vault.key). It is created on first use, mode 0600.
	// Unused when Sealer is set.
	KeyFile string
	// Sealer seals secret values (package seal); nil loads one from
	// KeyFile.
	Sealer *seal.Sealer
	// AuthorityHost is the Entra authority host named in challenges
	// (https://127.0.0.1:8443).
	AuthorityHost string
	// DefaultTenant is the tenant the "adfs" authority stands for.
	DefaultTenant string
	// DNSSuffix is ".vault.azure.net" unless set.
	DNSSuffix string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Vaults is the key-vault provider and data plane.
type Vaults struct {
	cfg   Config
	seal  *seal.Sealer
	pages *paging.Codec
}

// New loads (or creates) the sealing key and checks it opens what the store
// holds.
func New(ctx context.Context, cfg Config) (*Vaults, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DNSSuffix == "" {
		cfg.DNSSuffix = DefaultDNSSuffix
	}
	s := cfg.Sealer
	var err error
	if s == nil {
		s, err = seal.Load(ctx, cfg.Store, cfg.KeyFile)
	}
	if err != nil {
		return nil, err
	}
	return &Vaults{cfg: cfg, seal: s, pages: paging.New(cfg.Store)}, nil
}

func (v *Vaults) now() time.Time {
	if v.cfg.Now != nil {
		return v.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

// Register declares Microsoft.KeyVault/vaults, its accessPolicies
// operations and the subscription-level deleted-vault routes.
func (v *Vaults) Register(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    Namespace,
		Path:         "vaults",
		APIVersions:  APIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK,
		Name:         vaultNameRule,
		Validate:     v.validateVault,
		BeforeCommit: v.beforeCommitVault,
		BeforeDelete: v.beforeDeleteVault,
		AfterCommit:  v.afterCommitVault,
	})
	reg.Register(&arm.ResourceType{
		Namespace:   Namespace,
		Path:        "vaults/accessPolicies",
		APIVersions: APIVersions,
		Serve:       v.serveAccessPolicies,
	})
	reg.RegisterProviderRoute(Namespace, "deletedVaults", v.serveDeletedVaults)
	reg.RegisterProviderRoute(Namespace, "locations", v.serveDeletedVaults)
	reg.RegisterProviderRoute(Namespace, "checkNameAvailability", v.serveCheckName)
}
