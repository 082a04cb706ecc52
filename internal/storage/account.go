package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// Sentinel errors of the lookups the data plane uses.
var (
	ErrAccountNotFound        = errors.New("storage: account not found")
	ErrContainerNotFound      = errors.New("storage: container not found")
	ErrContainerExists        = errors.New("storage: container already exists")
	ErrPublicAccessNotAllowed = errors.New("storage: public access is not permitted on this account")
)

// Account is what the data plane needs to know about a storage account.
type Account struct {
	Name     string
	ID       string // ARM resource ID
	TenantID string // the tenant that owns the account's subscription (rule ID-4)
	// Keys are the decoded account keys (key1, key2).
	Keys                  [][]byte
	AllowSharedKeyAccess  bool
	AllowBlobPublicAccess bool
	// PublicNetworkAccess is Enabled or Disabled.
	PublicNetworkAccess string
	Network             NetworkACLs
	SKU, Kind           string
	IsHnsEnabled        bool
}

// BlobServiceID is the ARM ID of the account's blob service.
func (a *Account) BlobServiceID() string { return a.ID + "/blobServices/default" }

// ContainerID is the ARM ID of a container of the account (the RBAC scope
// of data actions on its blobs).
func (a *Account) ContainerID(name string) string {
	return a.BlobServiceID() + "/containers/" + name
}

// accountID finds an account's resource ID through the name index.
func accountID(ctx context.Context, rd store.Reader, name string) (arm.ID, error) {
	rec, err := rd.Get(ctx, KindAccountName, strings.ToLower(name))
	if errors.Is(err, store.ErrNotFound) {
		return arm.ID{}, ErrAccountNotFound
	}
	if err != nil {
		return arm.ID{}, err
	}
	var ix nameIndex
	if err := json.Unmarshal(rec.Value, &ix); err != nil {
		return arm.ID{}, err
	}
	return arm.ParseID(ix.ID)
}

// cachedAccount is a decoded account and the store ETag it came from.
type cachedAccount struct {
	key, etag string
	acct      *Account
}

// Account looks an account up by name (ErrAccountNotFound when none).
// Every call reads the store; the decoded form is reused while the
// record's ETag is unchanged. The result is shared: do not modify it.
func (p *Provider) Account(ctx context.Context, name string) (*Account, error) {
	return p.accountIn(ctx, p.Store, name)
}

func (p *Provider) accountIn(ctx context.Context, rd store.Reader, name string) (*Account, error) {
	if !ValidAccountName(name) {
		return nil, ErrAccountNotFound
	}
	// The name index is read once per account: a cached resource ID that
	// no longer resolves (the account was deleted) sends us back to it.
	var rec store.Record
	var err error
	for fresh := false; ; fresh = true {
		var key string
		if c, ok := p.accounts.Load(name); ok && !fresh {
			key = c.(*cachedAccount).key
		} else {
			id, err := accountID(ctx, rd, name)
			if err != nil {
				p.accounts.Delete(name)
				return nil, err
			}
			key = id.Key()
		}
		rec, err = rd.Get(ctx, arm.KindResource, key)
		if errors.Is(err, store.ErrNotFound) && !fresh {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			p.accounts.Delete(name)
			return nil, ErrAccountNotFound
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if c, ok := p.accounts.Load(name); ok {
		if ca := c.(*cachedAccount); ca.key == rec.Key && ca.etag == rec.ETag && rec.ETag != "" {
			return ca.acct, nil
		}
	}
	r, err := arm.DecodeResource(rec.Value)
	if err != nil {
		return nil, err
	}
	a, err := AccountFromResource(r)
	if err != nil {
		return nil, err
	}
	p.accounts.Store(name, &cachedAccount{key: rec.Key, etag: rec.ETag, acct: a})
	return a, nil
}

// AccountFromResource reads an account resource (with its internal state).
func AccountFromResource(r *arm.Resource) (*Account, error) {
	a := &Account{Name: r.Name, ID: r.ID, Kind: r.Kind, AllowSharedKeyAccess: true}
	a.TenantID, _ = r.Internal["tenantId"].(string)
	if v, ok := r.Prop("allowSharedKeyAccess").(bool); ok {
		a.AllowSharedKeyAccess = v
	}
	a.AllowBlobPublicAccess, _ = r.Prop("allowBlobPublicAccess").(bool)
	a.IsHnsEnabled, _ = r.Prop("isHnsEnabled").(bool)
	a.PublicNetworkAccess = r.StringProp("publicNetworkAccess")
	if a.PublicNetworkAccess == "" {
		a.PublicNetworkAccess = "Enabled"
	}
	a.SKU, _ = r.SKU["name"].(string)
	acls, err := ParseNetworkACLs(r.Prop("networkAcls"))
	if err != nil {
		return nil, fmt.Errorf("storage: account %s has invalid stored networkAcls: %w", r.Name, err)
	}
	a.Network = acls
	for _, k := range keysOf(r) {
		b, err := base64.StdEncoding.DecodeString(k.Value)
		if err != nil {
			return nil, fmt.Errorf("storage: account %s has a corrupt key: %w", r.Name, err)
		}
		a.Keys = append(a.Keys, b)
	}
	return a, nil
}

// ---- ETags and times ----

var lastTick atomic.Int64

// ticks is .NET ticks (100 ns since 0001-01-01), as Azure ETags carry.
const ticksAtUnixEpoch = 621355968000000000

// NewETag returns a fresh, strictly increasing ETag of Azure's form
// "0x8DB…" (quoted).
func NewETag(t time.Time) string {
	tick := t.UnixNano()/100 + ticksAtUnixEpoch
	for {
		last := lastTick.Load()
		if tick <= last {
			tick = last + 1
		}
		if lastTick.CompareAndSwap(last, tick) {
			break
		}
	}
	return fmt.Sprintf("\"0x%X\"", tick)
}

// AccountIDByName is a storage account's resource ID by its (globally
// unique) name, "" when amlid has none of that name.
func AccountIDByName(ctx context.Context, r store.Reader, name string) string {
	rec, err := r.Get(ctx, KindAccountName, strings.ToLower(name))
	if err != nil {
		return ""
	}
	var idx struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(rec.Value, &idx) != nil {
		return ""
	}
	return idx.ID
}
