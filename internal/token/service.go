// Package token is amlid's Entra ID token service (rule ID-2): the OAuth 2.0
// / OpenID Connect endpoints real Microsoft clients talk to (MSAL Go through
// azidentity, MSAL Python through azure-identity and az), the RS256 signing
// keys with rotation and a published JWKS, token issuance for managed
// identities, and the one verifier every plane (ARM, Blob, Key Vault, ACR)
// uses before RBAC.
//
// # Issuer and audience
//
// A token's version follows the request form, and the issuer follows the
// version; both forms always carry the tenant ID:
//
//	request with scope=    (v2 endpoint, or the adfs endpoint as MSAL uses it)
//	    iss = https://login.microsoftonline.com/{tid}/v2.0   ver = "2.0"
//	request with resource= (v1 endpoint, managed identities via IssueAccessToken)
//	    iss = https://sts.windows.net/{tid}/                 ver = "1.0"
//
// These are Entra's issuers, independent of amlid's host and port, so a
// token (and every client's cache) stays valid when `amlid up` comes back
// on another port. Verify accepts exactly those two forms for the token's
// own tid, signed by one of this data dir's keys.
// The access token's aud is the requested resource: the scope minus
// "/.default" (or minus "/<permission>"), byte for byte, so az's
// "https://management.core.windows.net//.default" gives
// aud "https://management.core.windows.net/". Verify compares audiences
// exactly but tolerates one trailing slash on either side.
//
// # Routes
//
// Handler serves, for every tenant ID or verified domain, the aliases
// common / organizations / consumers, and the adfs authority (which maps to
// the default tenant):
//
//	GET  /{t}/v2.0/.well-known/openid-configuration   GET  /{t}/.well-known/openid-configuration
//	POST /{t}/oauth2/v2.0/token                       POST /{t}/oauth2/token
//	POST /{t}/oauth2/v2.0/devicecode                  POST /{t}/oauth2/devicecode
//	POST /{t}/oauth2/deviceauth?user_code=…           GET|POST /{t}/oauth2[/v2.0]/authorize (sign-in form)
//	GET  /{t}/discovery/v2.0/keys                     GET  /{t}/discovery/keys
//	GET  /{t}/discovery/instance                      GET  /common/UserRealm/{upn}
//
// OwnsPath tells a shared listener which requests belong here.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// Store kinds owned by this package.
const (
	KindKey          = "token.key"        // signing keys (private key included)
	KindRefreshToken = "token.refresh"    // refresh tokens, keyed by SHA-256
	KindDeviceCode   = "token.devicecode" // pending device codes, keyed by SHA-256, parent = user code
	KindAuthCode     = "token.authcode"   // authorization codes, keyed by SHA-256, parent = user object ID
)

// Defaults.
const (
	DefaultRotationPeriod       = 24 * time.Hour
	DefaultClockSkew            = 5 * time.Minute
	DefaultRefreshTokenLifetime = 90 * 24 * time.Hour
	DefaultDeviceCodeLifetime   = 15 * time.Minute

	// minLifetime/maxLifetime bound the random access-token lifetime when
	// Config.TokenLifetime is zero (Entra hands out 60–90 minutes).
	minLifetime = 60 * time.Minute
	maxLifetime = 90 * time.Minute

	// cacheMargin: a cached token is reused until this long before it
	// expires, as Entra and the managed-identity endpoints do.
	cacheMargin = 5 * time.Minute
)

// Well-known public client IDs accepted as client_id for user flows besides
// any registered application's appId.
var wellKnownPublicClients = map[string]string{
	"04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Microsoft Azure CLI", // az, and azidentity's default
	"1950a258-227b-4e31-a9cf-717495945fc2": "Microsoft Azure PowerShell",
	"aebc6443-996d-45c2-90f0-388ff96faa56": "Visual Studio Code",
	"872cd9fa-d31f-45e0-9eab-6e460a02d1f1": "Visual Studio",
}

