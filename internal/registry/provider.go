// Package registry is amlid's Microsoft.ContainerRegistry resource
// provider: registries declared on ARM (sku, admin user, login server,
// identity, network bypass, listCredentials/regenerateCredential) and their
// data plane — the OCI distribution API (package oci) behind Azure
// Container Registry's authentication: the admin user's Basic credentials
// while adminUserEnabled (rule ACR-1), Entra tokens exchanged for registry
// refresh tokens at /oauth2/exchange, and access tokens from /oauth2/token
// that carry only what RBAC grants (AcrPull → pull, AcrPush → pull+push).
//
// Each registry is served on its own loopback HTTPS port (package
// hostport): its loginServer is "127.0.0.1:PORT", the address clients
// really reach it on.
package registry

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/registry/oci"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Type names and the hostport kind.
const (
	Namespace    = "Microsoft.ContainerRegistry"
	RegistryType = "Microsoft.ContainerRegistry/registries"
	HostKind     = "registry"
	// KindIndex lists every registry (key: lower-cased resource ID), so
	// amlid reopens their ports at start without scanning all resources.
	KindIndex = "registry.index"
)

// RBAC actions a registry's data plane checks (as the built-in AcrPull and
// AcrPush roles write them: actions, not data actions).
const (
	ActionPull    = catalog.RegistryPull
	ActionPush    = catalog.RegistryPush
	ActionDelete  = catalog.RegistryArtifactDelete
	ActionListCrd = catalog.RegistryListCredentials
)

// APIVersions of Microsoft.ContainerRegistry (az 2.45 sends
// 2022-02-01-preview, armcontainerregistry 1.2 sends 2023-07-01).
var APIVersions = []string{"2016-06-27-preview", "2017-10-01", "2019-05-01", "2021-09-01", "2022-02-01-preview",
	"2022-12-01", "2023-01-01-preview", "2023-07-01", "2023-11-01-preview", "2025-04-01", "2025-11-01"}

// Ports is the part of hostport.Pool the provider uses.
type Ports interface {
	Open(kind, id string, port int) (int, error)
	Close(id string)
	Host(port int) string
	Handle(kind string, h http.Handler)
}

var _ Ports = (*hostport.Pool)(nil)

