package access

import (
	"encoding/json"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
)

// AccessPolicy is one entry of a key vault's properties.accessPolicies (the
// access-policy permission model, a vault with enableRbacAuthorization
// false): permissions for one object ID (a user, group, service principal or
// managed identity), optionally only through one application (compound
// identity). "all" stands for every permission of its category.
type AccessPolicy struct {
	TenantID      string              `json:"tenantId"`
	ObjectID      string              `json:"objectId"`
	ApplicationID string              `json:"applicationId,omitempty"`
	Permissions   map[string][]string `json:"permissions"`
}

// Grants reports whether the entry grants the secret permission perm.
func (p AccessPolicy) Grants(perm string) bool {
	for _, g := range p.Permissions["secrets"] {
		if strings.EqualFold(g, "all") || strings.EqualFold(g, perm) {
			return true
		}
	}
	return false
}

// PoliciesOf reads a vault resource's accessPolicies leniently (the ARM
// provider validates them on write).
func PoliciesOf(raw any) []AccessPolicy {
	b, _ := json.Marshal(raw)
	var out []AccessPolicy
	_ = json.Unmarshal(b, &out)
	return out
}

// SecretPermissionsOf is what a vault's access policies give a caller: the
// union of the entries of the vault's tenant whose object ID is the caller
// or one of its groups, and whose applicationId (if any) is the caller's
// application. It is the one reading of the model: the Key Vault data plane
// decides requests with it and rule WS-5 checks identities with it.
func SecretPermissionsOf(policies []AccessPolicy, vaultTenant, objectID, appID string, groups []string) map[string]bool {
	got := map[string]bool{}
	for _, p := range policies {
		if !strings.EqualFold(p.TenantID, vaultTenant) {
			continue
		}
		match := strings.EqualFold(p.ObjectID, objectID)
		for _, g := range groups {
			match = match || strings.EqualFold(p.ObjectID, g)
		}
		if !match || (p.ApplicationID != "" && !strings.EqualFold(p.ApplicationID, appID)) {
			continue
		}
		for _, perm := range catalog.SecretPermissions {
			if p.Grants(perm) {
				got[perm] = true
			}
		}
	}
	return got
}
