package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/registry/oci"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// ExchangeAudiences are the Entra audiences /oauth2/exchange accepts: ARM's
// (what az sends; client-protocols.md §6) and ACR's own.
var ExchangeAudiences = []string{"https://management.azure.com/", "https://management.core.windows.net/", "https://containerregistry.azure.net"}

// registryView is what the data plane needs to know about a registry.
type registryView struct {
	Key          string // lower-cased resource ID: the OCI namespace
	ID, Name     string
	TenantID     string
	LoginServer  string
	AdminEnabled bool
	Passwords    []string
}

type cachedView struct {
	etag string
	v    *registryView
}

// registryFor finds the registry a request arrived for (its port).
func (p *Provider) registryFor(r *http.Request) (*registryView, *oci.Error) {
	t, ok := hostport.Resource(r.Context())
	if !ok {
		return nil, oci.Errorf(http.StatusNotFound, oci.CodeNameUnknown, "this listener serves no registry")
	}
	key := strings.ToLower(t.ID)
	rec, err := p.cfg.Store.Get(r.Context(), arm.KindResource, key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.cfg.Logger.Error("registry lookup", "err", err)
		}
		return nil, oci.Errorf(http.StatusNotFound, oci.CodeNameUnknown, "the registry served on %s no longer exists", t.Host)
	}
	if c, ok := p.views.Load(key); ok && c.(cachedView).etag == rec.ETag && rec.ETag != "" {
		return c.(cachedView).v, nil
	}
	res, err := arm.DecodeResource(rec.Value)
	if err != nil {
		return nil, oci.Errorf(http.StatusNotFound, oci.CodeNameUnknown, "the registry record is unreadable")
	}
	v := &registryView{Key: key, ID: res.ID, Name: res.Name, LoginServer: res.StringProp("loginServer"), Passwords: passwordsOf(res)}
	v.AdminEnabled, _ = res.Prop("adminUserEnabled").(bool)
	v.TenantID, _ = res.Internal["tenantId"].(string)
	if v.LoginServer == "" {
		v.LoginServer = t.Host
	}
	p.views.Store(key, cachedView{etag: rec.ETag, v: v})
	return v, nil
}

// caller is who a request authenticated as.
type caller struct {
	admin    bool
	oid, tid string
	appID    string
	// granted is the access of a bearer access token (nil for Basic
	// credentials, whose rights are read from RBAC per request).
	granted map[string]map[string]bool
}

func (c *caller) who() string {
	if c.admin {
		return "the admin user"
	}
	return "principal '" + c.oid + "'"
}

// challenge is the 401 header (client-protocols.md §6: no spaces after the
// commas; az splits on the first space and then on commas).
func challenge(reg *registryView, scope, errCode string) http.Header {
	v := fmt.Sprintf(`Bearer realm="https://%s/oauth2/token",service="%s"`, reg.LoginServer, reg.LoginServer)
	if scope != "" {
		v += fmt.Sprintf(`,scope="%s"`, scope)
	}
	if errCode != "" {
		v += fmt.Sprintf(`,error="%s"`, errCode)
	}
	return http.Header{"Www-Authenticate": {v}}
}

func scopeOf(repo string, actions []string) string {
	if repo == "" {
		if len(actions) == 1 && actions[0] == "catalog" {
			return "registry:catalog:*"
		}
		return ""
	}
	return "repository:" + repo + ":" + strings.Join(actions, ",")
}

func unauthorized(reg *registryView, repo string, actions []string, format string, args ...any) *oci.Error {
	e := oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, format, args...)
	e.Header = challenge(reg, scopeOf(repo, actions), "")
	return e
}

// armAction maps a registry action to the RBAC action Azure checks.
func armAction(action string) string {
	switch action {
	case oci.ActionPush:
		return ActionPush
	case oci.ActionDelete:
		return ActionDelete
	}
	return ActionPull // pull, and the catalog (amlid lets every puller list it)
}

// rbac asks RBAC whether the principal holds action on the registry.
func (p *Provider) rbac(ctx context.Context, reg *registryView, c *caller, action string) (bool, []string, error) {
	d, err := p.cfg.Authz.AuthorizeAction(ctx, reg.TenantID, c.oid, armAction(action), reg.ID)
	if err != nil {
		return false, nil, err
	}
	return d.Allowed, d.GrantingRoles, nil
}

