package arm

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/amlid/amlid/internal/store"
)

// ResourceType declares one ARM resource type. It is the single place a type
// is described: routes, api-versions, validation, child types, RBAC action
// names and status codes all derive from it (house style: declare once).
type ResourceType struct {
	Namespace string // Microsoft.ManagedIdentity
	// Path is the type path below the namespace: "userAssignedIdentities",
	// or "workspaces/onlineEndpoints" for a child type.
	Path string
	// APIVersions the RP answers. Any date between the oldest and newest
	// (inclusive, preview or not) is accepted, because real clients disagree
	// (arm-and-rbac.md §1); others get NoRegisteredProviderFound.
	APIVersions []string
	// Tracked resources carry a location (required on create).
	Tracked bool
	// CreateStatus is the status of a PUT that created the resource
	// (200 unless the clients demand 201; several refuse 201).
	CreateStatus int
	// Name is the naming rule.
	Name NameRule
	// Identity says whether the type takes an "identity" block; see
	// identity.go.
	Identity IdentitySupport
	// Hooks.
	// Prepare runs before the write transaction, outside it, with the
	// decoded request body (PUT or PATCH), which it may change. It is where
	// a type creates other resources through Server.Do (a workspace's
	// storage account and key vault), which needs transactions of its own.
	// old is nil when the resource does not exist yet.
	Prepare func(ctx context.Context, c *Call, id ID, old *Resource, body map[string]any) error
	// Validate checks and normalises a write (PUT, or PATCH after merge).
	// old is nil on create. It may set read-only properties.
	Validate func(ctx context.Context, w *Write) error
	// BeforeCommit runs inside the write transaction (create principals,
	// linked records). old is nil on create.
	BeforeCommit func(ctx context.Context, tx store.Tx, w *Write) error
	// BeforeDelete runs inside the delete transaction.
	BeforeDelete func(ctx context.Context, tx store.Tx, r *Resource) error
	// DeleteCheck, when set, runs inside the delete transaction when the
	// DELETE names the resource itself (not when a parent's delete takes
	// it along): an error refuses the delete.
	DeleteCheck func(c *Call, r *Resource) error
	// AfterCommit runs after a successful write or delete (side effects
	// outside the store: caches, processes). r is nil after delete.
	AfterCommit func(ctx context.Context, id ID, r *Resource)
	// Present adjusts a resource before it is returned (hide secrets, add
	// computed fields). It must not write.
	Present func(ctx context.Context, r *Resource)
	// WriteHeaders, when set, adds response headers to a successful PUT or
	// PATCH (an Azure-AsyncOperation to poll, as the ML computes answer).
	WriteHeaders func(c *Call, r *Resource) http.Header
	// ListFilter, when set, keeps only the resources of a list for which it
	// returns true (query filters such as ML datastores' ?isDefault=true).
	ListFilter func(c *Call, r *Resource) bool
	// ListPrepare, when set, runs once per list request (each page), before
	// any record is read, with the parent the list is below; the filter it
	// returns keeps that request's resources, in ListFilter's place. It is
	// for filters that depend on the whole list (ML asset versions'
	// $orderBy with $top): their kept set is computed once per request.
	ListPrepare func(c *Call, parent ID) (func(r *Resource) bool, error)
	// Actions are POST operations on a resource: .../{name}/{action}.
	Actions map[string]Action
	// Serve, when set, makes the type an operation endpoint rather than a
	// stored resource (Key Vault's vaults/{v}/accessPolicies/{add|replace|
	// remove}): after the api-version, resource-group and RBAC checks
	// ({type}/read|write|delete by method) the front door hands the request
	// to Serve and stores nothing itself.
	Serve func(w http.ResponseWriter, c *Call, id ID) error

	apiMin, apiMax string
	segments       []string // Path split
}

// Action is a POST operation on an existing resource.
type Action struct {
	// RBACAction overrides the default "{type}/{action}/action".
	RBACAction string
	Handler    func(ctx context.Context, c *Call, r *Resource, body []byte) (int, any, error)
}

// ActionResponse is an action's answer that carries response headers (a
// 202 with Location and Azure-AsyncOperation to poll); a nil Body writes no
// body.
type ActionResponse struct {
	Header http.Header
	Body   any
}

// Write is a create, replace or update in progress.
type Write struct {
	Call     *Call
	ID       ID
	Old      *Resource // nil on create
	New      *Resource
	IsPatch  bool
	TenantID string
	// Body is the decoded request body (for PATCH, before the merge).
	Body map[string]any
}

// NameRule constrains resource names.
type NameRule struct {
	Min, Max int
	Pattern  *regexp.Regexp
	Hint     string // "alphanumerics, hyphens and underscores; starts with a letter or number"
}

var defaultName = NameRule{Min: 1, Max: 260, Pattern: regexp.MustCompile(`^[^<>%&:\\?/#*$^+,;=@'"|]+$`), Hint: "no <>%&:\\?/#*$^+,;=@'\"| characters"}

