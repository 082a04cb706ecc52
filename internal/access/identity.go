package access

import (
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/arm"
)

// Identity kinds.
const (
	SystemAssigned = "SystemAssigned"
	UserAssigned   = "UserAssigned"
)

// Identity is one managed identity a resource holds.
type Identity struct {
	Kind        string `json:"kind"`                 // SystemAssigned | UserAssigned
	ResourceID  string `json:"resourceId,omitempty"` // the UAI's resource ID ("" for a SAI)
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
	// Of is the resource that holds the identity.
	Of string `json:"of"`
}

// Label describes the identity for messages: "system-assigned identity of
// <resource>" or "user-assigned identity <id>".
func (i Identity) Label() string {
	if i.Kind == SystemAssigned {
		return "system-assigned identity of " + i.Of
	}
	return "user-assigned identity " + i.ResourceID
}

// Identities lists the managed identities res holds in the canonical order:
// the system-assigned one first, then the user-assigned ones by lower-cased
// resource ID (ARM IDs are case-insensitive, so the order must not depend on
// how a caller spelled them). Entries without a principal are skipped.
func Identities(res *arm.Resource) []Identity {
	if res == nil || res.Identity == nil {
		return nil
	}
	var out []Identity
	tenant := res.Identity.TenantID
	if pid := res.SystemPrincipalID(); pid != "" {
		out = append(out, Identity{Kind: SystemAssigned, PrincipalID: pid, TenantID: tenant, Of: res.ID})
	}
	keys := make([]string, 0, len(res.Identity.UserAssignedIdentities))
	for k := range res.Identity.UserAssignedIdentities {
		keys = append(keys, k)
	}
	SortIDs(keys)
	for _, k := range keys {
		u := res.Identity.UserAssignedIdentities[k]
		if u == nil || u.PrincipalID == "" {
			continue
		}
		out = append(out, Identity{Kind: UserAssigned, ResourceID: k, PrincipalID: u.PrincipalID, ClientID: u.ClientID, TenantID: tenant, Of: res.ID})
	}
	return out
}

// SortIDs sorts resource IDs in the canonical (lower-cased) order.
func SortIDs(ids []string) {
	sort.SliceStable(ids, func(i, j int) bool {
		a, b := strings.ToLower(ids[i]), strings.ToLower(ids[j])
		if a != b {
			return a < b
		}
		return ids[i] < ids[j]
	})
}

// Acting is the identity res acts as when nothing names another: its
// system-assigned identity, else its first user-assigned identity in the
// canonical order (rules EP-3, CMP-2; MSI_ENDPOINT's default token and
// DEFAULT_IDENTITY_CLIENT_ID).
func Acting(res *arm.Resource) (Identity, bool) {
	ids := Identities(res)
	if len(ids) == 0 {
		return Identity{}, false
	}
	return ids[0], true
}

// DefaultClientID is DEFAULT_IDENTITY_CLIENT_ID for a resource (rule CMP-3):
// the acting identity's client ID when it is user-assigned, "" otherwise.
func DefaultClientID(res *arm.Resource) string {
	if id, ok := Acting(res); ok && id.Kind == UserAssigned {
		return id.ClientID
	}
	return ""
}