// Config wires a Provider.
type Config struct {
	Store     store.Store
	Directory *directory.Directory
	Tokens    *token.Service
	Authz     *authorization.Service
	Ports     Ports
	// DataDir holds blob contents (<data-dir>/registry).
	DataDir string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Provider declares registries and serves their data plane.
type Provider struct {
	cfg    Config
	signer *signer
	oci    *oci.Handler
	views  sync.Map // registry key → cachedView (decoded while its ETag holds)
}

// New loads (or creates) the registry token signing key and the blob store.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg}
	var err error
	if p.signer, err = loadSigner(ctx, cfg.Store); err != nil {
		return nil, fmt.Errorf("registry signing key: %w", err)
	}
	if p.oci, err = oci.New(oci.Config{Store: cfg.Store, Dir: filepath.Join(cfg.DataDir), Auth: authorizer{p}, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	if cfg.Ports != nil {
		cfg.Ports.Handle(HostKind, p)
	}
	return p, nil
}

func (p *Provider) now() time.Time { return p.cfg.Now().UTC() }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]{5,50}$`)

var skus = map[string]string{"basic": "Basic", "standard": "Standard", "premium": "Premium", "classic": "Classic"}

// Register declares Microsoft.ContainerRegistry/registries on reg.
func (p *Provider) Register(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    Namespace,
		Path:         "registries",
		APIVersions:  APIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK,
		Name:         arm.NameRule{Min: 5, Max: 50, Pattern: nameRE, Hint: "5 to 50 letters and digits"},
		Identity:     arm.IdentityACR,
		Validate:     p.validate,
		BeforeCommit: p.beforeCommit,
		BeforeDelete: p.beforeDelete,
		AfterCommit:  p.afterCommit,
		Actions: map[string]arm.Action{
			"listCredentials":      {Handler: p.listCredentials},
			"regenerateCredential": {Handler: p.regenerateCredential},
		},
	})
}

func badRequest(code, format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, code, format, args...)
}

func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	skuName, _ := nu.SKU["name"].(string)
	if skuName == "" && old != nil {
		skuName, _ = old.SKU["name"].(string)
	}
	if skuName == "" {
		return badRequest("InvalidRequestContent", "The request content was invalid: sku.name is required (Basic, Standard or Premium).")
	}
	canon, ok := skus[strings.ToLower(skuName)]
	if !ok || canon == "Classic" {
		return badRequest("InvalidSku", "The sku '%s' is not supported. Use Basic, Standard or Premium.", skuName)
	}
	nu.SKU = map[string]any{"name": canon, "tier": canon}
	props := nu.Properties
	for _, ro := range []string{"loginServer", "creationDate", "provisioningState", "status", "dataEndpointHostNames", "privateEndpointConnections"} {
		delete(props, ro)
	}
	keep := func(key string, def any) {
		if v, ok := props[key]; ok && v != nil {
			return
		}
		if old != nil && old.Properties[key] != nil {
			props[key] = old.Properties[key]
			return
		}
		props[key] = def
	}
	boolProp := func(key string) error {
		if v, ok := props[key]; ok && v != nil {
			if _, isBool := v.(bool); !isBool {
				return badRequest("InvalidRequestContent", "properties.%s must be a boolean, not %v.", key, v)
			}
		}
		keep(key, false)
		return nil
	}
	// adminUserEnabled is false unless asked for (a user's registry); the
	// ML workspace's own registry asks for true (rule WS-7).
	for _, b := range []string{"adminUserEnabled", "dataEndpointEnabled", "anonymousPullEnabled"} {
		if err := boolProp(b); err != nil {
			return err
		}
	}
	if props["anonymousPullEnabled"] == true {
		return badRequest("InvalidRequestContent", "anonymousPullEnabled is not supported by amlid: every pull is authenticated (admin user, rule ACR-1, or an Entra identity with AcrPull).")
	}
	enum := func(key, def string, allowed ...string) error {
		keep(key, def)
		s, ok := props[key].(string)
		if !ok {
			return badRequest("InvalidRequestContent", "properties.%s must be a string.", key)
		}
		for _, a := range allowed {
			if strings.EqualFold(a, s) {
				props[key] = a
				return nil
			}
		}
		return badRequest("InvalidRequestContent", "properties.%s '%s' is invalid; use one of %s.", key, s, strings.Join(allowed, ", "))
	}
	if err := enum("publicNetworkAccess", "Enabled", "Enabled", "Disabled"); err != nil {
		return err
	}
	if err := enum("networkRuleBypassOptions", "AzureServices", "AzureServices", "None"); err != nil {
		return err
	}
	if err := enum("zoneRedundancy", "Disabled", "Enabled", "Disabled"); err != nil {
		return err
	}
	keep("networkRuleSet", map[string]any{"defaultAction": "Allow", "ipRules": []any{}})
	keep("encryption", map[string]any{"status": "disabled"})
	keep("policies", map[string]any{
		"quarantinePolicy":                 map[string]any{"status": "disabled"},
		"trustPolicy":                      map[string]any{"type": "Notary", "status": "disabled"},
		"retentionPolicy":                  map[string]any{"days": 7, "status": "disabled"},
		"exportPolicy":                     map[string]any{"status": "enabled"},
		"azureADAuthenticationAsArmPolicy": map[string]any{"status": "enabled"},
		"softDeletePolicy":                 map[string]any{"retentionDays": 7, "status": "disabled"},
	})
	props["dataEndpointHostNames"] = []any{}
	props["privateEndpointConnections"] = []any{}
	if nu.Internal == nil {
		nu.Internal = map[string]any{}
	}
	if old != nil {
		props["loginServer"] = old.Properties["loginServer"]
		props["creationDate"] = old.Properties["creationDate"]
		return nil
	}
	// A new registry: its own port, its admin passwords, its tenant.
	if p.cfg.Ports == nil {
		return arm.Errorf(http.StatusInternalServerError, "InternalServerError", "amlid has no listener pool for registries")
	}
	port, err := p.cfg.Ports.Open(HostKind, w.ID.String(), 0)
	if err != nil {
		return fmt.Errorf("open a port for registry %s: %w", w.ID.Name(), err)
	}
	props["loginServer"] = p.cfg.Ports.Host(port)
	props["creationDate"] = p.now().Format(time.RFC3339Nano)
	nu.Internal["tenantId"] = w.TenantID
	nu.Internal["passwords"] = []any{newPassword(), newPassword()}
	return nil
}

// newPassword is an admin password: 32 random bytes, base64 without
// padding characters (ACR's are 52 characters of [A-Za-z0-9+/]).
func newPassword() string {
	b := make([]byte, 39)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

type indexRec struct {
	ID string `json:"id"`
}

func (p *Provider) beforeCommit(ctx context.Context, tx store.Tx, w *arm.Write) error {
	if w.Old != nil {
		return nil
	}
	b, _ := json.Marshal(indexRec{ID: w.ID.String()})
	_, err := tx.Put(ctx, store.Record{Kind: KindIndex, Key: w.ID.Key(), Value: b}, "")
	return err
}

func (p *Provider) beforeDelete(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return err
	}
	if err := tx.Delete(ctx, KindIndex, id.Key(), ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return oci.DeleteNamespace(ctx, tx, id.Key())
}

func (p *Provider) afterCommit(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil && p.cfg.Ports != nil {
		p.cfg.Ports.Close(id.String())
	}
}

// credentials is listCredentials' answer.
type credentials struct {
	Username  string     `json:"username"`
	Passwords []password `json:"passwords"`
}

type password struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func passwordsOf(r *arm.Resource) []string {
	var out []string
	if l, ok := r.Internal["passwords"].([]any); ok {
		for _, v := range l {
			s, _ := v.(string)
			out = append(out, s)
		}
	}
	for len(out) < 2 {
		out = append(out, "")
	}
	return out
}

func credsOf(r *arm.Resource) credentials {
	pw := passwordsOf(r)
	return credentials{Username: r.Name, Passwords: []password{{Name: "password", Value: pw[0]}, {Name: "password2", Value: pw[1]}}}
}

func adminOff(r *arm.Resource) error {
	return badRequest("UnAuthorizedForCredentialOperations",
		"Cannot perform credential operations for %s as admin user is disabled. Kindly enable admin user as per docs: https://docs.microsoft.com/en-us/azure/container-registry/container-registry-authentication#admin-account (rule ACR-1; fix: amlid acr update -n %s --admin-enabled true).",
		r.ID, r.Name)
}

func (p *Provider) listCredentials(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	if on, _ := r.Prop("adminUserEnabled").(bool); !on {
		return 0, nil, adminOff(r)
	}
	return http.StatusOK, credsOf(r), nil
}

func (p *Provider) regenerateCredential(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	if on, _ := r.Prop("adminUserEnabled").(bool); !on {
		return 0, nil, adminOff(r)
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := arm.DecodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	idx := -1
	switch strings.ToLower(req.Name) {
	case "password":
		idx = 0
	case "password2":
		idx = 1
	default:
		return 0, nil, badRequest("InvalidRequestContent", "name must be 'password' or 'password2', not '%s'.", req.Name)
	}
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return 0, nil, err
	}
	var out *arm.Resource
	err = p.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, arm.KindResource, id.Key())
		if err != nil {
			return err
		}
		cur, err := arm.DecodeResource(rec.Value)
		if err != nil {
			return err
		}
		pw := passwordsOf(cur)
		pw[idx] = newPassword()
		if cur.Internal == nil {
			cur.Internal = map[string]any{}
		}
		cur.Internal["passwords"] = []any{pw[0], pw[1]}
		out = cur
		return putResource(ctx, tx, id, cur, rec.ETag)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, credsOf(out), nil
}

// storedLayout mirrors the ARM store's record layout.
type storedLayout struct {
	Resource *arm.Resource  `json:"resource"`
	Internal map[string]any `json:"internal,omitempty"`
}

func putResource(ctx context.Context, tx store.Tx, id arm.ID, r *arm.Resource, ifMatch string) error {
	b, err := json.Marshal(storedLayout{Resource: r, Internal: r.Internal})
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: arm.KindResource, Key: id.Key(), Parent: id.ParentKey(), Value: b}, ifMatch)
	return err
}

// OpenAll reopens the port of every stored registry (at start). A port
// another program took meanwhile is replaced by a new one, and the
// registry's loginServer is updated.
func (p *Provider) OpenAll(ctx context.Context) error {
	recs, err := p.cfg.Store.List(ctx, KindIndex, store.ListOptions{})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		var ix indexRec
		if json.Unmarshal(rec.Value, &ix) != nil {
			continue
		}
		r, err := p.load(ctx, rec.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		port := portOf(r.StringProp("loginServer"))
		got, err := p.cfg.Ports.Open(HostKind, r.ID, port)
		if errors.Is(err, hostport.ErrPortInUse) {
			if got, err = p.cfg.Ports.Open(HostKind, r.ID, 0); err != nil {
				return err
			}
			p.cfg.Logger.Warn("registry port was taken; the registry moved", "registry", r.Name, "old", port, "new", got)
			if err := p.setLoginServer(ctx, rec.Key, p.cfg.Ports.Host(got)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reopen registry %s: %w", r.Name, err)
		}
	}
	return nil
}

func portOf(hostPort string) int {
	i := strings.LastIndexByte(hostPort, ':')
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range hostPort[i+1:] {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func (p *Provider) setLoginServer(ctx context.Context, key, ls string) error {
	return p.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, arm.KindResource, key)
		if err != nil {
			return err
		}
		r, err := arm.DecodeResource(rec.Value)
		if err != nil {
			return err
		}
		r.SetProp("loginServer", ls)
		id, err := arm.ParseID(r.ID)
		if err != nil {
			return err
		}
		return putResource(ctx, tx, id, r, rec.ETag)
	})
}

func (p *Provider) load(ctx context.Context, key string) (*arm.Resource, error) {
	rec, err := p.cfg.Store.Get(ctx, arm.KindResource, key)
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}

func constantEq(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