// authenticate reads the request's credentials.
func (p *Provider) authenticate(r *http.Request, reg *registryView, repo string, actions []string) (*caller, *oci.Error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case h == "":
		return nil, unauthorized(reg, repo, actions, "authentication required: sign in with `amlid acr login -n %s` (Entra, AcrPull/AcrPush) or the admin user (rule ACR-1)", reg.Name)
	case strings.EqualFold(scheme, "Bearer"):
		c, err := p.signer.verify(rest, "access_token", reg, p.now())
		if err != nil {
			return nil, unauthorized(reg, repo, actions, "%v", err)
		}
		cl := &caller{admin: c.Admin, oid: c.ObjectID, tid: c.Tenant, appID: c.AppID, granted: map[string]map[string]bool{}}
		for _, g := range c.Access {
			key := g.Name
			if g.Type == "registry" {
				key = "registry:" + g.Name
			}
			if cl.granted[key] == nil {
				cl.granted[key] = map[string]bool{}
			}
			for _, a := range g.Actions {
				cl.granted[key][a] = true
			}
		}
		return cl, nil
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, unauthorized(reg, repo, actions, "the Basic credentials are not base64")
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		return p.basic(reg, user, pass, repo, actions)
	}
	return nil, unauthorized(reg, repo, actions, "the authorization scheme %q is not Basic or Bearer", scheme)
}

// basic checks Basic credentials: the admin user (only while enabled, rule
// ACR-1) or the empty GUID with a registry refresh token (docker login
// after `az acr login --expose-token`).
func (p *Provider) basic(reg *registryView, user, pass, repo string, actions []string) (*caller, *oci.Error) {
	switch {
	case strings.EqualFold(user, reg.Name):
		if !reg.AdminEnabled {
			return nil, unauthorized(reg, repo, actions,
				"rule ACR-1: the admin user of registry '%s' is disabled, so its credentials are refused. Enable it (amlid acr update -n %s --admin-enabled true) or sign in with Entra (amlid acr login -n %s) holding AcrPull/AcrPush",
				reg.Name, reg.Name, reg.Name)
		}
		if !constantEq(pass, reg.Passwords[0]) && !constantEq(pass, reg.Passwords[1]) {
			return nil, unauthorized(reg, repo, actions, "incorrect password for the admin user of registry '%s' (amlid acr credential show -n %s)", reg.Name, reg.Name)
		}
		return &caller{admin: true}, nil
	case user == EmptyGUID:
		c, err := p.signer.verify(pass, "refresh_token", reg, p.now())
		if err != nil {
			return nil, unauthorized(reg, repo, actions, "%v", err)
		}
		return p.callerOf(context.Background(), reg, c)
	}
	return nil, unauthorized(reg, repo, actions, "unknown user %q: use the admin user '%s' or %s with a refresh token from `amlid acr login --expose-token`", user, reg.Name, EmptyGUID)
}

// callerOf turns a verified refresh token into a caller, checking that the
// principal still exists, is enabled and belongs to the registry's tenant.
func (p *Provider) callerOf(ctx context.Context, reg *registryView, c *claims) (*caller, *oci.Error) {
	if c.Admin {
		if !reg.AdminEnabled {
			return nil, unauthorized(reg, "", nil, "rule ACR-1: the admin user of registry '%s' is disabled", reg.Name)
		}
		return &caller{admin: true}, nil
	}
	pr, err := p.cfg.Directory.Principal(ctx, c.ObjectID)
	if err != nil || pr.Disabled || !strings.EqualFold(pr.TenantID, reg.TenantID) {
		return nil, unauthorized(reg, "", nil, "the principal '%s' of this refresh token no longer exists, is disabled or is not in the registry's tenant", c.ObjectID)
	}
	return &caller{oid: c.ObjectID, tid: c.Tenant, appID: c.AppID}, nil
}

// authorizer adapts the provider to oci.Authorizer.
type authorizer struct{ p *Provider }

func (a authorizer) Authorize(r *http.Request, repo string, actions ...string) (*oci.Access, *oci.Error) {
	p := a.p
	reg, rerr := p.registryFor(r)
	if rerr != nil {
		return nil, rerr
	}
	c, aerr := p.authenticate(r, reg, repo, actions)
	if aerr != nil {
		return nil, aerr
	}
	ctx := r.Context()
	memo := map[string]bool{}
	roles := map[string][]string{}
	live := func(action string) bool {
		if v, ok := memo[action]; ok {
			return v
		}
		ok, granting, err := p.rbac(ctx, reg, c, action)
		if err != nil {
			p.cfg.Logger.Error("registry rbac", "err", err)
		}
		memo[action], roles[action] = ok, granting
		return ok
	}
	can := func(repo, action string) bool {
		switch {
		case c.granted == nil && c.admin:
			return true
		case c.granted != nil:
			key := repo
			if repo == "" {
				key = "registry:catalog"
				return c.granted[key]["*"]
			}
			return c.granted[key][action] || c.granted[key]["*"]
		default:
			return live(action)
		}
	}
	denied := func(repo string, actions ...string) *oci.Error {
		var missing []string
		for _, act := range actions {
			if !can(repo, act) {
				missing = append(missing, act)
			}
		}
		// More scope is to be had (the admin, or RBAC allows it): ask the
		// client to get a token for it.
		if c.admin || c.granted != nil && allTrue(missing, live) {
			e := oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "the access token does not grant %s on %s; get a token for that scope", strings.Join(missing, ","), scopeOf(repo, actions))
			e.Header = challenge(reg, scopeOf(repo, actions), "insufficient_scope")
			return e
		}
		return p.deniedError(reg, c, repo, missing, roles)
	}
	return &oci.Access{Namespace: reg.Key, Can: can, Denied: denied}, nil
}

