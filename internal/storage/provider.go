// Package storage is amlid's Microsoft.Storage resource provider: storage
// accounts (sku, kind, shared-key and public-access switches, network rules,
// identity, keys) and the ARM view of blob containers
// (storageAccounts/{a}/blobServices/default/containers/{c}).
//
// The Blob data plane (package blob) reads accounts and containers through
// this package, so both planes see one record per container: a container
// created with `az storage container create` shows up in the ARM list and the
// other way round.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// Type names.
const (
	Namespace        = "Microsoft.Storage"
	AccountType      = "Microsoft.Storage/storageAccounts"
	BlobServicesType = "Microsoft.Storage/storageAccounts/blobServices"
	ContainerType    = "Microsoft.Storage/storageAccounts/blobServices/containers"
)

// KindAccountName is the store kind of the global account-name index: key =
// account name, value {"id": resource ID}. Storage account names are unique
// across every subscription and resource group (they are DNS names in Azure).
const KindAccountName = "storage.accountname"

// APIVersions the Microsoft.Storage types answer (any date in between is
// accepted: az 2.45 sends 2022-09-01, armstorage 1.8 sends 2024-01-01).
var APIVersions = []string{"2016-01-01", "2017-10-01", "2019-06-01", "2021-04-01", "2021-09-01", "2022-05-01", "2022-09-01",
	"2023-01-01", "2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01"}

// ContainerHooks connect the data plane to container lifecycle events that
// ARM drives. The blob package installs them.
type ContainerHooks struct {
	// Deleting runs inside the transaction that deletes a container (from
	// ARM, from the data plane, or with its account or resource group): the
	// data plane removes the container's blob records there.
	Deleting func(ctx context.Context, tx store.Tx, c *Container) error
	// Deleted runs after that transaction committed (remove data files).
	Deleted func(ctx context.Context, c *Container)
}

// Provider declares Microsoft.Storage/storageAccounts and its blob children.
type Provider struct {
	// Store is where accounts live (the ARM store).
	Store store.Store
	// BlobBaseURL is the blob listener's base URL, e.g.
	// https://127.0.0.1:10000; an account's primaryEndpoints.blob is
	// BlobBaseURL + "/" + name + "/" (path-style, as Azurite does).
	BlobBaseURL string
	// Now is the clock (default time.Now).
	Now func() time.Time

	accounts sync.Map // name → *cachedAccount

	mu      sync.Mutex
	hooks   ContainerHooks
	pending map[string]*Container // lower(container ID) → being deleted
}

// SetContainerHooks installs the data plane's hooks.
func (p *Provider) SetContainerHooks(h ContainerHooks) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks = h
}

func (p *Provider) getHooks() ContainerHooks {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hooks
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// BlobEndpoint is the account's blob endpoint URL (with a trailing slash).
func (p *Provider) BlobEndpoint(account string) string {
	base := strings.TrimRight(p.BlobBaseURL, "/")
	if base == "" {
		return "https://" + account + ".blob.core.windows.net/"
	}
	return base + "/" + account + "/"
}

var (
	accountNameRE   = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	containerNameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
)

// ValidAccountName reports whether name follows the storage account name
// rule: 3 to 24 lower-case letters and digits.
func ValidAccountName(name string) bool { return accountNameRE.MatchString(name) }

// ValidContainerName reports whether name follows the container name rule:
// 3 to 63 lower-case letters, digits and single hyphens, starting and ending
// with a letter or digit.
func ValidContainerName(name string) bool { return containerNameRE.MatchString(name) }

var skus = map[string]string{
	"standard_lrs": "Standard_LRS", "standard_grs": "Standard_GRS", "standard_ragrs": "Standard_RAGRS",
	"standard_zrs": "Standard_ZRS", "premium_lrs": "Premium_LRS", "premium_zrs": "Premium_ZRS",
	"standard_gzrs": "Standard_GZRS", "standard_ragzrs": "Standard_RAGZRS",
}

var kinds = map[string]string{
	"storage": "Storage", "storagev2": "StorageV2", "blobstorage": "BlobStorage",
	"filestorage": "FileStorage", "blockblobstorage": "BlockBlobStorage",
}

// Register declares the storage types on reg.
func (p *Provider) Register(reg *arm.Registry) {
	if p.pending == nil {
		p.pending = map[string]*Container{}
	}
	reg.Register(&arm.ResourceType{
		Namespace:    Namespace,
		Path:         "storageAccounts",
		APIVersions:  APIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK, // accounts.create accepts 200/202 only
		// The real rule (3–24 lower-case alphanumerics) is checked in
		// validate, which answers Storage's own AccountNameInvalid.
		Name:         arm.NameRule{Min: 1, Max: 260, Pattern: regexp.MustCompile(`^[^/\\?#]+$`), Hint: "3 to 24 lower-case letters and digits"},
		Identity:     arm.IdentityStandard,
		Validate:     p.validateAccount,
		BeforeCommit: p.beforeCommitAccount,
		BeforeDelete: p.beforeDeleteAccount,
		Present:      p.presentAccount,
		Actions: map[string]arm.Action{
			"listKeys":      {Handler: p.listKeys},
			"regenerateKey": {Handler: p.regenerateKey},
		},
	})
	reg.Register(&arm.ResourceType{
		Namespace:   Namespace,
		Path:        "storageAccounts/blobServices",
		APIVersions: APIVersions,
		Name:        arm.NameRule{Min: 7, Max: 7, Pattern: regexp.MustCompile(`^default$`), Hint: "the only blob service is named 'default'"},
		Validate:    p.validateBlobService,
	})
	reg.Register(&arm.ResourceType{
		Namespace:    Namespace,
		Path:         "storageAccounts/blobServices/containers",
		APIVersions:  APIVersions,
		CreateStatus: http.StatusCreated,
		Name: arm.NameRule{Min: 3, Max: 63, Pattern: containerNameRE,
			Hint: "lower-case letters, digits and single hyphens, starting and ending with a letter or digit"},
		Validate:     p.validateContainer,
		BeforeCommit: p.beforeCommitContainer,
		BeforeDelete: p.beforeDeleteContainer,
		AfterCommit:  p.afterCommitContainer,
	})
}

// ---- accounts ----

func badRequest(code, format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, code, format, args...)
}

