package keyvault

// Deleted vaults: a vault deleted with soft delete on stays, with its
// secrets, under /subscriptions/{s}/providers/Microsoft.KeyVault/
// locations/{l}/deletedVaults/{n} until it is purged, recovered (PUT the
// vault with properties.createMode "recover") or its retention ends. Its
// name stays taken meanwhile. Purge protection refuses a purge before the
// scheduled purge date.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

type deletedVault struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Location           string            `json:"location"`
	Tags               map[string]string `json:"tags,omitempty"`
	DeletionDate       time.Time         `json:"deletionDate"`
	ScheduledPurgeDate time.Time         `json:"scheduledPurgeDate"`
	PurgeProtection    bool              `json:"purgeProtection"`
	Resource           *arm.Resource     `json:"resource"`
}

func (d *deletedVault) subscription() string {
	id, _ := arm.ParseID(d.ID)
	return id.Subscription
}

func (d *deletedVault) armID() string {
	return "/subscriptions/" + d.subscription() + "/providers/Microsoft.KeyVault/locations/" + d.Location + "/deletedVaults/" + d.Name
}

func (d *deletedVault) json() map[string]any {
	tags := d.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{"id": d.armID(), "name": d.Name, "type": "Microsoft.KeyVault/deletedVaults",
		"properties": map[string]any{"vaultId": d.ID, "location": d.Location, "tags": tags,
			"deletionDate": d.DeletionDate.Format(time.RFC3339), "scheduledPurgeDate": d.ScheduledPurgeDate.Format(time.RFC3339),
			"purgeProtectionEnabled": d.PurgeProtection}}
}

// restoreDeleted brings a deleted vault back for a PUT with createMode
// recover: its properties (policies, settings, its port) return as they
// were; tags and location come from the request when given.
func (v *Vaults) restoreDeleted(ctx context.Context, tx store.Tx, w *arm.Write) error {
	name := strings.ToLower(w.ID.Name())
	rec, err := tx.Get(ctx, KindDeleted, name)
	if err != nil {
		return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "There is no deleted vault named '%s' to recover.", w.ID.Name())
	}
	var d deletedVault
	if err := json.Unmarshal(rec.Value, &d); err != nil {
		return err
	}
	w.New.Properties = d.Resource.Properties
	if len(w.New.Tags) == 0 {
		w.New.Tags = d.Resource.Tags
	}
	return tx.Delete(ctx, KindDeleted, name, "")
}