func allTrue(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

// deniedError is 403 DENIED naming the principal, the action, the scope,
// the roles that grant it and the command that grants one (rule RBAC-4).
func (p *Provider) deniedError(reg *registryView, c *caller, repo string, missing []string, roles map[string][]string) *oci.Error {
	act := "pull"
	if len(missing) > 0 {
		act = missing[len(missing)-1]
	}
	granting := roles[act]
	if len(granting) == 0 {
		granting = map[string][]string{"pull": {catalog.AcrPull.Name, catalog.AcrPush.Name, catalog.Reader.Name, catalog.Contributor.Name, catalog.Owner.Name},
			"push": {catalog.AcrPush.Name, catalog.Contributor.Name, catalog.Owner.Name}, "delete": {catalog.Contributor.Name, catalog.Owner.Name}}[act]
	}
	role := catalog.AcrPull.Name
	if len(granting) > 0 {
		role = granting[0]
	}
	what := "repository '" + repo + "'"
	if repo == "" {
		what = "the catalog"
	}
	return oci.Errorf(http.StatusForbidden, oci.CodeDenied,
		"rule ACR-1: %s may not %s %s of registry '%s': it needs '%s' over scope '%s'. Roles that grant it: %s. Fix: %s",
		c.who(), act, what, reg.Name, armAction(act), reg.ID, strings.Join(granting, ", "), access.RoleFix(c.oid, "", role, reg.ID))
}

// ServeHTTP serves a registry's port: the token endpoints, ACR's repository
// API and the OCI /v2/ API.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == "/oauth2/exchange":
		p.serveExchange(w, r)
	case path == "/oauth2/token":
		p.serveToken(w, r)
	case strings.HasPrefix(path, "/acr/v1/"):
		p.serveACR(w, r)
	default:
		p.oci.ServeHTTP(w, r)
	}
}

func oauthErr(w http.ResponseWriter, r *http.Request, e *oci.Error) { oci.WriteError(w, r, e) }

func (p *Provider) form(w http.ResponseWriter, r *http.Request) *oci.Error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return oci.Errorf(http.StatusBadRequest, oci.CodeUnsupported, "the form could not be read: %v", err)
	}
	return nil
}