func (p *Provider) validateAccount(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	name := w.ID.Name()
	if !ValidAccountName(name) {
		return badRequest("AccountNameInvalid",
			"%s is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.", name)
	}
	if err := normalizeAccountSKU(nu, old); err != nil {
		return err
	}
	k, err := normalizeAccountKind(name, nu, old)
	if err != nil {
		return err
	}

	props := nu.Properties
	// Read-only properties come from the old document (or are made now).
	for _, ro := range []string{"provisioningState", "creationTime", "primaryEndpoints", "primaryLocation", "statusOfPrimary",
		"keyCreationTime", "secondaryEndpoints", "secondaryLocation", "statusOfSecondary"} {
		delete(props, ro)
	}
	ap := accountProps{props: props, old: old}
	if err := ap.normalizeSwitches(name); err != nil {
		return err
	}
	if err := ap.normalizeEnums(k); err != nil {
		return err
	}
	if _, ok := props["dnsEndpointType"]; !ok {
		props["dnsEndpointType"] = "Standard"
	}
	if err := ap.normalizeNetworkACLs(); err != nil {
		return err
	}
	now := p.now()
	ap.defaultEncryption(now)
	if _, ok := props["privateEndpointConnections"]; !ok {
		props["privateEndpointConnections"] = []any{}
	}
	p.setAccountReadOnly(w, now)
	return nil
}

// newKey is a 512-bit account key, base64 (88 characters, like Azure's).
func newKey() string {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

type nameIndex struct {
	ID string `json:"id"`
}

func (p *Provider) beforeCommitAccount(ctx context.Context, tx store.Tx, w *arm.Write) error {
	if w.Old != nil {
		return nil
	}
	name := w.ID.Name()
	b, _ := json.Marshal(nameIndex{ID: w.ID.String()})
	if _, err := tx.Create(ctx, store.Record{Kind: KindAccountName, Key: name, Value: b}); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return arm.Errorf(http.StatusConflict, "StorageAccountAlreadyTaken", "The storage account named %s is already taken.", name)
		}
		return err
	}
	// The blob service child exists with its account.
	bs := &arm.Resource{
		ID: w.ID.String() + "/blobServices/default", Name: "default", Type: BlobServicesType,
		Properties: defaultBlobServiceProps(),
	}
	bsID, _ := arm.ParseID(bs.ID)
	return putResource(ctx, tx, bsID, bs)
}

func defaultBlobServiceProps() map[string]any {
	return map[string]any{
		"cors":                           map[string]any{"corsRules": []any{}},
		"deleteRetentionPolicy":          map[string]any{"enabled": false, "allowPermanentDelete": false},
		"containerDeleteRetentionPolicy": map[string]any{"enabled": false},
		"isVersioningEnabled":            false,
	}
}

