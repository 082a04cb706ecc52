// Package directory is amlid's Entra ID: tenants, subscriptions and
// principals (users, groups, service principals and the principals of
// managed identities, rule ID-1). It persists through store.Store; the token
// service authenticates against it and RBAC resolves principals and group
// membership from it.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// Store kinds owned by this package.
const (
	KindTenant       = "directory.tenant"
	KindSubscription = "directory.subscription"
	KindPrincipal    = "directory.principal"
	// KindIndex maps alternate keys (appId, UPN, resource ID) to object IDs:
	// key "<tenant>|<field>|<lower(value)>", value {"objectId": …}.
	KindIndex = "directory.index"
)

// ErrNotFound etc. are the store's sentinels re-exported for callers.
var (
	ErrNotFound      = store.ErrNotFound
	ErrAlreadyExists = store.ErrAlreadyExists
)

// Principal types as RBAC's principalType names them.
const (
	TypeUser             = "User"
	TypeGroup            = "Group"
	TypeServicePrincipal = "ServicePrincipal"
)

// Service principal subtypes (Graph's servicePrincipalType).
const (
	SubtypeApplication     = "Application"
	SubtypeManagedIdentity = "ManagedIdentity"
)

// Tenant is an Entra tenant.
type Tenant struct {
	ID            string    `json:"tenantId"`
	DisplayName   string    `json:"displayName"`
	DefaultDomain string    `json:"defaultDomain"`
	Created       time.Time `json:"created"`
}

// Subscription is an Azure subscription, owned by a tenant.
type Subscription struct {
	ID          string `json:"subscriptionId"`
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName"`
	State       string `json:"state"`
}

// SecretCredential is a client secret or user password, stored only as a
// salted hash (see hash.go). The clear value is shown once at creation.
type SecretCredential struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName,omitempty"`
	Hint        string    `json:"hint,omitempty"` // first 3 characters, like Entra
	Hash        string    `json:"hash"`
	Disabled    bool      `json:"disabled,omitempty"`
	StartTime   time.Time `json:"startDateTime"`
	EndTime     time.Time `json:"endDateTime"`
}

// CertificateCredential is a public certificate a service principal signs
// client assertions with.
type CertificateCredential struct {
	KeyID      string    `json:"keyId"`
	Thumbprint string    `json:"thumbprint"` // hex SHA-1 of DER, upper case
	CertPEM    string    `json:"certPem"`
	Disabled   bool      `json:"disabled,omitempty"`
	StartTime  time.Time `json:"startDateTime"`
	EndTime    time.Time `json:"endDateTime"`
}

// Principal is any security principal (rule ID-1).
type Principal struct {
	ObjectID    string `json:"objectId"`
	TenantID    string `json:"tenantId"`
	Type        string `json:"type"`              // User | Group | ServicePrincipal
	Subtype     string `json:"subtype,omitempty"` // Application | ManagedIdentity (service principals)
	DisplayName string `json:"displayName"`
	// AppID is the application (client) ID of a service principal or the
	// client ID of a managed identity.
	AppID string `json:"appId,omitempty"`
	// UPN is a user's sign-in name (user@domain).
	UPN string `json:"userPrincipalName,omitempty"`
	// ResourceID is, for a managed identity, the ARM ID it stands for: the
	// UAI resource itself, or the resource that holds a system-assigned
	// identity. It becomes the token's xms_mirid claim.
	ResourceID string `json:"resourceId,omitempty"`
	// SystemAssigned marks the principal of a system-assigned identity
	// (deleted with its resource).
	SystemAssigned bool                    `json:"systemAssigned,omitempty"`
	Password       *SecretCredential       `json:"password,omitempty"`
	Secrets        []SecretCredential      `json:"secrets,omitempty"`
	Certificates   []CertificateCredential `json:"certificates,omitempty"`
	Members        []string                `json:"members,omitempty"` // group member object IDs
	Disabled       bool                    `json:"disabled,omitempty"`
	// DirectoryAdmin marks a Global Administrator: it may write the
	// directory through Graph (the bootstrap admin is one).
	DirectoryAdmin bool `json:"directoryAdmin,omitempty"`
	// RedirectURIs are the reply URLs of an application's service
	// principal (mirrored from its app registration's web, spa and
	// publicClient platforms): the authorization-code flow sends codes
	// only there.
	RedirectURIs []string  `json:"redirectUris,omitempty"`
	Created      time.Time `json:"created"`
}

