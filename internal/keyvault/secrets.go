package keyvault

// Secrets: every set makes a new version (32 hex digits); the secret's
// record names its current version. Deleting a secret in a vault with soft
// delete keeps it, versions and all, as a deleted secret until it is
// recovered, purged, or its retention ends; its name cannot be reused
// meanwhile. Values are sealed (seal.go) before they reach the store.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/seal"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
)

var secretNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// MaxSecretBytes is Key Vault's limit on a secret value (25 KiB).
const MaxSecretBytes = 25 * 1024

type secretRecord struct {
	Name    string       `json:"name"`
	Current string       `json:"current"`
	Deleted *deletedInfo `json:"deleted,omitempty"`
}

type deletedInfo struct {
	DeletedDate        int64 `json:"deletedDate"`
	ScheduledPurgeDate int64 `json:"scheduledPurgeDate"`
}

type versionRecord struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Value       string            `json:"value"` // sealed
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   *int64            `json:"nbf,omitempty"`
	Expires     *int64            `json:"exp,omitempty"`
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
}

// secretAttrs are the settable attributes of a set or update.
type secretAttrs struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

func secretKey(vaultID, name string) string {
	return arm.Normalize(vaultID) + "/secrets/" + strings.ToLower(name)
}

func sealAD(vaultID, name, version string) string {
	return arm.Normalize(vaultID) + "|" + strings.ToLower(name) + "|" + version
}

func newVersion() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

func checkSecretName(name string) error {
	if !secretNameRE.MatchString(name) {
		return kvErr(http.StatusBadRequest, "BadParameter",
			"The secret name '%s' is invalid: use 1 to 127 letters, digits and hyphens.", name)
	}
	return nil
}

func secretNotFound(name, version string) error {
	what := name
	if version != "" {
		what = name + "/" + version
	}
	return kvErr(http.StatusNotFound, "SecretNotFound",
		"A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command (amlid keyvault secret recover).", what)
}

func deletedNotFound(name string) error {
	return kvErr(http.StatusNotFound, "SecretNotFound", "Deleted Secret not found: no deleted secret named %s in this key vault.", name)
}

func getSecretRec(ctx context.Context, rd store.Reader, vaultID, name string) (*secretRecord, error) {
	rec, err := rd.Get(ctx, KindSecret, secretKey(vaultID, name))
	if err != nil {
		return nil, err
	}
	var s secretRecord
	return &s, json.Unmarshal(rec.Value, &s)
}

func getVersionRec(ctx context.Context, rd store.Reader, vaultID, name, version string) (*versionRecord, error) {
	rec, err := rd.Get(ctx, KindVersion, secretKey(vaultID, name)+"/"+strings.ToLower(version))
	if err != nil {
		return nil, err
	}
	var vr versionRecord
	return &vr, json.Unmarshal(rec.Value, &vr)
}

func putJSON(ctx context.Context, tx store.Tx, kind, key, parent string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: kind, Key: key, Parent: parent, Value: b}, "")
	return err
}

// setSecret stores value as a new version of name.
func (v *Vaults) setSecret(ctx context.Context, vault *Vault, name, value, contentType string, tags map[string]string, a secretAttrs) (*versionRecord, error) {
	if err := checkSecretName(name); err != nil {
		return nil, err
	}
	if len(value) > MaxSecretBytes {
		return nil, kvErr(http.StatusBadRequest, "BadParameter", "The secret value is %d bytes; Key Vault takes at most %d.", len(value), MaxSecretBytes)
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	now := v.now().Unix()
	vr := &versionRecord{Name: name, Version: newVersion(), ContentType: contentType, Tags: tags, Enabled: true,
		NotBefore: a.NotBefore, Expires: a.Expires, Created: now, Updated: now}
	if a.Enabled != nil {
		vr.Enabled = *a.Enabled
	}
	err := v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		s, err := getSecretRec(ctx, tx, vault.ID, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			s = &secretRecord{Name: name}
		case err != nil:
			return err
		case s.Deleted != nil:
			if v.now().Unix() < s.Deleted.ScheduledPurgeDate {
				return kvErr(http.StatusConflict, "Conflict",
					"Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered (amlid keyvault secret recover) or purged (amlid keyvault secret purge).", s.Name)
			}
			if err := purgeSecret(ctx, tx, vault.ID, name); err != nil { // retention over
				return err
			}
			s = &secretRecord{Name: name}
		}
		vr.Name = s.Name
		if vr.Value, err = v.seal.Seal([]byte(value), sealAD(vault.ID, s.Name, vr.Version)); err != nil {
			return err
		}
		key := secretKey(vault.ID, name)
		if err := putJSON(ctx, tx, KindVersion, key+"/"+vr.Version, key, vr); err != nil {
			return err
		}
		s.Current = vr.Version
		return putJSON(ctx, tx, KindSecret, key, arm.Normalize(vault.ID), s)
	})
	if err != nil {
		return nil, err
	}
	return vr, nil
}