// Check validates name against the rule.
func (n NameRule) Check(kind, name string) error {
	r := n
	if r.Max == 0 {
		r = defaultName
	}
	if len(name) < r.Min || len(name) > r.Max || (r.Pattern != nil && !r.Pattern.MatchString(name)) {
		return Errorf(http.StatusBadRequest, "InvalidResourceName",
			"The resource name '%s' is invalid for %s. It must be %d to %d characters: %s.", name, kind, r.Min, r.Max, r.Hint)
	}
	return nil
}

// TypeName is "ns/path".
func (t *ResourceType) TypeName() string { return t.Namespace + "/" + t.Path }

// RBACAction returns "{ns}/{path}/{verb}" (verb read|write|delete).
func (t *ResourceType) RBACAction(verb string) string { return t.TypeName() + "/" + verb }

// Registry holds the declared types.
type Registry struct {
	mu         sync.RWMutex
	byType     map[string]*ResourceType // lower(ns/path)
	namespaces map[string]string        // lower → canonical
	routes     map[string]ProviderRoute // lower(ns/first segment)
}

// ProviderRoute serves subscription-level provider paths that are no
// declared resource type: /subscriptions/{s}/providers/{ns}/{first}/… (Key
// Vault's deletedVaults, locations/{l}/deletedVaults/{n}[/purge],
// checkNameAvailability). rest starts at {first}; the subscription exists
// and belongs to the caller's tenant. The route authorizes itself.
type ProviderRoute func(w http.ResponseWriter, c *Call, subscription string, rest []string) error

// RegisterProviderRoute mounts h for /subscriptions/{s}/providers/{ns}/{first}/….
// The namespace must also declare at least one type.
func (r *Registry) RegisterProviderRoute(namespace, first string, h ProviderRoute) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes == nil {
		r.routes = map[string]ProviderRoute{}
	}
	r.routes[strings.ToLower(namespace+"/"+first)] = h
}

func (r *Registry) providerRoute(ns, first string) (ProviderRoute, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.routes[strings.ToLower(ns+"/"+first)]
	return h, ok
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byType: map[string]*ResourceType{}, namespaces: map[string]string{}}
}

var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|alpha|beta))?$`)

// Register adds a type. Declarations are programmer input: a bad one panics
// at start-up.
func (r *Registry) Register(t *ResourceType) {
	if t.Namespace == "" || t.Path == "" || len(t.APIVersions) == 0 {
		panic("arm: incomplete resource type declaration " + t.TypeName())
	}
	vs := slices.Clone(t.APIVersions)
	for _, v := range vs {
		if !apiVersionRE.MatchString(v) {
			panic("arm: bad api-version " + v)
		}
	}
	sort.Strings(vs)
	t.apiMin, t.apiMax = vs[0][:10], vs[len(vs)-1][:10]
	if t.CreateStatus == 0 {
		t.CreateStatus = http.StatusOK
	}
	t.segments = strings.Split(t.Path, "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byType[strings.ToLower(t.TypeName())] = t
	r.namespaces[strings.ToLower(t.Namespace)] = t.Namespace
}

// Lookup finds a type by ns and path segments (case-insensitive).
func (r *Registry) Lookup(ns string, types []string) (*ResourceType, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.byType[strings.ToLower(ns+"/"+strings.Join(types, "/"))]
	return t, ok
}

// Namespace returns the canonical casing of a namespace if any type is
// declared in it.
func (r *Registry) Namespace(ns string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.namespaces[strings.ToLower(ns)]
	return c, ok
}

// Types lists every declared type, sorted.
func (r *Registry) Types() []*ResourceType {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*ResourceType
	for _, t := range r.byType {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TypeName() < out[j].TypeName() })
	return out
}

// Children lists the types declared directly below t.
func (r *Registry) Children(t *ResourceType) []*ResourceType {
	var out []*ResourceType
	for _, c := range r.Types() {
		if strings.EqualFold(c.Namespace, t.Namespace) && len(c.segments) == len(t.segments)+1 &&
			strings.EqualFold(strings.Join(c.segments[:len(t.segments)], "/"), t.Path) {
			out = append(out, c)
		}
	}
	return out
}

// CheckAPIVersion validates an api-version for t.
func (t *ResourceType) CheckAPIVersion(v string) error {
	if v == "" {
		return errMissingAPIVersion
	}
	if !apiVersionRE.MatchString(v) || v[:10] < t.apiMin || v[:10] > t.apiMax {
		return Errorf(http.StatusBadRequest, "NoRegisteredProviderFound",
			"No registered resource provider found for API version '%s' and type '%s'. The supported api-versions are '%s'.",
			v, t.TypeName(), strings.Join(t.APIVersions, ", "))
	}
	return nil
}

var errMissingAPIVersion = Errorf(http.StatusBadRequest, "MissingApiVersionParameter",
	"The api-version query parameter (?api-version=) is required for all requests.")

// canonical returns the declared casing of the type segments.
func (t *ResourceType) canonical() []string { return t.segments }

func (t *ResourceType) String() string {
	return fmt.Sprintf("%s (%s..%s)", t.TypeName(), t.apiMin, t.apiMax)
}