func (v *Vaults) listDeleted(ctx context.Context, sub string) ([]*deletedVault, error) {
	recs, err := v.cfg.Store.List(ctx, KindDeleted, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*deletedVault
	for _, rec := range recs {
		var d deletedVault
		if json.Unmarshal(rec.Value, &d) != nil || !strings.EqualFold(d.subscription(), sub) {
			continue
		}
		if v.now().After(d.ScheduledPurgeDate) { // retention over: the service purges it
			if err := v.purgeVault(ctx, &d); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, &d)
	}
	return out, nil
}

// serveDeletedVaults answers
//
//	GET  /subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults
//	GET  /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{l}/deletedVaults/{n}
//	POST /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{l}/deletedVaults/{n}/purge
func (v *Vaults) serveDeletedVaults(w http.ResponseWriter, c *arm.Call, sub string, rest []string) error {
	subID := "/subscriptions/" + sub
	if err := checkVaultAPIVersion(c.APIVersion); err != nil {
		return err
	}
	ctx := c.Ctx()
	if len(rest) == 1 && strings.EqualFold(rest[0], "deletedVaults") {
		if c.R.Method != http.MethodGet {
			return arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Use GET to list deleted vaults.")
		}
		if err := c.Authorize("Microsoft.KeyVault/deletedVaults/read", subID); err != nil {
			return err
		}
		ds, err := v.listDeleted(ctx, sub)
		if err != nil {
			return err
		}
		items := []any{}
		for _, d := range ds {
			items = append(items, d.json())
		}
		arm.WriteJSON(w, http.StatusOK, map[string]any{"value": items})
		return nil
	}
	if len(rest) < 4 || !strings.EqualFold(rest[0], "locations") || !strings.EqualFold(rest[2], "deletedVaults") || len(rest) > 5 {
		return arm.Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	name := rest[3]
	d, err := v.deleted(ctx, sub, rest[1], name)
	if err != nil {
		return err
	}
	if len(rest) == 4 {
		if c.R.Method != http.MethodGet {
			return arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Use GET to read a deleted vault, POST …/purge to purge it.")
		}
		if err := c.Authorize("Microsoft.KeyVault/deletedVaults/read", subID); err != nil {
			return err
		}
		arm.WriteJSON(w, http.StatusOK, d.json())
		return nil
	}
	if !strings.EqualFold(rest[4], "purge") || c.R.Method != http.MethodPost {
		return arm.Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	if err := c.Authorize("Microsoft.KeyVault/locations/deletedVaults/purge/action", subID); err != nil {
		return err
	}
	if d.PurgeProtection && v.now().Before(d.ScheduledPurgeDate) {
		return arm.Errorf(http.StatusConflict, "PurgeProtectionEnabled",
			"Vault '%s' has purge protection: it cannot be purged before its scheduled purge date %s. Recover it instead (amlid keyvault recover -n %s).",
			d.Name, d.ScheduledPurgeDate.Format(time.RFC3339), d.Name)
	}
	if err := v.purgeVault(ctx, d); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (v *Vaults) deleted(ctx context.Context, sub, location, name string) (*deletedVault, error) {
	rec, err := v.cfg.Store.Get(ctx, KindDeleted, strings.ToLower(name))
	nf := arm.Errorf(http.StatusNotFound, "ResourceNotFound", "There is no deleted vault named '%s' in location '%s' of subscription '%s'. List them: amlid keyvault list-deleted.", name, location, sub)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nf
	}
	if err != nil {
		return nil, err
	}
	var d deletedVault
	if err := json.Unmarshal(rec.Value, &d); err != nil {
		return nil, err
	}
	if !strings.EqualFold(d.subscription(), sub) || !strings.EqualFold(strings.ReplaceAll(location, " ", ""), d.Location) {
		return nil, nf
	}
	return &d, nil
}

// purgeVault removes a deleted vault, its secrets and its name for good.
func (v *Vaults) purgeVault(ctx context.Context, d *deletedVault) error {
	return v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		name := strings.ToLower(d.Name)
		if err := tx.Delete(ctx, KindDeleted, name, ""); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		if rec, err := tx.Get(ctx, KindName, name); err == nil {
			var ix nameEntry
			if json.Unmarshal(rec.Value, &ix) == nil && ix.Deleted {
				if err := tx.Delete(ctx, KindName, name, ""); err != nil {
					return err
				}
			}
		}
		return deleteVaultSecrets(ctx, tx, d.ID)
	})
}

// serveCheckName answers POST …/providers/Microsoft.KeyVault/checkNameAvailability.
func (v *Vaults) serveCheckName(w http.ResponseWriter, c *arm.Call, sub string, rest []string) error {
	if len(rest) != 1 || c.R.Method != http.MethodPost {
		return arm.Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	if err := checkVaultAPIVersion(c.APIVersion); err != nil {
		return err
	}
	if err := c.Authorize("Microsoft.KeyVault/checkNameAvailability/read", "/subscriptions/"+sub); err != nil {
		return err
	}
	body, err := arm.ReadBody(c.R)
	if err != nil {
		return err
	}
	var req struct{ Name, Type string }
	if err := arm.DecodeJSON(body, &req); err != nil {
		return err
	}
	if err := vaultNameRule.Check(VaultType, req.Name); err != nil {
		arm.WriteJSON(w, http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": arm.AsError(err).Message})
		return nil
	}
	rec, err := v.cfg.Store.Get(c.Ctx(), KindName, strings.ToLower(req.Name))
	if err == nil {
		var ix nameEntry
		_ = json.Unmarshal(rec.Value, &ix)
		msg := "The vault name '" + req.Name + "' is already in use."
		if ix.Deleted {
			msg = "The vault name '" + req.Name + "' belongs to a deleted vault; recover or purge it first."
		}
		arm.WriteJSON(w, http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": msg})
		return nil
	}
	arm.WriteJSON(w, http.StatusOK, map[string]any{"nameAvailable": true})
	return nil
}

// deletedVaultsType only checks api-versions of the deleted-vault routes
// (registering it computes the accepted range).
var deletedVaultsType = func() *arm.ResourceType {
	t := &arm.ResourceType{Namespace: Namespace, Path: "deletedVaults", APIVersions: APIVersions}
	arm.NewRegistry().Register(t)
	return t
}()

func checkVaultAPIVersion(v string) error { return deletedVaultsType.CheckAPIVersion(v) }