func (p *Provider) beforeDeleteAccount(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	rec, err := tx.Get(ctx, KindAccountName, strings.ToLower(r.Name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var ix nameIndex
	if json.Unmarshal(rec.Value, &ix) == nil && !strings.EqualFold(ix.ID, r.ID) {
		return nil // another account's entry (cannot happen; be safe)
	}
	return tx.Delete(ctx, KindAccountName, strings.ToLower(r.Name), "")
}

func (p *Provider) presentAccount(ctx context.Context, r *arm.Resource) {
	// The blob endpoint follows the listener amlid runs on now.
	hns, _ := r.Prop("isHnsEnabled").(bool)
	r.SetProp("primaryEndpoints", p.primaryEndpoints(r.Name, hns))
}

// primaryEndpoints are the account's endpoints: blob, and dfs for
// hierarchical-namespace accounts. With a listener (path-style) the DFS
// endpoint is the blob one: the listener tells the APIs apart by request
// shape (the clients derive the blob URL from the DFS one by replacing
// ".dfs." with ".blob.", which leaves an IP URL unchanged).
func (p *Provider) primaryEndpoints(name string, hns bool) map[string]any {
	ep := map[string]any{"blob": p.BlobEndpoint(name)}
	if hns {
		ep["dfs"] = p.DFSEndpoint(name)
	}
	return ep
}

// DFSEndpoint is the account's DFS (ADLS Gen2) endpoint URL.
func (p *Provider) DFSEndpoint(account string) string {
	if strings.TrimRight(p.BlobBaseURL, "/") == "" {
		return "https://" + account + ".dfs.core.windows.net/"
	}
	return p.BlobEndpoint(account)
}

// KeyJSON is one entry of listKeys.
type KeyJSON struct {
	KeyName      string `json:"keyName"`
	Value        string `json:"value"`
	Permissions  string `json:"permissions"`
	CreationTime string `json:"creationTime"`
}

func keysOf(r *arm.Resource) []KeyJSON {
	var out []KeyJSON
	b, _ := json.Marshal(r.Internal["keys"])
	_ = json.Unmarshal(b, &out)
	return out
}

// listKeys answers POST …/listKeys. As in Azure, keys are listed even when
// allowSharedKeyAccess is false; only their use is refused.
func (p *Provider) listKeys(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	return http.StatusOK, map[string]any{"keys": keysOf(r)}, nil
}

func (p *Provider) regenerateKey(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	var req struct {
		KeyName string `json:"keyName"`
	}
	if err := arm.DecodeJSON(body, &req); err != nil {
		return 0, nil, err
	}
	if !arm.EqualFoldAny(req.KeyName, "key1", "key2") {
		return 0, nil, badRequest("InvalidRequestContent", "keyName must be 'key1' or 'key2', not '%s'.", req.KeyName)
	}
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return 0, nil, err
	}
	var out *arm.Resource
	now := p.now().Format(time.RFC3339Nano)
	err = p.Store.Tx(ctx, func(tx store.Tx) error {
		cur, err := getResource(ctx, tx, id)
		if err != nil {
			return err
		}
		keys := keysOf(cur)
		for i := range keys {
			if strings.EqualFold(keys[i].KeyName, req.KeyName) {
				keys[i].Value, keys[i].CreationTime = newKey(), now
			}
		}
		kl := make([]any, len(keys))
		for i, k := range keys {
			kl[i] = map[string]any{"keyName": k.KeyName, "value": k.Value, "permissions": k.Permissions, "creationTime": k.CreationTime}
		}
		cur.Internal["keys"] = kl
		kct, _ := cur.Prop("keyCreationTime").(map[string]any)
		if kct == nil {
			kct = map[string]any{}
		}
		kct[strings.ToLower(req.KeyName)] = now
		cur.SetProp("keyCreationTime", kct)
		out = cur
		return putResource(ctx, tx, id, cur)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"keys": keysOf(out)}, nil
}

// ---- blob services ----

func (p *Provider) validateBlobService(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	for k, v := range defaultBlobServiceProps() {
		if _, ok := props[k]; !ok {
			if w.Old != nil && w.Old.Properties[k] != nil {
				props[k] = w.Old.Properties[k]
			} else {
				props[k] = v
			}
		}
	}
	return nil
}

// ---- record helpers ----

// storedLayout mirrors the ARM store's record layout (arm.DecodeResource
// reads it): the resource plus its internal state.
type storedLayout struct {
	Resource *arm.Resource  `json:"resource"`
	Internal map[string]any `json:"internal,omitempty"`
}

func encodeResource(r *arm.Resource) ([]byte, error) {
	return json.Marshal(storedLayout{Resource: r, Internal: r.Internal})
}

func getResource(ctx context.Context, rd store.Reader, id arm.ID) (*arm.Resource, error) {
	rec, err := rd.Get(ctx, arm.KindResource, id.Key())
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}

func putResource(ctx context.Context, tx store.Tx, id arm.ID, r *arm.Resource) error {
	b, err := encodeResource(r)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: arm.KindResource, Key: id.Key(), Parent: id.ParentKey(), Value: b}, "")
	return err
}

func createResource(ctx context.Context, tx store.Tx, id arm.ID, r *arm.Resource) error {
	b, err := encodeResource(r)
	if err != nil {
		return err
	}
	_, err = tx.Create(ctx, store.Record{Kind: arm.KindResource, Key: id.Key(), Parent: id.ParentKey(), Value: b})
	return err
}

// errorf is fmt.Errorf (kept short for wrapping store errors).
var errorf = fmt.Errorf