// IsManagedIdentity reports whether p is a managed identity's principal.
func (p *Principal) IsManagedIdentity() bool { return p.Subtype == SubtypeManagedIdentity }

// Directory is the typed view over the store.
type Directory struct {
	s store.Store

	mu     sync.Mutex
	groups map[string]groupCache // tenant → its groups at a groups version
	// groupIndexed: the group index is known to be complete.
	groupIndexed atomic.Bool
}

// groupCache holds a tenant's groups as of a groups-version ETag.
type groupCache struct {
	version string
	groups  []*Principal
}

// New returns a directory over s.
func New(s store.Store) *Directory { return &Directory{s: s, groups: map[string]groupCache{}} }

// kindMeta holds per-tenant version records: "groups|<tenant>" changes
// (new ETag) in the same transaction as any change to a group, so group
// expansion (every RBAC decision) reads one record instead of listing the
// tenant's principals, and replicas sharing the store see changes at once.
const kindMeta = "directory.meta"

func groupsVersionKey(tenant string) string { return "groups|" + strings.ToLower(tenant) }

func bumpGroups(ctx context.Context, tx store.Tx, tenant string) error {
	_, err := tx.Put(ctx, store.Record{Kind: kindMeta, Key: groupsVersionKey(tenant), Value: []byte(`{}`)}, "")
	return err
}

// KindGroup indexes a tenant's groups: key "<tenant>|<object ID>", parent
// the lower-case tenant, written with the group in the same transaction, so
// group expansion reads the tenant's groups, not every principal of it
// (a tenant with 100,000 managed identities and ten groups).
const KindGroup = "directory.group"

func groupKey(tenant, objectID string) string {
	return strings.ToLower(tenant) + "|" + strings.ToLower(objectID)
}

func putGroupIndex(ctx context.Context, tx store.Tx, p *Principal) error {
	_, err := tx.Put(ctx, store.Record{Kind: KindGroup, Key: groupKey(p.TenantID, p.ObjectID), Parent: strings.ToLower(p.TenantID), Value: []byte(`{}`)}, "")
	return err
}