// serveExchange turns an Entra access token into a registry refresh token
// (POST /oauth2/exchange, grant_type=access_token; client-protocols.md §6).
// The token is checked by the shared verifier: signature, issuer, audience
// (ARM or containerregistry.azure.net), expiry and the registry's tenant
// (rule ID-4). RBAC is checked later, when access tokens are asked for.
func (p *Provider) serveExchange(w http.ResponseWriter, r *http.Request) {
	reg, rerr := p.registryFor(r)
	if rerr != nil {
		oauthErr(w, r, rerr)
		return
	}
	if r.Method != http.MethodPost {
		oauthErr(w, r, oci.Errorf(http.StatusMethodNotAllowed, oci.CodeUnsupported, "POST a form to /oauth2/exchange"))
		return
	}
	if e := p.form(w, r); e != nil {
		oauthErr(w, r, e)
		return
	}
	f := r.PostForm
	bad := func(format string, args ...any) {
		oauthErr(w, r, oci.Errorf(http.StatusBadRequest, oci.CodeUnsupported, format, args...))
	}
	if svc := f.Get("service"); svc != "" && !strings.EqualFold(svc, reg.LoginServer) {
		oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "service '%s' is not this registry (%s)", svc, reg.LoginServer))
		return
	}
	var cl *claims
	switch gt := f.Get("grant_type"); gt {
	case "access_token", "access_token_refresh_token":
		raw := f.Get("access_token")
		if raw == "" {
			bad("access_token is required")
			return
		}
		// tenant is named as the user's tools name it: an ID, a domain, or
		// "adfs" (what `amlid env` exports as AZURE_TENANT_ID).
		if t := f.Get("tenant"); t != "" {
			tid, err := p.cfg.Tokens.ResolveTenantID(r.Context(), t)
			var unknown *token.UnknownTenantError
			switch {
			case errors.As(err, &unknown):
				oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "%v", err))
				return
			case err != nil:
				p.cfg.Logger.Error("registry exchange: tenant", "err", err)
				oauthErr(w, r, oci.Errorf(http.StatusInternalServerError, oci.CodeUnsupported, "amlid could not resolve the tenant"))
				return
			case tid != "" && !strings.EqualFold(tid, reg.TenantID):
				oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized,
					"tenant '%s' is not the tenant of registry '%s' (rule ID-4: cross-tenant access is refused)", t, reg.Name))
				return
			}
		}
		c, err := p.cfg.Tokens.VerifyForTenant(r.Context(), raw, reg.TenantID, ExchangeAudiences...)
		if err != nil {
			var ve *token.VerifyError
			if errors.As(err, &ve) {
				oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "the Entra access token was refused (%s check): %s", ve.Check, ve.Msg))
				return
			}
			p.cfg.Logger.Error("registry exchange", "err", err)
			oauthErr(w, r, oci.Errorf(http.StatusInternalServerError, oci.CodeUnsupported, "amlid could not verify the token"))
			return
		}
		cl = &claims{ObjectID: c.ObjectID, Tenant: c.TenantID, AppID: c.AppID}
	case "refresh_token":
		old, err := p.signer.verify(f.Get("refresh_token"), "refresh_token", reg, p.now())
		if err != nil {
			oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "%v", err))
			return
		}
		if _, e := p.callerOf(r.Context(), reg, old); e != nil {
			oauthErr(w, r, e)
			return
		}
		cl = &claims{ObjectID: old.ObjectID, Tenant: old.Tenant, AppID: old.AppID, Admin: old.Admin}
	default:
		bad("grant_type must be access_token or refresh_token, not '%s'", gt)
		return
	}
	rt, err := p.issue(reg, "refresh_token", cl, RefreshLifetime)
	if err != nil {
		oauthErr(w, r, oci.Errorf(http.StatusInternalServerError, oci.CodeUnsupported, "amlid could not sign the token"))
		return
	}
	writeTokenJSON(w, map[string]any{"refresh_token": rt})
}

func (p *Provider) issue(reg *registryView, kind string, c *claims, life time.Duration) (string, error) {
	now := p.now()
	c.Claims = jwt.Claims{Issuer: tokenIssuer, Subject: c.ObjectID, Audience: jwt.Audience{reg.LoginServer}, ID: uuid.NewString(),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)), Expiry: jwt.NewNumericDate(now.Add(life))}
	if c.Admin {
		c.Subject = reg.Name
	}
	c.Kind, c.Registry, c.Version = kind, reg.Key, "1.0"
	return p.signer.sign(*c)
}

func writeTokenJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// serveToken issues access tokens (GET with Basic credentials, the docker
// token protocol; POST with grant_type=refresh_token or password, the OAuth2
// form az and ggcr use). The token carries only the requested actions the
// caller holds: the admin user everything, a principal what RBAC grants on
// the registry (AcrPull → pull, AcrPush → pull+push, Owner/Contributor →
// all).
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	reg, rerr := p.registryFor(r)
	if rerr != nil {
		oauthErr(w, r, rerr)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		oauthErr(w, r, oci.Errorf(http.StatusMethodNotAllowed, oci.CodeUnsupported, "GET or POST /oauth2/token"))
		return
	}
	if e := p.form(w, r); e != nil {
		oauthErr(w, r, e)
		return
	}
	f := r.Form
	if svc := f.Get("service"); svc != "" && !strings.EqualFold(svc, reg.LoginServer) {
		oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "service '%s' is not this registry (%s)", svc, reg.LoginServer))
		return
	}
	var c *caller
	var e *oci.Error
	switch gt := f.Get("grant_type"); {
	case r.Method == http.MethodPost && gt == "refresh_token":
		cl, err := p.signer.verify(f.Get("refresh_token"), "refresh_token", reg, p.now())
		if err != nil {
			oauthErr(w, r, oci.Errorf(http.StatusUnauthorized, oci.CodeUnauthorized, "%v", err))
			return
		}
		c, e = p.callerOf(r.Context(), reg, cl)
	case r.Method == http.MethodPost && gt == "password":
		c, e = p.basic(reg, f.Get("username"), f.Get("password"), "", nil)
	case r.Method == http.MethodPost && gt != "":
		oauthErr(w, r, oci.Errorf(http.StatusBadRequest, oci.CodeUnsupported, "grant_type must be refresh_token or password, not '%s'", gt))
		return
	default:
		user, pass, ok := r.BasicAuth()
		if !ok {
			e = unauthorized(reg, "", nil, "credentials are required: Basic auth (admin user, rule ACR-1, or %s with a refresh token), or POST grant_type=refresh_token", EmptyGUID)
		} else {
			c, e = p.basic(reg, user, pass, "", nil)
		}
	}
	if e != nil {
		e.Header = nil // the token endpoint does not challenge itself
		oauthErr(w, r, e)
		return
	}
	var scopes []string
	for _, s := range f["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	access, err := p.grants(r.Context(), reg, c, scopes)
	if err != nil {
		p.cfg.Logger.Error("registry token", "err", err)
		oauthErr(w, r, oci.Errorf(http.StatusInternalServerError, oci.CodeUnsupported, "amlid could not decide the token's access"))
		return
	}
	at, err := p.issue(reg, "access_token", &claims{ObjectID: c.oid, Tenant: c.tid, AppID: c.appID, Admin: c.admin, Access: access}, AccessLifetime)
	if err != nil {
		oauthErr(w, r, oci.Errorf(http.StatusInternalServerError, oci.CodeUnsupported, "amlid could not sign the token"))
		return
	}
	writeTokenJSON(w, map[string]any{"access_token": at})
}