// getSecret reads a version (the current one for version "") of a live
// secret.
func (v *Vaults) getSecret(ctx context.Context, vault *Vault, name, version string) (*secretRecord, *versionRecord, error) {
	if err := checkSecretName(name); err != nil {
		return nil, nil, err
	}
	s, err := getSecretRec(ctx, v.cfg.Store, vault.ID, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted != nil) {
		return nil, nil, secretNotFound(name, version)
	}
	if err != nil {
		return nil, nil, err
	}
	ver := version
	if ver == "" {
		ver = s.Current
	}
	vr, err := getVersionRec(ctx, v.cfg.Store, vault.ID, name, ver)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, secretNotFound(name, version)
	}
	return s, vr, err
}

// value opens a version's sealed value.
func (v *Vaults) value(vault *Vault, vr *versionRecord) (string, error) {
	b, err := v.seal.Open(vr.Value, sealAD(vault.ID, vr.Name, vr.Version))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

type secretItem struct {
	s  *secretRecord
	vr *versionRecord
}

// listSecrets reads one page (after cursor, at most size) of live secrets
// (deleted = false) or deleted ones, with their current version, in name
// order, and returns the cursor of the next page ("" at the end).
func (v *Vaults) listSecrets(ctx context.Context, vault *Vault, deleted bool, cursor string, size int) ([]secretItem, string, error) {
	keep := func(rec store.Record) bool {
		var s secretRecord
		return json.Unmarshal(rec.Value, &s) == nil && (s.Deleted != nil) == deleted
	}
	p, err := store.ListPage(ctx, v.cfg.Store, KindSecret, store.PageOptions{Parent: arm.Normalize(vault.ID), After: cursor, Limit: size, Keep: keep})
	if err != nil {
		return nil, "", err
	}
	var out []secretItem
	for _, rec := range p.Records {
		var s secretRecord
		if json.Unmarshal(rec.Value, &s) != nil {
			continue
		}
		if deleted && v.now().Unix() >= s.Deleted.ScheduledPurgeDate {
			_ = v.cfg.Store.Tx(ctx, func(tx store.Tx) error { return purgeSecret(ctx, tx, vault.ID, s.Name) })
			continue
		}
		vr, err := getVersionRec(ctx, v.cfg.Store, vault.ID, s.Name, s.Current)
		if err != nil {
			continue
		}
		out = append(out, secretItem{&s, vr})
	}
	return out, p.Next, nil
}

func (v *Vaults) listVersions(ctx context.Context, vault *Vault, name string) ([]*versionRecord, error) {
	if _, _, err := v.getSecret(ctx, vault, name, ""); err != nil {
		return nil, err
	}
	recs, err := v.cfg.Store.List(ctx, KindVersion, store.ListOptions{Parent: secretKey(vault.ID, name)})
	if err != nil {
		return nil, err
	}
	var out []*versionRecord
	for _, rec := range recs {
		var vr versionRecord
		if json.Unmarshal(rec.Value, &vr) == nil {
			out = append(out, &vr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out, nil
}

// updateSecret changes a version's attributes, content type or tags (not
// its value).
func (v *Vaults) updateSecret(ctx context.Context, vault *Vault, name, version string, contentType *string, tags map[string]string, a *secretAttrs) (*versionRecord, error) {
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	var out *versionRecord
	err := v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		s, err := getSecretRec(ctx, tx, vault.ID, name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted != nil) {
			return secretNotFound(name, version)
		}
		if err != nil {
			return err
		}
		ver := version
		if ver == "" {
			ver = s.Current
		}
		vr, err := getVersionRec(ctx, tx, vault.ID, name, ver)
		if errors.Is(err, store.ErrNotFound) {
			return secretNotFound(name, version)
		}
		if err != nil {
			return err
		}
		if contentType != nil {
			vr.ContentType = *contentType
		}
		if tags != nil {
			vr.Tags = tags
		}
		if a != nil {
			if a.Enabled != nil {
				vr.Enabled = *a.Enabled
			}
			if a.NotBefore != nil {
				vr.NotBefore = a.NotBefore
			}
			if a.Expires != nil {
				vr.Expires = a.Expires
			}
		}
		vr.Updated = v.now().Unix()
		out = vr
		key := secretKey(vault.ID, name)
		return putJSON(ctx, tx, KindVersion, key+"/"+vr.Version, key, vr)
	})
	return out, err
}

// deleteSecret soft-deletes (or, in a vault without soft delete, purges) a
// secret and returns it as it was.
func (v *Vaults) deleteSecret(ctx context.Context, vault *Vault, name string) (*secretRecord, *versionRecord, error) {
	var s *secretRecord
	var vr *versionRecord
	err := v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		s, err = getSecretRec(ctx, tx, vault.ID, name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted != nil) {
			return secretNotFound(name, "")
		}
		if err != nil {
			return err
		}
		if vr, err = getVersionRec(ctx, tx, vault.ID, name, s.Current); err != nil {
			return err
		}
		if !vault.SoftDelete {
			return purgeSecret(ctx, tx, vault.ID, name)
		}
		now := v.now()
		s.Deleted = &deletedInfo{DeletedDate: now.Unix(), ScheduledPurgeDate: now.AddDate(0, 0, vault.RetentionDays).Unix()}
		return putJSON(ctx, tx, KindSecret, secretKey(vault.ID, name), arm.Normalize(vault.ID), s)
	})
	if err != nil {
		return nil, nil, err
	}
	return s, vr, nil
}

