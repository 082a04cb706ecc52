package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// Container is one blob container, as both planes see it.
type Container struct {
	Account string
	Name    string
	ID      string // ARM ID
	// UID names the container's data directory and prefixes its blob
	// records; it is new for every incarnation of a name.
	UID          string
	PublicAccess string // None | Container | Blob
	Metadata     map[string]string
	ETag         string // quoted
	LastModified time.Time
	// SignedIdentifiers are the stored access policies (Set Container ACL).
	SignedIdentifiers []SignedIdentifier
}

// SignedIdentifier is a stored access policy.
type SignedIdentifier struct {
	ID         string `json:"id"`
	Start      string `json:"start,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
	Permission string `json:"permission,omitempty"`
}

// Public access levels.
const (
	AccessNone      = "None"
	AccessContainer = "Container"
	AccessBlob      = "Blob"
)

// NormalizePublicAccess maps "", "none", "container", "blob" (any case) to
// the canonical level; ok is false for anything else.
func NormalizePublicAccess(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "", "none", "off":
		return AccessNone, true
	case "container":
		return AccessContainer, true
	case "blob":
		return AccessBlob, true
	}
	return "", false
}

var metadataNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidMetadataName reports whether n is a valid metadata name (a C#
// identifier, as Azure requires).
func ValidMetadataName(n string) bool { return metadataNameRE.MatchString(n) }

func newUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ContainerFromResource reads a container resource.
func ContainerFromResource(r *arm.Resource) (*Container, error) {
	id, err := arm.ParseID(r.ID)
	if err != nil || len(id.Names) != 3 {
		return nil, errorf("storage: %s is not a container ID", r.ID)
	}
	c := &Container{Account: id.Names[0], Name: id.Names[2], ID: r.ID, ETag: r.ETag, Metadata: map[string]string{}}
	c.UID, _ = r.Internal["uid"].(string)
	c.PublicAccess, _ = NormalizePublicAccess(r.StringProp("publicAccess"))
	if m, ok := r.Prop("metadata").(map[string]any); ok {
		for k, v := range m {
			s, _ := v.(string)
			c.Metadata[k] = s
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, r.StringProp("lastModifiedTime")); err == nil {
		c.LastModified = t.UTC()
	}
	if raw, ok := r.Internal["signedIdentifiers"]; ok {
		b, _ := json.Marshal(raw)
		_ = json.Unmarshal(b, &c.SignedIdentifiers)
	}
	return c, nil
}

// resource renders c as its ARM resource.
func (c *Container) resource() *arm.Resource {
	md := map[string]any{}
	for k, v := range c.Metadata {
		md[k] = v
	}
	r := &arm.Resource{ID: c.ID, Name: c.Name, Type: ContainerType, ETag: c.ETag}
	r.Properties = containerProps(c.PublicAccess, md, c.LastModified)
	r.Internal = map[string]any{"uid": c.UID}
	if len(c.SignedIdentifiers) > 0 {
		var raw any
		b, _ := json.Marshal(c.SignedIdentifiers)
		_ = json.Unmarshal(b, &raw)
		r.Internal["signedIdentifiers"] = raw
	}
	return r
}

func containerProps(access string, md map[string]any, modified time.Time) map[string]any {
	return map[string]any{
		"publicAccess":                access,
		"metadata":                    md,
		"lastModifiedTime":            modified.UTC().Format(time.RFC3339Nano),
		"leaseStatus":                 "Unlocked",
		"leaseState":                  "Available",
		"hasImmutabilityPolicy":       false,
		"hasLegalHold":                false,
		"defaultEncryptionScope":      "$account-encryption-key",
		"denyEncryptionScopeOverride": false,
		"deleted":                     false,
		"remainingRetentionDays":      0,
		"provisioningState":           "Succeeded",
	}
}

// ---- ARM hooks ----

func publicAccessRefused(account string) error {
	return arm.Errorf(http.StatusConflict, "PublicAccessNotPermitted",
		"Public access is not permitted on this storage account: '%s' has allowBlobPublicAccess false. Fix: amlid storage account update -n %s --allow-blob-public-access true", account, account)
}

func (p *Provider) validateContainer(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	props := nu.Properties
	access := AccessNone
	if v, ok := props["publicAccess"]; ok && v != nil {
		s, _ := v.(string)
		a, ok := NormalizePublicAccess(s)
		if !ok {
			return badRequest("InvalidRequestContent", "properties.publicAccess '%v' is invalid; use None, Container or Blob.", v)
		}
		access = a
	} else if old != nil && w.IsPatch {
		access, _ = NormalizePublicAccess(old.StringProp("publicAccess"))
	}
	md := map[string]any{}
	if m, ok := props["metadata"].(map[string]any); ok {
		for k, v := range m {
			s, ok := v.(string)
			if !ok || !ValidMetadataName(k) {
				return badRequest("InvalidRequestContent", "properties.metadata: '%s' must be a C# identifier with a string value.", k)
			}
			md[k] = s
		}
	} else if old != nil && w.IsPatch {
		if m, ok := old.Prop("metadata").(map[string]any); ok {
			md = m
		}
	}
	now := p.now()
	nu.Properties = containerProps(access, md, now)
	nu.ETag = NewETag(now)
	if nu.Internal == nil {
		nu.Internal = map[string]any{}
	}
	if _, ok := nu.Internal["uid"].(string); !ok {
		nu.Internal["uid"] = newUID()
	}
	return nil
}

// beforeCommitContainer checks, inside the transaction, that a public
// container is allowed by its account.
func (p *Provider) beforeCommitContainer(ctx context.Context, tx store.Tx, w *arm.Write) error {
	if a, _ := NormalizePublicAccess(w.New.StringProp("publicAccess")); a == AccessNone {
		return nil
	}
	acctID := w.ID.Parent().Parent()
	ar, err := getResource(ctx, tx, acctID)
	if err != nil {
		return err
	}
	if allow, _ := ar.Prop("allowBlobPublicAccess").(bool); !allow {
		return publicAccessRefused(acctID.Name())
	}
	return nil
}

func (p *Provider) beforeDeleteContainer(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	c, err := ContainerFromResource(r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.pending == nil {
		p.pending = map[string]*Container{}
	}
	p.pending[strings.ToLower(c.ID)] = c
	p.mu.Unlock()
	if h := p.getHooks(); h.Deleting != nil {
		return h.Deleting(ctx, tx, c)
	}
	return nil
}

func (p *Provider) afterCommitContainer(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r != nil {
		return
	}
	p.mu.Lock()
	c := p.pending[id.Key()]
	delete(p.pending, id.Key())
	p.mu.Unlock()
	if c != nil {
		if h := p.getHooks(); h.Deleted != nil {
			h.Deleted(ctx, c)
		}
	}
}

// ---- data-plane operations ----

func containerARMID(a *Account, name string) (arm.ID, error) { return arm.ParseID(a.ContainerID(name)) }

// Container reads a container (ErrContainerNotFound when missing).
func (p *Provider) Container(ctx context.Context, a *Account, name string) (*Container, error) {
	if !ValidContainerName(name) {
		return nil, ErrContainerNotFound
	}
	id, err := containerARMID(a, name)
	if err != nil {
		return nil, err
	}
	_, c, err := readContainer(ctx, p.Store, id)
	return c, err
}

// readContainer reads the container at id and its resource
// (ErrContainerNotFound when missing).
func readContainer(ctx context.Context, rd store.Reader, id arm.ID) (*arm.Resource, *Container, error) {
	r, err := getResource(ctx, rd, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrContainerNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := ContainerFromResource(r)
	return r, c, err
}

// ListContainers lists containers whose names start with prefix and come
// after after, in name order, at most limit (0 = all).
func (p *Provider) ListContainers(ctx context.Context, a *Account, prefix, after string, limit int) ([]*Container, error) {
	bs, err := arm.ParseID(a.BlobServiceID())
	if err != nil {
		return nil, err
	}
	// Container names are lower case, so their keys sort as their names: one
	// range of the parent index, O(limit).
	base := bs.Key() + "/containers/"
	o := store.ListOptions{Parent: bs.Key(), KeyPrefix: base + strings.ToLower(prefix), Limit: limit}
	if after != "" {
		o.After = base + strings.ToLower(after)
	}
	recs, err := p.Store.List(ctx, arm.KindResource, o)
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, rec := range recs {
		r, err := arm.DecodeResource(rec.Value)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(r.Type, ContainerType) {
			continue
		}
		c, err := ContainerFromResource(r)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(c.Name, prefix) || (after != "" && c.Name <= after) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// CreateContainer creates a container from the data plane.
func (p *Provider) CreateContainer(ctx context.Context, a *Account, name, access string, md map[string]string) (*Container, error) {
	if access != AccessNone && !a.AllowBlobPublicAccess {
		return nil, ErrPublicAccessNotAllowed
	}
	id, err := containerARMID(a, name)
	if err != nil {
		return nil, err
	}
	now := p.now()
	c := &Container{Account: a.Name, Name: name, ID: id.String(), UID: newUID(), PublicAccess: access, Metadata: md,
		ETag: NewETag(now), LastModified: now}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	err = p.Store.Tx(ctx, func(tx store.Tx) error {
		// The blob service record is made with the account; recreate it if
		// it went missing.
		bsID := id.Parent()
		if _, err := tx.Get(ctx, arm.KindResource, bsID.Key()); errors.Is(err, store.ErrNotFound) {
			bs := &arm.Resource{ID: bsID.String(), Name: "default", Type: BlobServicesType, Properties: defaultBlobServiceProps()}
			bs.SetProp("provisioningState", "Succeeded")
			if err := putResource(ctx, tx, bsID, bs); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		err := createResource(ctx, tx, id, c.resource())
		if errors.Is(err, store.ErrAlreadyExists) {
			return ErrContainerExists
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateContainer applies fn to a container atomically (set metadata, set
// ACL). fn may refuse with an error, which is returned as is. The ETag and
// last-modified time move forward.
func (p *Provider) UpdateContainer(ctx context.Context, a *Account, name string, fn func(c *Container) error) (*Container, error) {
	id, err := containerARMID(a, name)
	if err != nil {
		return nil, err
	}
	var out *Container
	err = p.Store.Tx(ctx, func(tx store.Tx) error {
		r, c, err := readContainer(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		if c.PublicAccess != AccessNone {
			cur, err := p.accountIn(ctx, tx, a.Name)
			if err != nil {
				return err
			}
			if !cur.AllowBlobPublicAccess {
				return ErrPublicAccessNotAllowed
			}
		}
		now := p.now()
		c.ETag, c.LastModified = NewETag(now), now
		nr := c.resource()
		nr.SystemData = r.SystemData
		out = c
		return putResource(ctx, tx, id, nr)
	})
	return out, err
}

// DeleteContainer deletes a container and (through the hooks) its blobs.
// check may refuse (conditional headers) with an error returned as is.
func (p *Provider) DeleteContainer(ctx context.Context, a *Account, name string, check func(c *Container) error) error {
	id, err := containerARMID(a, name)
	if err != nil {
		return err
	}
	var gone *Container
	h := p.getHooks()
	err = p.Store.Tx(ctx, func(tx store.Tx) error {
		_, c, err := readContainer(ctx, tx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		if h.Deleting != nil {
			if err := h.Deleting(ctx, tx, c); err != nil {
				return err
			}
		}
		gone = c
		return tx.Delete(ctx, arm.KindResource, id.Key(), "")
	})
	if err != nil {
		return err
	}
	if h.Deleted != nil {
		h.Deleted(ctx, gone)
	}
	return nil
}

// AllContainerUIDs lists the UID of every container in the store (the data
// plane's sweep keeps their directories).
func (p *Provider) AllContainerUIDs(ctx context.Context) (map[string]bool, error) {
	recs, err := p.Store.List(ctx, arm.KindResource, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, rec := range recs {
		r, err := arm.DecodeResource(rec.Value)
		if err != nil || !strings.EqualFold(r.Type, ContainerType) {
			continue
		}
		if uid, ok := r.Internal["uid"].(string); ok {
			out[uid] = true
		}
	}
	return out, nil
}