// Config configures a Service.
type Config struct {
	// BaseURL is the authority host, e.g. https://127.0.0.1:8443, without a
	// trailing slash. Issuers and discovery documents are built from it, so
	// clients must use exactly this scheme and host:port as authority.
	BaseURL   string
	Store     store.Store
	Directory *directory.Directory // default: directory.New(Store)
	Logger    *slog.Logger         // default: slog.Default()
	// TokenLifetime fixes the access-token lifetime; zero picks a random
	// 60–90 minutes per token, like Entra.
	TokenLifetime time.Duration
	Now           func() time.Time // default time.Now
	// DefaultTenant is the tenant the adfs authority maps to (and the first
	// one tried for the aliases). Empty: the only tenant in the directory.
	DefaultTenant string
	// RotationPeriod is how often a new signing key replaces the current
	// one. Zero means DefaultRotationPeriod; negative turns automatic
	// rotation off (Rotate still works).
	RotationPeriod time.Duration
	// ClockSkew is tolerated on exp/nbf (tokens and client assertions) and
	// added to the key overlap. Zero means DefaultClockSkew.
	ClockSkew time.Duration
	// RefreshTokenLifetime: zero means DefaultRefreshTokenLifetime.
	RefreshTokenLifetime time.Duration
	// DisableTokenCache makes every client-credentials grant and every
	// IssueAccessToken call sign a fresh token (benchmarks, tests). By
	// default tokens are cached per (principal, client, audience) and reused
	// until 5 minutes before expiry, as Entra does.
	DisableTokenCache bool
	// PublicClientIDs are extra client IDs accepted for user flows.
	PublicClientIDs []string
	// Resources are resources the token endpoint issues tokens for besides
	// the Azure services amlid serves and registered applications (e.g.
	// the URL amlid serves Graph on). Compared case-insensitively, trailing
	// slashes ignored.
	Resources []string
	// ResourcePrefixes accept any resource of one more path segment under
	// a prefix (the Blob endpoint's https://host:port/<account>).
	ResourcePrefixes []string
}

// Service is the token service. Create it with New.
type Service struct {
	cfg   Config
	base  string
	dir   *directory.Directory
	st    store.Store
	log   *slog.Logger
	keys  *keyring
	cache *tokenCache
	mux   *http.ServeMux

	mu            sync.RWMutex
	defaultTenant string
	lastSweep     time.Time // wall clock

	cancel context.CancelFunc
	done   chan struct{}
}