// grants decides the access of a token from the requested scopes.
func (p *Provider) grants(ctx context.Context, reg *registryView, c *caller, scopes []string) ([]Grant, error) {
	memo := map[string]bool{}
	allowed := func(action string) (bool, error) {
		if c.admin {
			return true, nil
		}
		if v, ok := memo[action]; ok {
			return v, nil
		}
		ok, _, err := p.rbac(ctx, reg, c, action)
		memo[action] = ok
		return ok, err
	}
	byName := map[string]*Grant{}
	var order []string
	for _, s := range scopes {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			continue
		}
		typ, name, acts := parts[0], parts[1], strings.Split(parts[2], ",")
		var g *Grant
		switch {
		case typ == "repository" && oci.CheckName(name) == nil:
			want := map[string]bool{}
			for _, a := range acts {
				if a == "*" {
					want[oci.ActionPull], want[oci.ActionPush], want[oci.ActionDelete] = true, true, true
				} else if a == oci.ActionPull || a == oci.ActionPush || a == oci.ActionDelete {
					want[a] = true
				}
			}
			key := "repository:" + name
			if g = byName[key]; g == nil {
				g = &Grant{Type: "repository", Name: name, Actions: []string{}}
				byName[key] = g
				order = append(order, key)
			}
			for a := range want {
				ok, err := allowed(a)
				if err != nil {
					return nil, err
				}
				if ok && !contains(g.Actions, a) {
					g.Actions = append(g.Actions, a)
				}
			}
			sort.Strings(g.Actions)
		case typ == "registry" && name == "catalog":
			ok, err := allowed("catalog")
			if err != nil {
				return nil, err
			}
			key := "registry:catalog"
			if byName[key] == nil {
				byName[key] = &Grant{Type: "registry", Name: "catalog", Actions: []string{}}
				order = append(order, key)
			}
			if ok {
				byName[key].Actions = []string{"*"}
			}
		}
	}
	out := []Grant{}
	for _, k := range order {
		out = append(out, *byName[k])
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// serveACR answers ACR's repository API: DELETE /acr/v1/<repo> (`az acr
// repository delete`).
func (p *Provider) serveACR(w http.ResponseWriter, r *http.Request) {
	repo := strings.TrimPrefix(r.URL.Path, "/acr/v1/")
	if r.Method != http.MethodDelete || strings.HasPrefix(repo, "_") {
		oci.WriteError(w, r, oci.Errorf(http.StatusNotFound, oci.CodeUnsupported, "amlid serves only DELETE /acr/v1/<repository> of ACR's API"))
		return
	}
	a, e := authorizer{p}.Authorize(r, repo, oci.ActionDelete)
	if e != nil {
		oci.WriteError(w, r, e)
		return
	}
	if ne := oci.CheckName(repo); ne != nil {
		oci.WriteError(w, r, ne)
		return
	}
	if !a.Can(repo, oci.ActionDelete) {
		oci.WriteError(w, r, a.Denied(repo, oci.ActionDelete))
		return
	}
	p.oci.ServeACRDelete(w, r, a, repo)
}