func (v *Vaults) getDeleted(ctx context.Context, vault *Vault, name string) (*secretRecord, *versionRecord, error) {
	if err := checkSecretName(name); err != nil {
		return nil, nil, err
	}
	s, err := getSecretRec(ctx, v.cfg.Store, vault.ID, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted == nil) {
		return nil, nil, deletedNotFound(name)
	}
	if err != nil {
		return nil, nil, err
	}
	vr, err := getVersionRec(ctx, v.cfg.Store, vault.ID, name, s.Current)
	if err != nil {
		return nil, nil, deletedNotFound(name)
	}
	return s, vr, nil
}

// recoverSecret brings a deleted secret back with all its versions.
func (v *Vaults) recoverSecret(ctx context.Context, vault *Vault, name string) (*versionRecord, error) {
	var vr *versionRecord
	err := v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		s, err := getSecretRec(ctx, tx, vault.ID, name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted == nil) {
			return deletedNotFound(name)
		}
		if err != nil {
			return err
		}
		s.Deleted = nil
		if vr, err = getVersionRec(ctx, tx, vault.ID, name, s.Current); err != nil {
			return err
		}
		return putJSON(ctx, tx, KindSecret, secretKey(vault.ID, name), arm.Normalize(vault.ID), s)
	})
	return vr, err
}

// purgeDeleted removes a deleted secret for good; purge protection refuses.
func (v *Vaults) purgeDeleted(ctx context.Context, vault *Vault, name string) error {
	if vault.PurgeProtection {
		return kvErrInner(http.StatusForbidden, "Forbidden", "PurgeProtectionEnabled",
			"Operation \"purge\" is not allowed: vault %s has purge protection (enablePurgeProtection), so deleted secrets are only purged when their retention ends (recoveryLevel Recoverable). Recover the secret instead.", vault.Name)
	}
	return v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		s, err := getSecretRec(ctx, tx, vault.ID, name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.Deleted == nil) {
			return deletedNotFound(name)
		}
		if err != nil {
			return err
		}
		return purgeSecret(ctx, tx, vault.ID, name)
	})
}

