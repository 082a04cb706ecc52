package keyvault

// The access-policy permission model (a vault with enableRbacAuthorization
// false): each entry grants permissions to one object ID (a user, a service
// principal, a managed identity or a group), optionally only when it calls
// through one application (compound identity). "all" stands for every
// permission of its category.

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// SecretPermissions are the secret permissions of an access policy.
var SecretPermissions = catalog.SecretPermissions

var otherPermissions = map[string][]string{
	"keys": {"encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify", "get", "list", "create", "update", "import",
		"delete", "backup", "restore", "recover", "purge", "release", "rotate", "getrotationpolicy", "setrotationpolicy"},
	"certificates": {"get", "list", "delete", "create", "import", "update", "managecontacts", "getissuers", "listissuers",
		"setissuers", "deleteissuers", "manageissuers", "recover", "purge", "backup", "restore"},
	"storage": {"get", "list", "delete", "set", "update", "regeneratekey", "getsas", "listsas", "deletesas", "setsas",
		"recover", "backup", "restore", "purge"},
}

// AccessPolicy is one entry of properties.accessPolicies; the access wing
// owns the model (access.SecretPermissionsOf reads it for the data plane and
// for rule WS-5 alike).
type AccessPolicy = access.AccessPolicy

func samePolicy(p, o AccessPolicy) bool {
	return strings.EqualFold(p.TenantID, o.TenantID) && strings.EqualFold(p.ObjectID, o.ObjectID) &&
		strings.EqualFold(p.ApplicationID, o.ApplicationID)
}

func parsePolicies(raw any) ([]AccessPolicy, error) {
	if raw == nil {
		return []AccessPolicy{}, nil
	}
	b, _ := json.Marshal(raw)
	var in []AccessPolicy
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, badRequest("properties.accessPolicies is invalid: %v. Each entry is {tenantId, objectId, applicationId?, permissions:{secrets:[…],keys:[…],certificates:[…],storage:[…]}}.", err)
	}
	if len(in) > 1024 {
		return nil, badRequest("A vault holds at most 1024 access policies.")
	}
	out := make([]AccessPolicy, 0, len(in))
	for i, p := range in {
		if _, err := uuid.Parse(p.TenantID); err != nil {
			return nil, badRequest("accessPolicies[%d].tenantId '%s' is not a GUID.", i, p.TenantID)
		}
		if _, err := uuid.Parse(p.ObjectID); err != nil {
			return nil, badRequest("accessPolicies[%d].objectId '%s' is not a GUID (the object ID of a user, group, service principal or managed identity).", i, p.ObjectID)
		}
		if p.ApplicationID != "" {
			if _, err := uuid.Parse(p.ApplicationID); err != nil {
				return nil, badRequest("accessPolicies[%d].applicationId '%s' is not a GUID.", i, p.ApplicationID)
			}
		}
		np := AccessPolicy{TenantID: strings.ToLower(p.TenantID), ObjectID: strings.ToLower(p.ObjectID),
			ApplicationID: strings.ToLower(p.ApplicationID), Permissions: map[string][]string{}}
		for cat, perms := range p.Permissions {
			c := strings.ToLower(cat)
			allowed := SecretPermissions
			if c != "secrets" {
				var ok bool
				if allowed, ok = otherPermissions[c]; !ok {
					return nil, badRequest("accessPolicies[%d].permissions.%s is not a permission category; use keys, secrets, certificates or storage.", i, cat)
				}
			}
			list := []string{}
			for _, perm := range perms {
				lp := strings.ToLower(perm)
				if lp != "all" && !slices.Contains(allowed, lp) {
					return nil, badRequest("accessPolicies[%d].permissions.%s: '%s' is not a permission; use %s or all.", i, c, perm, strings.Join(allowed, ", "))
				}
				if !slices.Contains(list, lp) {
					list = append(list, lp)
				}
			}
			np.Permissions[c] = list
		}
		for _, c := range []string{"keys", "secrets", "certificates"} {
			if np.Permissions[c] == nil {
				np.Permissions[c] = []string{}
			}
		}
		out = append(out, np)
	}
	return out, nil
}