// New loads (or creates) the signing keys and starts automatic rotation,
// which runs until ctx ends or Close is called.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil && cfg.Directory != nil {
		cfg.Store = cfg.Directory.Store()
	}
	if cfg.Store == nil {
		return nil, errors.New("token: Config.Store is required")
	}
	if cfg.Directory == nil {
		cfg.Directory = directory.New(cfg.Store)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("token: Config.BaseURL %q must be an absolute https URL such as https://127.0.0.1:8443", cfg.BaseURL)
	}
	if u.Path != "" {
		return nil, fmt.Errorf("token: Config.BaseURL %q must not have a path (the tenant is the first path segment)", cfg.BaseURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RotationPeriod == 0 {
		cfg.RotationPeriod = DefaultRotationPeriod
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.RefreshTokenLifetime <= 0 {
		cfg.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	s := &Service{
		cfg:           cfg,
		base:          base,
		dir:           cfg.Directory,
		st:            cfg.Store,
		log:           cfg.Logger.With("component", "token"),
		cache:         newTokenCache(),
		defaultTenant: cfg.DefaultTenant,
	}
	if u.Scheme != "https" {
		s.log.Warn("token service BaseURL is not https: MSAL, azidentity and az refuse such an authority", "base_url", base)
	}
	s.keys = &keyring{s: s}
	if err := s.keys.ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.keys.maybeRotate(ctx); err != nil { // a key left over from a long stop
		return nil, err
	}
	s.mux = s.routes()
	bg, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	go s.maintain(bg)
	return s, nil
}

// Close stops background rotation and sweeping.
func (s *Service) Close() error {
	s.cancel()
	<-s.done
	return nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// SetDefaultTenant changes the tenant the adfs authority maps to.
func (s *Service) SetDefaultTenant(tenantID string) {
	s.mu.Lock()
	s.defaultTenant = tenantID
	s.mu.Unlock()
}

// DefaultTenant returns the tenant the adfs authority maps to: the
// configured one, else the only tenant of the directory.
func (s *Service) DefaultTenant(ctx context.Context) (string, error) {
	s.mu.RLock()
	t := s.defaultTenant
	s.mu.RUnlock()
	if t != "" {
		return strings.ToLower(t), nil
	}
	ts, err := s.dir.Tenants(ctx)
	if err != nil {
		return "", err
	}
	if len(ts) == 1 {
		return strings.ToLower(ts[0].ID), nil
	}
	return "", fmt.Errorf("no default tenant: the directory has %d tenants and none is set as default (token.Config.DefaultTenant / SetDefaultTenant)", len(ts))
}

// maintain rotates keys when due and sweeps expired records.
func (s *Service) maintain(ctx context.Context) {
	defer close(s.done)
	tick := time.Minute
	if p := s.cfg.RotationPeriod; p > 0 && p/10 < tick {
		tick = max(p/10, time.Second)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.keys.maybeRotate(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("signing key rotation failed", "err", err)
		}
		s.cache.sweep(s.now())
		if err := s.sweepRecords(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping expired token records failed", "err", err)
		}
	}
}

// Aliases for the tenant segment.
const (
	aliasCommon        = "common"
	aliasOrganizations = "organizations"
	aliasConsumers     = "consumers"
	aliasADFS          = "adfs"
)

// tenantRef is the tenant segment of a request, resolved.
type tenantRef struct {
	Seg   string // as in the URL
	ID    string // resolved tenant ID; "" for common/organizations/consumers
	Alias string // common | organizations | consumers | adfs | ""
}

func (t tenantRef) isADFS() bool { return t.Alias == aliasADFS }

// resolveTenant maps the URL's tenant segment to a tenant.
func (s *Service) resolveTenant(ctx context.Context, seg string) (tenantRef, *oauthError) {
	ref := tenantRef{Seg: seg}
	switch l := strings.ToLower(seg); l {
	case aliasCommon, aliasOrganizations, aliasConsumers:
		ref.Alias = l
		return ref, nil
	case aliasADFS:
		ref.Alias = l
		id, err := s.DefaultTenant(ctx)
		if err != nil {
			return ref, errTenantNotFound(seg, err.Error())
		}
		ref.ID = id
		return ref, nil
	}
	if _, err := uuid.Parse(seg); err == nil {
		t, err := s.dir.Tenant(ctx, seg)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ref, errTenantNotFound(seg, "")
			}
			return ref, errServer(err)
		}
		ref.ID = strings.ToLower(t.ID)
		return ref, nil
	}
	ts, err := s.dir.Tenants(ctx)
	if err != nil {
		return ref, errServer(err)
	}
	for _, t := range ts {
		if t.DefaultDomain != "" && strings.EqualFold(t.DefaultDomain, seg) {
			ref.ID = strings.ToLower(t.ID)
			return ref, nil
		}
	}
	return ref, errTenantNotFound(seg, "")
}

// ResolveTenantID maps a tenant as users and amlid's exports name it (a
// tenant ID, a verified domain, or "adfs", the authority form `amlid env`
// exports for the default tenant) to the tenant's ID. common, organizations
// and consumers name no single tenant: "" with no error. An unknown name is
// an error that says which tenants exist.
func (s *Service) ResolveTenantID(ctx context.Context, name string) (string, error) {
	ref, oe := s.resolveTenant(ctx, name)
	if oe != nil {
		if oe.Status >= 500 {
			return "", oe
		}
		return "", &UnknownTenantError{Name: name}
	}
	return ref.ID, nil
}

// UnknownTenantError: no tenant has this ID or domain.
type UnknownTenantError struct{ Name string }

func (e *UnknownTenantError) Error() string {
	return fmt.Sprintf("tenant '%s' not found: name a tenant by its ID, its domain (e.g. amlid.onmicrosoft.com) or 'adfs' (amlid's default tenant)", e.Name)
}

// candidateTenants is the search order for a principal when the request
// names an alias: the default tenant first, then every other tenant.
func (s *Service) candidateTenants(ctx context.Context, ref tenantRef) ([]string, error) {
	if ref.ID != "" {
		return []string{ref.ID}, nil
	}
	var out []string
	if def, err := s.DefaultTenant(ctx); err == nil {
		out = append(out, def)
	}
	ts, err := s.dir.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if id := strings.ToLower(t.ID); len(out) == 0 || id != out[0] {
			out = append(out, id)
		}
	}
	return out, nil
}

// lookup finds a principal by an indexed field in the tenant(s) ref allows.
func (s *Service) lookup(ctx context.Context, ref tenantRef, field, value string) (*directory.Principal, error) {
	tenants, err := s.candidateTenants(ctx, ref)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		p, err := s.dir.Lookup(ctx, t, field, value)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return nil, store.ErrNotFound
}

// Issuer forms (see the package comment): Entra's own, whatever host and
// port amlid listens on, so tokens (and what clients cached) outlive a
// restart on another port. MSAL Go accepts a discovery issuer on these
// hosts for any authority (its trusted-host list).
const (
	IssuerV2Host = "https://login.microsoftonline.com"
	IssuerV1Host = "https://sts.windows.net"
)

func (s *Service) issuerV2(tid string) string { return IssuerV2Host + "/" + tid + "/v2.0" }
func (s *Service) issuerV1(tid string) string { return IssuerV1Host + "/" + tid + "/" }

// BaseURL returns the authority host the service was configured with.
func (s *Service) BaseURL() string { return s.base }
