// Package arm is amlid's Azure Resource Manager front door: resource IDs,
// api-versions, ARM errors, resource groups, subscriptions, and a generic
// CRUD engine driven by ResourceType declarations. Resource providers
// (identities, storage, registries, key vaults, ML) declare their types and
// hooks; they never write routing code.
package arm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/store"
)

// KindResource is the store kind of ARM resources and resource groups; keys
// are lower-cased IDs, so a resource group's contents are a key prefix.
const KindResource = "arm.resource"

// Caller is the authenticated principal of a request.
type Caller struct {
	ObjectID string
	TenantID string
	AppID    string
	Name     string   // UPN or display name, for systemData
	Type     string   // User | ServicePrincipal | ManagedIdentity (systemData createdByType: User | Application | ManagedIdentity)
	Groups   []string // group object IDs (RBAC group expansion)
	// System marks amlid itself acting as a resource provider (creating a
	// workspace's registry on first need, rule WS-7): no RBAC check.
	System bool
}

// Authenticator turns a request into a Caller or a 401 *Error.
type Authenticator interface {
	Authenticate(r *http.Request) (*Caller, error)
}

// Authorizer decides whether caller may perform action at scope; it returns
// a 403 *Error (AuthorizationFailed, naming the fix) or nil.
type Authorizer interface {
	Authorize(ctx context.Context, c *Caller, action, scope string) error
}

// Extension serves extension resources that hang off any scope:
// {scope}/providers/{namespace}/{rest…} (Microsoft.Authorization).
type Extension interface {
	ServeExtension(w http.ResponseWriter, c *Call, scope string, rest []string)
}

// Config wires the front door.
type Config struct {
	Store         store.Store
	Directory     *directory.Directory
	Registry      *Registry
	Authenticator Authenticator // nil: requests are anonymous (unit tests only)
	Authorizer    Authorizer    // nil: everything is allowed
	Logger        *slog.Logger
	PageSize      int // default 100
	// DefaultTenant is used for resources created by an anonymous caller.
	DefaultTenant string
	// PrincipalCleanup runs inside the transaction that deletes a
	// system-assigned identity's principal (RBAC removes its assignments).
	PrincipalCleanup func(ctx context.Context, tx store.Tx, objectID string) error
	// Endpoints answers GET /metadata/endpoints.
	Endpoints func(base string) any
}

// Server is the ARM http.Handler.
type Server struct {
	cfg        Config
	extensions map[string]Extension
	pages      *paging.Codec
}

// New builds the front door.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	return &Server{cfg: cfg, extensions: map[string]Extension{}, pages: paging.New(cfg.Store)}
}

// Registry returns the type registry.
func (s *Server) Registry() *Registry { return s.cfg.Registry }

// Store returns the store.
func (s *Server) Store() store.Store { return s.cfg.Store }

// RegisterExtension mounts an extension provider namespace.
func (s *Server) RegisterExtension(namespace string, e Extension) {
	s.extensions[strings.ToLower(namespace)] = e
}

// Call is one request in flight.
type Call struct {
	R          *http.Request
	Caller     *Caller
	APIVersion string
	BaseURL    string // https://host:port
	srv        *Server
}

// Ctx is the request context.
func (c *Call) Ctx() context.Context { return c.R.Context() }

// Authorize checks action at scope for the caller.
func (c *Call) Authorize(action, scope string) error {
	if c.srv.cfg.Authorizer == nil || c.Caller == nil || c.Caller.System {
		return nil
	}
	return c.srv.cfg.Authorizer.Authorize(c.Ctx(), c.Caller, action, scope)
}

// TenantID is the caller's tenant, or the default one.
func (c *Call) TenantID() string {
	if c.Caller != nil && c.Caller.TenantID != "" {
		return c.Caller.TenantID
	}
	return c.srv.cfg.DefaultTenant
}