func deleteGroupIndex(ctx context.Context, tx store.Tx, p *Principal) error {
	if err := tx.Delete(ctx, KindGroup, groupKey(p.TenantID, p.ObjectID), ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// groupIndexMarker says the group index covers every group (databases
// written before it existed are indexed once, by ensureGroupIndex).
const groupIndexMarker = "groupindex"

// groupIndexReady reports whether the group index is complete (its marker
// exists); until then group expansion lists every principal, as before it.
func (d *Directory) groupIndexReady(ctx context.Context) (bool, error) {
	if d.groupIndexed.Load() {
		return true, nil
	}
	_, err := d.s.Get(ctx, kindMeta, groupIndexMarker)
	switch {
	case err == nil:
		d.groupIndexed.Store(true)
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// EnsureGroupIndex indexes the groups of a store written before the index
// existed (one pass over every principal, once per database) and marks it
// complete. amlid runs it at start; it must not run inside a transaction.
func (d *Directory) EnsureGroupIndex(ctx context.Context) error {
	if ok, err := d.groupIndexReady(ctx); ok || err != nil {
		return err
	}
	err := d.s.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, kindMeta, groupIndexMarker); err == nil {
			return nil
		}
		for o := (store.PageOptions{Limit: 10000}); ; {
			p, err := store.ListPage(ctx, tx, KindPrincipal, o)
			if err != nil {
				return err
			}
			for _, r := range p.Records {
				var pr Principal
				if json.Unmarshal(r.Value, &pr) == nil && pr.Type == TypeGroup {
					if err := putGroupIndex(ctx, tx, &pr); err != nil {
						return err
					}
				}
			}
			if p.Next == "" {
				break
			}
			o.After = p.Next
		}
		_, err := tx.Put(ctx, store.Record{Kind: kindMeta, Key: groupIndexMarker, Value: []byte(`{}`)}, "")
		return err
	})
	if err == nil {
		d.groupIndexed.Store(true)
	}
	return err
}

// Store exposes the underlying store (for transactions spanning packages).
func (d *Directory) Store() store.Store { return d.s }

func indexKey(tenant, field, value string) string {
	return strings.ToLower(tenant) + "|" + field + "|" + strings.ToLower(value)
}

// Index fields.
const (
	IndexAppID      = "appId"
	IndexUPN        = "upn"
	IndexResourceID = "resourceId"
)

func principalIndexes(p *Principal) map[string]string {
	ix := map[string]string{}
	if p.AppID != "" {
		ix[IndexAppID] = p.AppID
	}
	if p.UPN != "" {
		ix[IndexUPN] = p.UPN
	}
	if p.ResourceID != "" {
		ix[IndexResourceID] = p.ResourceID
	}
	return ix
}

// PutTenant creates or replaces a tenant.
func (d *Directory) PutTenant(ctx context.Context, t Tenant) error {
	b, _ := json.Marshal(t)
	_, err := store.Put(ctx, d.s, store.Record{Kind: KindTenant, Key: strings.ToLower(t.ID), Value: b}, "")
	return err
}

// Tenant returns a tenant by ID.
func (d *Directory) Tenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	r, err := d.s.Get(ctx, KindTenant, strings.ToLower(id))
	if err != nil {
		return t, err
	}
	return t, json.Unmarshal(r.Value, &t)
}

// Tenants lists every tenant.
func (d *Directory) Tenants(ctx context.Context) ([]Tenant, error) {
	return listJSON[Tenant](ctx, d.s, KindTenant, store.ListOptions{})
}

// PutSubscription creates or replaces a subscription.
func (d *Directory) PutSubscription(ctx context.Context, s Subscription) error {
	b, _ := json.Marshal(s)
	_, err := store.Put(ctx, d.s, store.Record{Kind: KindSubscription, Key: strings.ToLower(s.ID), Parent: strings.ToLower(s.TenantID), Value: b}, "")
	return err
}

// Subscription returns a subscription by ID.
func (d *Directory) Subscription(ctx context.Context, id string) (Subscription, error) {
	var s Subscription
	r, err := d.s.Get(ctx, KindSubscription, strings.ToLower(id))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(r.Value, &s)
}

// Subscriptions lists subscriptions, of one tenant when tenant != "".
func (d *Directory) Subscriptions(ctx context.Context, tenant string) ([]Subscription, error) {
	return listJSON[Subscription](ctx, d.s, KindSubscription, store.ListOptions{Parent: strings.ToLower(tenant)})
}

// CreatePrincipal stores a new principal, assigning an object ID when empty,
// inside tx (so callers can create a resource and its principal atomically).
func CreatePrincipal(ctx context.Context, tx store.Tx, p *Principal) error {
	if p.ObjectID == "" {
		p.ObjectID = uuid.NewString()
	}
	if p.TenantID == "" {
		return errors.New("directory: principal needs a tenant")
	}
	if p.Created.IsZero() {
		p.Created = time.Now().UTC()
	}
	for field, v := range principalIndexes(p) {
		b, _ := json.Marshal(map[string]string{"objectId": p.ObjectID})
		if _, err := tx.Create(ctx, store.Record{Kind: KindIndex, Key: indexKey(p.TenantID, field, v), Parent: p.ObjectID, Value: b}); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return fmt.Errorf("directory: a principal with %s %q already exists in tenant %s: %w", field, v, p.TenantID, store.ErrAlreadyExists)
			}
			return err
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err = tx.Create(ctx, store.Record{Kind: KindPrincipal, Key: p.ObjectID, Parent: strings.ToLower(p.TenantID), Value: b}); err != nil {
		return err
	}
	if p.Type == TypeGroup {
		if err := putGroupIndex(ctx, tx, p); err != nil {
			return err
		}
		return bumpGroups(ctx, tx, p.TenantID)
	}
	return nil
}