func policiesJSON(ps []AccessPolicy) []any {
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		perms := map[string]any{}
		for c, l := range p.Permissions {
			perms[c] = l
		}
		m := map[string]any{"tenantId": p.TenantID, "objectId": p.ObjectID, "permissions": perms}
		if p.ApplicationID != "" {
			m["applicationId"] = p.ApplicationID
		}
		out = append(out, m)
	}
	return out
}

// serveAccessPolicies answers PUT …/vaults/{v}/accessPolicies/{add|replace|remove}
// with body {"properties":{"accessPolicies":[…]}}:
//   - add merges each entry's permissions into the vault's entry for the same
//     tenant, object and application (or appends it);
//   - replace sets that entry's permissions to exactly the given ones;
//   - remove deletes the matching entries.
func (v *Vaults) serveAccessPolicies(w http.ResponseWriter, c *arm.Call, id arm.ID) error {
	if c.R.Method != http.MethodPut && c.R.Method != http.MethodGet {
		return arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Use PUT …/accessPolicies/{add|replace|remove}.")
	}
	op := strings.ToLower(id.Name())
	if op != "add" && op != "replace" && op != "remove" {
		return badRequest("The access-policy operation '%s' is invalid; use add, replace or remove.", id.Name())
	}
	vid := id.Parent()
	if c.R.Method == http.MethodGet {
		r, err := loadVaultResource(c.Ctx(), v.cfg.Store, vid.String())
		if err != nil {
			return vaultNotFound(vid)
		}
		arm.WriteJSON(w, http.StatusOK, policiesResponse(id, r))
		return nil
	}
	body, err := arm.ReadBody(c.R)
	if err != nil {
		return err
	}
	var req struct {
		Properties struct {
			AccessPolicies any `json:"accessPolicies"`
		} `json:"properties"`
	}
	if err := arm.DecodeJSON(body, &req); err != nil {
		return err
	}
	in, err := parsePolicies(req.Properties.AccessPolicies)
	if err != nil {
		return err
	}
	if len(in) == 0 {
		return badRequest("properties.accessPolicies must list at least one entry.")
	}
	var out *arm.Resource
	err = v.cfg.Store.Tx(c.Ctx(), func(tx store.Tx) error {
		r, err := loadVaultResource(c.Ctx(), tx, vid.String())
		if err != nil {
			return vaultNotFound(vid)
		}
		cur, err := parsePolicies(r.Prop("accessPolicies"))
		if err != nil {
			return err
		}
		cur = applyPolicyOp(op, cur, in)
		r.SetProp("accessPolicies", policiesJSON(cur))
		out = r
		return putResource(c.Ctx(), tx, vid, r)
	})
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, policiesResponse(id, out))
	return nil
}

func applyPolicyOp(op string, cur, in []AccessPolicy) []AccessPolicy {
	for _, p := range in {
		i := slices.IndexFunc(cur, func(o AccessPolicy) bool { return samePolicy(p, o) })
		switch {
		case op == "remove":
			if i >= 0 {
				cur = slices.Delete(cur, i, i+1)
			}
		case i < 0:
			cur = append(cur, p)
		case op == "replace":
			cur[i].Permissions = p.Permissions
		default: // add
			for c, perms := range p.Permissions {
				for _, perm := range perms {
					if !slices.Contains(cur[i].Permissions[c], perm) {
						cur[i].Permissions[c] = append(cur[i].Permissions[c], perm)
					}
				}
			}
		}
	}
	return cur
}

func policiesResponse(id arm.ID, r *arm.Resource) map[string]any {
	return map[string]any{"id": id.String(), "name": id.Name(), "type": "Microsoft.KeyVault/vaults/accessPolicies",
		"location": r.Location, "properties": map[string]any{"accessPolicies": r.Prop("accessPolicies")}}
}

func vaultNotFound(id arm.ID) error {
	return arm.Errorf(http.StatusNotFound, "ResourceNotFound",
		"The Resource 'Microsoft.KeyVault/vaults/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
		id.Name(), id.ResourceGroup)
}

// policyFor returns the union of the secret permissions the vault's access
// policies grant the caller (object ID or one of its groups; entries with
// an applicationId only through that application).
func policyFor(vault *Vault, oid, appID string, groups []string) map[string]bool {
	return access.SecretPermissionsOf(vault.Policies, vault.TenantID, oid, appID, groups)
}

var _ = context.Background