// purgeSecret deletes a secret's record and versions inside tx.
func purgeSecret(ctx context.Context, tx store.Tx, vaultID, name string) error {
	key := secretKey(vaultID, name)
	recs, err := tx.List(ctx, KindVersion, store.ListOptions{Parent: key})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := tx.Delete(ctx, KindVersion, r.Key, ""); err != nil {
			return err
		}
	}
	if err := tx.Delete(ctx, KindSecret, key, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// deleteVaultSecrets removes every secret of a vault inside tx (a vault
// purged, or deleted without soft delete).
func deleteVaultSecrets(ctx context.Context, tx store.Tx, vaultID string) error {
	recs, err := tx.List(ctx, KindSecret, store.ListOptions{Parent: arm.Normalize(vaultID)})
	if err != nil {
		return err
	}
	for _, r := range recs {
		var s secretRecord
		if json.Unmarshal(r.Value, &s) == nil {
			if err := purgeSecret(ctx, tx, vaultID, s.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 15 {
		return kvErr(http.StatusBadRequest, "BadParameter", "A secret carries at most 15 tags, not %d.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 || len(v) > 256 {
			return kvErr(http.StatusBadRequest, "BadParameter", "Tag names are at most 512 characters and values 256.")
		}
	}
	return nil
}

// ---- backup and restore ----

type backupBlob struct {
	Name     string           `json:"name"`
	Current  string           `json:"current"`
	Versions []backupVersion  `json:"versions"`
	Created  int64            `json:"created"`
	Meta     map[string]int64 `json:"meta,omitempty"`
}

type backupVersion struct {
	versionRecord
	Plain string `json:"plain"`
}

const backupAD = "amlid keyvault backup"

// backupSecret seals every version of a secret into one opaque blob that
// only this amlid's key opens (Azure's backups are likewise only
// restorable within the same subscription and geography).
func (v *Vaults) backupSecret(ctx context.Context, vault *Vault, name string) (string, error) {
	s, _, err := v.getSecret(ctx, vault, name, "")
	if err != nil {
		return "", err
	}
	vrs, err := v.listVersions(ctx, vault, name)
	if err != nil {
		return "", err
	}
	b := backupBlob{Name: s.Name, Current: s.Current, Created: v.now().Unix()}
	for _, vr := range vrs {
		plain, err := v.value(vault, vr)
		if err != nil {
			return "", err
		}
		b.Versions = append(b.Versions, backupVersion{versionRecord: *vr, Plain: plain})
	}
	raw, _ := json.Marshal(b)
	sealed, err := v.seal.Seal(raw, backupAD)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(sealed, seal.Prefix), nil
}

// restoreSecret restores a backup as a new secret (the name must be free).
func (v *Vaults) restoreSecret(ctx context.Context, vault *Vault, blob string) (*versionRecord, error) {
	raw, err := v.seal.Open(seal.Prefix+blob, backupAD)
	if err != nil {
		return nil, kvErr(http.StatusBadRequest, "BadParameter", "The backup blob is not a secret backup this amlid made (it does not open with this amlid's key).")
	}
	var b backupBlob
	if err := json.Unmarshal(raw, &b); err != nil || len(b.Versions) == 0 {
		return nil, kvErr(http.StatusBadRequest, "BadParameter", "The backup blob is corrupt.")
	}
	var cur *versionRecord
	err = v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		key := secretKey(vault.ID, b.Name)
		if _, err := tx.Get(ctx, KindSecret, key); err == nil {
			return kvErr(http.StatusConflict, "Conflict", "Secret %s already exists in vault %s (live or deleted); delete and purge it, or restore into another vault.", b.Name, vault.Name)
		}
		for _, bv := range b.Versions {
			vr := bv.versionRecord
			if vr.Value, err = v.seal.Seal([]byte(bv.Plain), sealAD(vault.ID, b.Name, vr.Version)); err != nil {
				return err
			}
			if err := putJSON(ctx, tx, KindVersion, key+"/"+vr.Version, key, vr); err != nil {
				return err
			}
			if vr.Version == b.Current {
				cur = &vr
			}
		}
		return putJSON(ctx, tx, KindSecret, key, arm.Normalize(vault.ID), secretRecord{Name: b.Name, Current: b.Current})
	})
	return cur, err
}

// ---- the in-process Go API (rule DS-2: the ML workspace keeps datastore
// credentials in its key vault) ----

// ErrVaultNotFound / ErrSecretNotFound are the Go API's not-found errors.
var (
	ErrVaultNotFound  = errors.New("keyvault: vault not found")
	ErrSecretNotFound = errors.New("keyvault: secret not found")
)

func (v *Vaults) vaultByID(ctx context.Context, vaultID string) (*Vault, error) {
	r, err := loadVaultResource(ctx, v.cfg.Store, vaultID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrVaultNotFound
	}
	if err != nil {
		return nil, err
	}
	return VaultFromResource(r)
}

// SetSecret stores value as a new version of secret name in vault vaultID,
// as amlid itself (no token, no permission check). It must not be called
// inside a store transaction.
func (v *Vaults) SetSecret(ctx context.Context, vaultID, name, value string) error {
	vault, err := v.vaultByID(ctx, vaultID)
	if err != nil {
		return err
	}
	_, err = v.setSecret(ctx, vault, name, value, "", nil, secretAttrs{})
	return err
}

// GetSecret returns the current value of secret name in vault vaultID
// (ErrSecretNotFound when absent or deleted).
func (v *Vaults) GetSecret(ctx context.Context, vaultID, name string) (string, error) {
	vault, err := v.vaultByID(ctx, vaultID)
	if err != nil {
		return "", err
	}
	_, vr, err := v.getSecret(ctx, vault, name, "")
	if err != nil {
		var ke *Error
		if errors.As(err, &ke) && ke.Status == http.StatusNotFound {
			return "", ErrSecretNotFound
		}
		return "", err
	}
	return v.value(vault, vr)
}

// DeleteSecret deletes secret name (soft delete when the vault has it).
// A missing secret is not an error.
func (v *Vaults) DeleteSecret(ctx context.Context, vaultID, name string) error {
	vault, err := v.vaultByID(ctx, vaultID)
	if err != nil {
		return err
	}
	_, _, err = v.deleteSecret(ctx, vault, name)
	var ke *Error
	if errors.As(err, &ke) && ke.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// Principal is the identity an in-process caller acts as (a workspace's
// managed identity keeping datastore credentials, rule DS-2).
type Principal struct {
	ObjectID, AppID, TenantID string
	// MIResourceID is the resource whose managed identity this is.
	MIResourceID string
}

func (pr Principal) claims() *token.Claims {
	return &token.Claims{ObjectID: pr.ObjectID, AppID: pr.AppID, TenantID: pr.TenantID, IDType: "app", MIResourceID: pr.MIResourceID, Issuer: "amlid (in-process)"}
}

// SetSecretAs stores value as a new version of secret name in vault vaultID
// as principal: the data plane's decision applies (RBAC data action
// setSecret, or the "set" access-policy permission, by the vault's model).
// A refusal is the data plane's *Error (403 ForbiddenByRbac/ForbiddenByPolicy
// naming the fix). It must not be called inside a store transaction.
func (v *Vaults) SetSecretAs(ctx context.Context, vaultID string, pr Principal, name, value string) error {
	vault, err := v.vaultByID(ctx, vaultID)
	if err != nil {
		return err
	}
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(ctx, vault, pr.claims(), opSet, name); err != nil {
		return err
	}
	_, err = v.setSecret(ctx, vault, name, value, "", nil, secretAttrs{})
	return err
}

// GetSecretAs reads the current value of secret name as principal, under
// the vault's permission model (getSecret / "get").
func (v *Vaults) GetSecretAs(ctx context.Context, vaultID string, pr Principal, name string) (string, error) {
	vault, err := v.vaultByID(ctx, vaultID)
	if err != nil {
		return "", err
	}
	if err := v.authorize(ctx, vault, pr.claims(), opGet, name); err != nil {
		return "", err
	}
	return v.GetSecret(ctx, vaultID, name)
}

var _ = time.Now