// DeletePrincipal removes a principal and its index entries inside tx.
// Removing it from groups and deleting its role assignments is the caller's
// business (RBAC owns assignments).
func DeletePrincipal(ctx context.Context, tx store.Tx, objectID string) error {
	r, err := tx.Get(ctx, KindPrincipal, objectID)
	if err != nil {
		return err
	}
	var p Principal
	if err := json.Unmarshal(r.Value, &p); err != nil {
		return err
	}
	for field, v := range principalIndexes(&p) {
		if err := tx.Delete(ctx, KindIndex, indexKey(p.TenantID, field, v), ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if p.Type == TypeGroup {
		if err := deleteGroupIndex(ctx, tx, &p); err != nil {
			return err
		}
		if err := bumpGroups(ctx, tx, p.TenantID); err != nil {
			return err
		}
	}
	return tx.Delete(ctx, KindPrincipal, objectID, "")
}

// GetPrincipal reads a principal by object ID inside any reader.
func GetPrincipal(ctx context.Context, rd store.Reader, objectID string) (*Principal, error) {
	r, err := rd.Get(ctx, KindPrincipal, strings.ToLower(objectID))
	if err != nil {
		return nil, err
	}
	var p Principal
	return &p, json.Unmarshal(r.Value, &p)
}

// CreatePrincipal is the one-call form of the package function.
func (d *Directory) CreatePrincipal(ctx context.Context, p *Principal) error {
	return d.s.Tx(ctx, func(tx store.Tx) error { return CreatePrincipal(ctx, tx, p) })
}

// DeletePrincipal is the one-call form of the package function.
func (d *Directory) DeletePrincipal(ctx context.Context, objectID string) error {
	return d.s.Tx(ctx, func(tx store.Tx) error { return DeletePrincipal(ctx, tx, objectID) })
}

// Principal returns a principal by object ID.
func (d *Directory) Principal(ctx context.Context, objectID string) (*Principal, error) {
	return GetPrincipal(ctx, d.s, objectID)
}

// UpdatePrincipal applies fn to a principal atomically. fn must not change
// the indexed fields (appId, UPN, resourceId) or the object ID.
func (d *Directory) UpdatePrincipal(ctx context.Context, objectID string, fn func(p *Principal) error) (*Principal, error) {
	var out Principal
	err := d.s.Tx(ctx, func(tx store.Tx) error {
		old, err := tx.Get(ctx, KindPrincipal, strings.ToLower(objectID))
		if err != nil {
			return err
		}
		out = Principal{}
		if err := json.Unmarshal(old.Value, &out); err != nil {
			return err
		}
		before := principalIndexes(&out)
		was := out
		if err := fn(&out); err != nil {
			return err
		}
		after := principalIndexes(&out)
		for k, v := range before {
			if !strings.EqualFold(after[k], v) {
				return fmt.Errorf("directory: %s of a principal cannot change", k)
			}
		}
		b, err := json.Marshal(&out)
		if err != nil {
			return err
		}
		old.Value = b
		if _, err := tx.Put(ctx, old, old.ETag); err != nil {
			return err
		}
		if was.Type == TypeGroup && (out.Type != TypeGroup || !strings.EqualFold(was.TenantID, out.TenantID)) {
			if err := deleteGroupIndex(ctx, tx, &was); err != nil {
				return err
			}
			if err := bumpGroups(ctx, tx, was.TenantID); err != nil {
				return err
			}
		}
		if out.Type == TypeGroup {
			if err := putGroupIndex(ctx, tx, &out); err != nil {
				return err
			}
			return bumpGroups(ctx, tx, out.TenantID)
		}
		return nil
	})
	return &out, err
}

// Lookup finds a principal in tenant by an indexed field (IndexAppID,
// IndexUPN, IndexResourceID).
func (d *Directory) Lookup(ctx context.Context, tenant, field, value string) (*Principal, error) {
	return LookupIn(ctx, d.s, tenant, field, value)
}

// LookupIn is Lookup inside any reader (a transaction included).
func LookupIn(ctx context.Context, rd store.Reader, tenant, field, value string) (*Principal, error) {
	r, err := rd.Get(ctx, KindIndex, indexKey(tenant, field, value))
	if err != nil {
		return nil, err
	}
	var ix struct {
		ObjectID string `json:"objectId"`
	}
	if err := json.Unmarshal(r.Value, &ix); err != nil {
		return nil, err
	}
	return GetPrincipal(ctx, rd, ix.ObjectID)
}

// Principals lists a tenant's principals, optionally of one type.
func (d *Directory) Principals(ctx context.Context, tenant, typ string) ([]*Principal, error) {
	all, err := listJSON[Principal](ctx, d.s, KindPrincipal, store.ListOptions{Parent: strings.ToLower(tenant)})
	if err != nil {
		return nil, err
	}
	var out []*Principal
	for i := range all {
		if typ == "" || all[i].Type == typ {
			out = append(out, &all[i])
		}
	}
	return out, nil
}

// GroupsOf returns the object IDs of the groups p is a direct or transitive
// member of (for the token's groups claim and RBAC group expansion).
func (d *Directory) GroupsOf(ctx context.Context, tenant, objectID string) ([]string, error) {
	groups, err := d.tenantGroups(ctx, tenant)
	if err != nil {
		return nil, err
	}
	member := map[string]bool{strings.ToLower(objectID): true}
	var out []string
	for changed := true; changed; {
		changed = false
		for _, g := range groups {
			if member[g.ObjectID] {
				continue
			}
			for _, m := range g.Members {
				if member[strings.ToLower(m)] {
					member[g.ObjectID] = true
					out = append(out, g.ObjectID)
					changed = true
					break
				}
			}
		}
	}
	return out, nil
}

// tenantGroups returns a tenant's groups, listing them only when the
// tenant's groups version changed since the last call.
func (d *Directory) tenantGroups(ctx context.Context, tenant string) ([]*Principal, error) {
	v := ""
	rec, err := d.s.Get(ctx, kindMeta, groupsVersionKey(tenant))
	switch {
	case err == nil:
		v = rec.ETag
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	key := strings.ToLower(tenant)
	d.mu.Lock()
	c, ok := d.groups[key]
	d.mu.Unlock()
	if ok && c.version == v {
		return c.groups, nil
	}
	ready, err := d.groupIndexReady(ctx)
	if err != nil {
		return nil, err
	}
	if !ready {
		groups, err := d.Principals(ctx, tenant, TypeGroup)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.groups[key] = groupCache{version: v, groups: groups}
		d.mu.Unlock()
		return groups, nil
	}
	idx, err := d.s.List(ctx, KindGroup, store.ListOptions{Parent: key})
	if err != nil {
		return nil, err
	}
	groups := make([]*Principal, 0, len(idx))
	for _, r := range idx {
		_, oid, _ := strings.Cut(r.Key, "|")
		g, err := GetPrincipal(ctx, d.s, oid)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		if g.Type == TypeGroup && strings.EqualFold(g.TenantID, tenant) {
			groups = append(groups, g)
		}
	}
	d.mu.Lock()
	d.groups[key] = groupCache{version: v, groups: groups}
	d.mu.Unlock()
	return groups, nil
}

func listJSON[T any](ctx context.Context, rd store.Reader, kind string, o store.ListOptions) ([]T, error) {
	recs, err := rd.List(ctx, kind, o)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, fmt.Errorf("directory: corrupt %s record %q: %w", kind, r.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// GroupsVersion identifies the state of a tenant's groups (it changes with
// any group or membership change): a cheap "has anything changed" probe.
func (d *Directory) GroupsVersion(ctx context.Context, tenant string) (string, error) {
	rec, err := d.s.Get(ctx, kindMeta, groupsVersionKey(tenant))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return rec.ETag, err
}