// Server returns the ARM server serving the call.
func (c *Call) Server() *Server { return c.srv }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &Call{R: r, srv: s, APIVersion: r.URL.Query().Get("api-version"), BaseURL: "https://" + r.Host}
	if err := s.serve(w, c); err != nil {
		e := AsError(err)
		if e.Status >= 500 {
			s.cfg.Logger.Error("arm request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		WriteError(w, e)
	}
}

func (s *Server) serve(w http.ResponseWriter, c *Call) error {
	r := c.R
	raw := strings.ToLower(r.URL.RawPath)
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return Errorf(http.StatusBadRequest, "InvalidRequestUri", "The request URI path must not contain encoded slashes or backslashes.")
	}
	segs, err := splitPath(r.URL.Path)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation is at '/'.")
	}
	if c.APIVersion == "" {
		return errMissingAPIVersion
	}
	if len(r.URL.Query()["api-version"]) > 1 {
		return Errorf(http.StatusBadRequest, "InvalidApiVersionParameter", "The api-version query parameter must be given once.")
	}
	if strings.EqualFold(segs[0], "metadata") && len(segs) == 2 && strings.EqualFold(segs[1], "endpoints") {
		if s.cfg.Endpoints == nil {
			return Errorf(http.StatusNotFound, "NotFound", "metadata is not configured")
		}
		WriteJSON(w, http.StatusOK, s.cfg.Endpoints(c.BaseURL))
		return nil
	}
	if !apiVersionRE.MatchString(c.APIVersion) {
		return Errorf(http.StatusBadRequest, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are dates of the form 'yyyy-mm-dd' with an optional '-preview' suffix.", c.APIVersion)
	}
	if preset, ok := r.Context().Value(doCallerKey{}).(*Caller); ok {
		c.Caller = preset
	} else if s.cfg.Authenticator != nil {
		caller, err := s.cfg.Authenticator.Authenticate(r)
		if err != nil {
			return err
		}
		c.Caller = caller
	}
	// Extension resources: {scope}/providers/{ext-namespace}/…
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") && (i == 0 || i%2 == 0) {
			if e, ok := s.extensions[strings.ToLower(segs[i+1])]; ok {
				scope := "/" + strings.Join(segs[:i], "/")
				if i > 0 {
					if _, err := ParseID(scope); err != nil {
						return err
					}
				}
				e.ServeExtension(w, c, scope, segs[i+2:])
				return nil
			}
		}
	}
	switch {
	case len(segs) == 1 && strings.EqualFold(segs[0], "tenants"):
		return s.listTenants(w, c)
	case strings.EqualFold(segs[0], "subscriptions"):
		return s.serveSubscription(w, c, segs[1:])
	case strings.EqualFold(segs[0], "providers"):
		return s.serveProviders(w, c, "", segs[1:])
	}
	return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", r.URL.Path)
}

func methodNotAllowed(c *Call) error {
	return Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The method '%s' is not allowed on '%s'.", c.R.Method, c.R.URL.Path)
}

func (s *Server) serveSubscription(w http.ResponseWriter, c *Call, segs []string) error {
	if len(segs) == 0 {
		if c.R.Method != http.MethodGet {
			return methodNotAllowed(c)
		}
		return s.listSubscriptions(w, c)
	}
	sub, err := s.subscription(c, segs[0])
	if err != nil {
		return err
	}
	rest := segs[1:]
	subID := "/subscriptions/" + sub.ID
	switch {
	case len(rest) == 0:
		if c.R.Method != http.MethodGet {
			return methodNotAllowed(c)
		}
		if err := c.Authorize("Microsoft.Resources/subscriptions/read", subID); err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, subscriptionJSON(sub))
		return nil
	case strings.EqualFold(rest[0], "resourceGroups"):
		return s.serveResourceGroups(w, c, sub, rest[1:])
	case strings.EqualFold(rest[0], "resources") && len(rest) == 1:
		return s.listResources(w, c, subID)
	case strings.EqualFold(rest[0], "providers"):
		return s.serveProviders(w, c, sub.ID, rest[1:])
	case strings.EqualFold(rest[0], "locations") && len(rest) == 1:
		return s.listLocations(w, c, subID)
	}
	return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
}

func (s *Server) subscription(c *Call, id string) (directory.Subscription, error) {
	sub, err := s.cfg.Directory.Subscription(c.Ctx(), id)
	if errors.Is(err, store.ErrNotFound) {
		return sub, Errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", id)
	}
	if err != nil {
		return sub, err
	}
	if c.Caller != nil && !strings.EqualFold(c.Caller.TenantID, sub.TenantID) {
		// rule ID-4: a token from another tenant never reaches this subscription.
		return sub, Errorf(http.StatusUnauthorized, "InvalidAuthenticationTokenTenant",
			"The access token is from the wrong issuer '%s'. It must match the tenant '%s' associated with this subscription. (rule ID-4)", c.Caller.TenantID, sub.TenantID)
	}
	return sub, nil
}

func subscriptionJSON(sub directory.Subscription) map[string]any {
	return map[string]any{
		"id":                   "/subscriptions/" + sub.ID,
		"authorizationSource":  "RoleBased",
		"subscriptionId":       sub.ID,
		"tenantId":             sub.TenantID,
		"displayName":          sub.DisplayName,
		"state":                sub.State,
		"managedByTenants":     []any{},
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
	}
}

func (s *Server) listSubscriptions(w http.ResponseWriter, c *Call) error {
	tenant := ""
	if c.Caller != nil {
		tenant = c.Caller.TenantID
	}
	subs, err := s.cfg.Directory.Subscriptions(c.Ctx(), tenant)
	if err != nil {
		return err
	}
	out := []any{}
	for _, sub := range subs {
		out = append(out, subscriptionJSON(sub))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, c *Call) error {
	ts, err := s.cfg.Directory.Tenants(c.Ctx())
	if err != nil {
		return err
	}
	out := []any{}
	for _, t := range ts {
		if c.Caller != nil && !strings.EqualFold(c.Caller.TenantID, t.ID) {
			continue
		}
		out = append(out, map[string]any{
			"id": "/tenants/" + t.ID, "tenantId": t.ID, "displayName": t.DisplayName,
			"defaultDomain": t.DefaultDomain, "domains": []string{t.DefaultDomain},
			"tenantCategory": "Home", "countryCode": "US", "tenantType": "AAD",
		})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// Locations amlid reports; any location string is accepted on resources.
var Locations = []string{"eastus", "eastus2", "westus", "westus2", "westeurope", "northeurope", "centralus", "southeastasia", "japaneast", "uksouth", "local"}

func (s *Server) listLocations(w http.ResponseWriter, c *Call, subID string) error {
	out := []any{}
	for _, l := range Locations {
		out = append(out, map[string]any{"id": subID + "/locations/" + l, "name": l, "displayName": l, "regionalDisplayName": l, "metadata": map[string]any{"regionType": "Physical"}})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// serveProviders: GET /subscriptions/{s}/providers[/{ns}], POST
// …/providers/{ns}/register, and list-by-subscription GET
// /subscriptions/{s}/providers/{ns}/{type}.
func (s *Server) serveProviders(w http.ResponseWriter, c *Call, sub string, segs []string) error {
	if len(segs) == 0 {
		out := []any{}
		seen := map[string]bool{}
		for _, t := range s.cfg.Registry.Types() {
			if !seen[t.Namespace] {
				seen[t.Namespace] = true
				out = append(out, s.providerJSON(sub, t.Namespace))
			}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	ns, ok := s.cfg.Registry.Namespace(segs[0])
	if !ok {
		return Errorf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", segs[0])
	}
	if sub != "" && len(segs) >= 2 {
		if h, ok := s.cfg.Registry.providerRoute(ns, segs[1]); ok {
			return h(w, c, sub, segs[1:])
		}
	}
	switch {
	case len(segs) == 1 && c.R.Method == http.MethodGet:
		WriteJSON(w, http.StatusOK, s.providerJSON(sub, ns))
		return nil
	case len(segs) == 2 && strings.EqualFold(segs[1], "register") && c.R.Method == http.MethodPost:
		WriteJSON(w, http.StatusOK, s.providerJSON(sub, ns))
		return nil
	case sub != "" && len(segs) >= 2 && len(segs)%2 == 0 && c.R.Method == http.MethodGet:
		// list by subscription: only top-level types.
		t, ok := s.cfg.Registry.Lookup(ns, segs[1:2])
		if !ok || len(segs) != 2 {
			return unknownType(ns, strings.Join(segs[1:], "/"), c.APIVersion)
		}
		if err := t.CheckAPIVersion(c.APIVersion); err != nil {
			return err
		}
		return s.listOfType(w, c, "/subscriptions/"+sub, t)
	}
	return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
}

func (s *Server) providerJSON(sub, ns string) map[string]any {
	var rts []any
	for _, t := range s.cfg.Registry.Types() {
		if t.Namespace == ns {
			rts = append(rts, map[string]any{"resourceType": t.Path, "locations": Locations, "apiVersions": t.APIVersions})
		}
	}
	id := "/providers/" + ns
	if sub != "" {
		id = "/subscriptions/" + sub + id
	}
	return map[string]any{"id": id, "namespace": ns, "registrationState": "Registered", "registrationPolicy": "RegistrationRequired", "resourceTypes": rts}
}

func unknownType(ns, typ, apiVersion string) error {
	return Errorf(http.StatusBadRequest, "InvalidResourceType",
		"The resource type '%s' could not be found in the namespace '%s' for api version '%s'.", typ, ns, apiVersion)
}

// listResources serves GET /subscriptions/{s}[/resourceGroups/{rg}]/resources
// with $filter=resourceType eq '…' (az acr without -g).
func (s *Server) listResources(w http.ResponseWriter, c *Call, scope string) error {
	if c.R.Method != http.MethodGet {
		return methodNotAllowed(c)
	}
	action := "Microsoft.Resources/subscriptions/resources/read"
	if strings.Contains(strings.ToLower(scope), "/resourcegroups/") {
		action = "Microsoft.Resources/subscriptions/resourceGroups/resources/read"
	}
	if err := c.Authorize(action, scope); err != nil {
		return err
	}
	var typeFilter string
	if f := c.R.URL.Query().Get("$filter"); f != "" {
		v, ok := parseEqFilter(f, "resourceType")
		if !ok {
			return Errorf(http.StatusBadRequest, "InvalidFilterInQueryString", "The $filter '%s' is not supported. Supported: resourceType eq '{type}'.", f)
		}
		typeFilter = v
	}
	typeFilter = strings.ToLower(typeFilter)
	keep := func(rec store.Record) bool {
		t := keyType(rec.Key)
		return t != "" && (typeFilter == "" || t == typeFilter)
	}
	return s.writePage(w, c, KindResource, store.PageOptions{KeyPrefix: Normalize(scope) + "/", Keep: keep}, func(rec store.Record) (any, error) {
		res, err := DecodeResource(rec.Value)
		if err != nil {
			return nil, err
		}
		s.present(c, res)
		return genericResourceJSON(res), nil
	})
}

// genericResourceJSON is the GenericResource shape of the resources list.
func genericResourceJSON(r *Resource) map[string]any {
	m := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type}
	if r.Location != "" {
		m["location"] = r.Location
	}
	if r.Kind != "" {
		m["kind"] = r.Kind
	}
	if len(r.Tags) > 0 {
		m["tags"] = r.Tags
	}
	if r.SKU != nil {
		m["sku"] = r.SKU
	}
	if r.Identity != nil {
		m["identity"] = r.Identity
	}
	return m
}

// parseEqFilter parses "<field> eq '<value>'" (case-insensitive field).
func parseEqFilter(f, field string) (string, bool) {
	f = strings.TrimSpace(f)
	lf := strings.ToLower(f)
	prefix := strings.ToLower(field) + " eq '"
	if !strings.HasPrefix(lf, prefix) || !strings.HasSuffix(f, "'") || len(f) < len(prefix)+1 {
		return "", false
	}
	return f[len(prefix) : len(f)-1], true
}

// writePage serves one page of a listing of kind selected by o: $top is
// the page size (default Config.PageSize), $skipToken the continuation token
// of a nextLink, which binds it to this path and $filter (tampered or
// transplanted: 400 InvalidSkipToken). render turns a record into the JSON
// item. It reads O(page) records, whatever the size of the listing.
func (s *Server) writePage(w http.ResponseWriter, c *Call, kind string, o store.PageOptions, render func(store.Record) (any, error)) error {
	q := c.R.URL.Query()
	o.Limit = s.cfg.PageSize
	if t := q.Get("$top"); t != "" {
		n, e := strconv.Atoi(t)
		if e != nil || n <= 0 {
			return Errorf(http.StatusBadRequest, "InvalidTopInQueryString", "The $top value '%s' must be a positive integer.", t)
		}
		o.Limit = min(n, 1000)
	}
	list := strings.ToLower(c.R.URL.Path) + "?" + q.Get("$filter")
	tokParam := "$skipToken"
	if q.Has("$skiptoken") && !q.Has(tokParam) {
		tokParam = "$skiptoken"
	}
	if tok := q.Get(tokParam); tok != "" {
		after, err := s.pages.Cursor(c.Ctx(), list, tok)
		if errors.Is(err, paging.ErrInvalid) {
			return Errorf(http.StatusBadRequest, "InvalidSkipToken", "The $skipToken '%s' is not a continuation token of this listing: follow the nextLink of the previous page unchanged.", tok)
		}
		if err != nil {
			return err
		}
		o.After = after
	}
	p, err := store.ListPage(c.Ctx(), s.cfg.Store, kind, o)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(p.Records))
	for _, rec := range p.Records {
		item, err := render(rec)
		if err != nil {
			return err
		}
		if item != nil {
			items = append(items, item)
		}
	}
	body := map[string]any{"value": items}
	if p.Next != "" {
		tok, err := s.pages.Token(c.Ctx(), list, p.Next)
		if err != nil {
			return err
		}
		u := *c.R.URL
		u.Scheme, u.Host = "https", c.R.Host
		q.Del("$skiptoken")
		q.Set("$skipToken", tok)
		u.RawQuery = q.Encode()
		body["nextLink"] = u.String()
	}
	WriteJSON(w, http.StatusOK, body)
	return nil
}

// WritePage serves one page of a listing of kind, as ARM lists do: $top,
// nextLink with an HMAC-bound $skipToken (see Server.writePage). render
// turns a record into an item (nil drops it).
func (c *Call) WritePage(w http.ResponseWriter, kind string, o store.PageOptions, render func(store.Record) (any, error)) error {
	return c.srv.writePage(w, c, kind, o, render)
}

// keyType returns the type name (lower case, ns/type[/child…]) of a
// resource store key, without decoding the record; "" for a subscription
// or resource group.
func keyType(key string) string {
	_, rest, ok := strings.Cut(key, "/providers/")
	if !ok {
		return ""
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 3 || len(segs)%2 == 0 {
		return ""
	}
	t := segs[0]
	for i := 1; i < len(segs); i += 2 {
		t += "/" + segs[i]
	}
	return t
}

// jsonClone round-trips v (used to hand out copies of maps).
func jsonClone(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
