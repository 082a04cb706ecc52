package ml

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

func (p *Provider) registerWorkspace(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    Namespace,
		Path:         "workspaces",
		APIVersions:  MLAPIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK, // workspaces.createOrUpdate: 200/202 (arm-and-rbac.md §4)
		Name: arm.NameRule{Min: 3, Max: 33, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`),
			Hint: "letters, digits, hyphens and underscores, starting with a letter or digit"},
		Identity:     arm.IdentityStandard,
		Prepare:      p.prepareWorkspace,
		Validate:     p.validateWorkspace,
		BeforeCommit: p.beforeCommitWorkspace,
		AfterCommit:  p.afterCommitWorkspace,
		Present:      p.presentWorkspace,
		Actions: map[string]arm.Action{
			"listKeys":               {Handler: p.listKeys},
			"resyncKeys":             {Handler: p.resyncKeys},
			"listStorageAccountKeys": {Handler: p.listStorageAccountKeys},
		},
	})
}

// linked names the properties that hold associated resources and their types.
var linked = []struct{ prop, typ, what string }{
	{"storageAccount", "Microsoft.Storage/storageAccounts", "storage account"},
	{"keyVault", "Microsoft.KeyVault/vaults", "key vault"},
	{"applicationInsights", InsightsType, "application insights"},
	{"containerRegistry", "Microsoft.ContainerRegistry/registries", "container registry"},
}

// identityTypeOf returns the normalised identity type in a request body
// ("" when the body has none).
func identityTypeOf(body map[string]any) string {
	idm, _ := body["identity"].(map[string]any)
	if idm == nil {
		return ""
	}
	t, _ := idm["type"].(string)
	return arm.NormalizeIdentityType(t)
}

// prepareWorkspace runs before the write transaction. On create it applies
// rule WS-1 (a system-assigned identity unless the request names another)
// and creates the associated resources the request does not bring: a
// storage account, a key vault (RBAC model) and application insights, as
// the caller, in the workspace's resource group and location. The container
// registry is not created here: it comes on first need (rule WS-7).
// A workspace with only user-assigned identities must bring its storage
// account and key vault (rule WS-5).
func (p *Provider) prepareWorkspace(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	if old != nil {
		return nil
	}
	if body["identity"] == nil {
		body["identity"] = map[string]any{"type": arm.IdentityTypeSystem} // rule WS-1
	}
	typ := identityTypeOf(body)
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		body["properties"] = props
	}
	location, _ := body["location"].(string)
	if location == "" {
		return nil // the front door answers LocationRequired
	}
	if typ == arm.IdentityTypeUser {
		var missing []string
		for _, l := range linked[:2] {
			if s, _ := props[l.prop].(string); s == "" {
				missing = append(missing, "properties."+l.prop+" ("+l.what+")")
			}
		}
		if len(missing) > 0 {
			return arm.Errorf(http.StatusBadRequest, "UserAssignedIdentityRequiresAssociatedResources",
				"Rule WS-5: a workspace whose identity is user-assigned only must bring its associated resources, and its primary user-assigned identity needs roles on them. Missing: %s. Create them first (amlid storage account create, amlid keyvault create) and pass their resource IDs (YAML storage_account, key_vault; CLI --storage-account, --key-vault, v1's --keyvault).",
				strings.Join(missing, ", "))
		}
		return nil
	}
	if typ == arm.IdentityTypeNone {
		return arm.Errorf(http.StatusBadRequest, "InvalidIdentityType",
			"Rule WS-1: a workspace needs a managed identity: SystemAssigned (the default), UserAssigned or 'SystemAssigned,UserAssigned'.")
	}
	caller := c.CallerOrSystem()
	base := dependentName(id)
	rg := id.ResourceGroupID()
	tenant := c.TenantID()
	if s, _ := props["storageAccount"].(string); s == "" {
		sid := rg + "/providers/Microsoft.Storage/storageAccounts/" + base
		if _, _, err := p.ARM.Do(ctx, caller, http.MethodPut, sid+"?api-version="+apiStorage, map[string]any{
			"location": location, "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"},
			"properties": map[string]any{"allowBlobPublicAccess": false, "minimumTlsVersion": "TLS1_2"},
			"tags":       map[string]any{"createdBy": "amlid workspace " + id.Name()},
		}); err != nil {
			return dependentError("storage account", sid, err)
		}
		props["storageAccount"] = sid
	}
	if s, _ := props["keyVault"].(string); s == "" {
		vid := rg + "/providers/Microsoft.KeyVault/vaults/" + vaultName(base)
		if _, _, err := p.ARM.Do(ctx, caller, http.MethodPut, vid+"?api-version="+apiVault, map[string]any{
			"location": location,
			"properties": map[string]any{"tenantId": tenant, "sku": map[string]any{"family": "A", "name": "standard"},
				"enableRbacAuthorization": true, "accessPolicies": []any{}, "enableSoftDelete": true, "softDeleteRetentionInDays": 90},
			"tags": map[string]any{"createdBy": "amlid workspace " + id.Name()},
		}); err != nil {
			return dependentError("key vault", vid, err)
		}
		props["keyVault"] = vid
	}
	if s, _ := props["applicationInsights"].(string); s == "" {
		aid := rg + "/providers/" + InsightsType + "/" + base
		if _, _, err := p.ARM.Do(ctx, caller, http.MethodPut, aid+"?api-version="+apiInsights, map[string]any{
			"location": location, "kind": "web", "properties": map[string]any{"Application_Type": "web"},
		}); err != nil {
			return dependentError("application insights", aid, err)
		}
		props["applicationInsights"] = aid
	}
	return nil
}

func dependentError(what, id string, err error) error {
	e := arm.AsError(err)
	return arm.Errorf(e.Status, e.Code, "Creating the workspace's %s %s failed: %s", what, id, e.Message)
}

// dependentName derives the names of a workspace's associated resources:
// its name in lower-case letters and digits plus a hash of its ID, so a
// retried create finds the same resources.
func dependentName(id arm.ID) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	base := b.String()
	if len(base) > 12 {
		base = base[:12]
	}
	sum := sha256.Sum256([]byte(id.Key()))
	return base + hex.EncodeToString(sum[:])[:10]
}

// vaultName: key vault names start with a letter.
func vaultName(base string) string {
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		return "kv" + base
	}
	return base
}

// readOnlyWorkspaceProps are computed by amlid and kept across writes.
var readOnlyWorkspaceProps = []string{"workspaceId", "tenantId", "mlFlowTrackingUri", "discoveryUrl", "creationTime"}

func (p *Provider) validateWorkspace(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	props := nu.Properties
	for _, k := range readOnlyWorkspaceProps {
		delete(props, k)
		if old != nil && old.Prop(k) != nil {
			props[k] = old.Prop(k)
		}
	}
	if old == nil {
		props["workspaceId"] = uuid.NewString()
		props["tenantId"] = w.TenantID
		if nu.Identity == nil {
			nu.Identity = &arm.Identity{Type: arm.IdentityTypeSystem} // rule WS-1
		}
		if props["notebookKeys"] == nil {
			nu.Internal = map[string]any{"notebookKeys": []string{RandomKey(), RandomKey()}}
		}
	}
	if s, _ := props["friendlyName"].(string); s == "" {
		props["friendlyName"] = nu.Name
	}
	if props["publicNetworkAccess"] == nil {
		props["publicNetworkAccess"] = "Enabled"
	}
	if v, ok := props["systemDatastoresAuthMode"]; ok && v != nil {
		s, _ := v.(string)
		if !arm.EqualFoldAny(s, "AccessKey", "Identity", "UserDelegationSAS") {
			return arm.Errorf(http.StatusBadRequest, "InvalidRequestContent", "properties.systemDatastoresAuthMode must be AccessKey, Identity or UserDelegationSAS, not '%v'.", v)
		}
	}
	// Associated resources: IDs of the right type that exist. The storage
	// account and key vault are fixed at creation.
	for _, l := range linked {
		v, _ := props[l.prop].(string)
		if old != nil && (l.prop == "storageAccount" || l.prop == "keyVault") {
			prev := old.StringProp(l.prop)
			if v == "" {
				props[l.prop] = prev
				continue
			}
			if !strings.EqualFold(v, prev) {
				return arm.Errorf(http.StatusBadRequest, "CannotChangeAssociatedResource",
					"The workspace's %s cannot change after creation (it is %s).", l.what, prev)
			}
		}
		if v == "" {
			delete(props, l.prop)
			continue
		}
		rid, err := arm.ParseID(v)
		if err != nil || !strings.EqualFold(rid.TypeName(), l.typ) || len(rid.Names) != 1 {
			return arm.Errorf(http.StatusBadRequest, "InvalidAssociatedResource", "properties.%s must be the resource ID of a %s (%s), not '%s'.", l.prop, l.what, l.typ, v)
		}
		if old != nil && strings.EqualFold(old.StringProp(l.prop), v) {
			props[l.prop] = old.StringProp(l.prop)
			continue
		}
		if _, err := LoadResource(ctx, p.Store, v); err != nil {
			return arm.Errorf(http.StatusBadRequest, "AssociatedResourceNotFound", "The %s '%s' (properties.%s) does not exist.", l.what, v, l.prop)
		}
		props[l.prop] = rid.String()
	}
	return p.validateIdentity(w)
}

// validateIdentity enforces rules WS-2, WS-3, WS-4 and WS-6 on the identity
// block (the front door then creates or removes the system-assigned
// principal and checks RBAC-3 on each newly attached UAI).
func (p *Provider) validateIdentity(w *arm.Write) error {
	nu, old := w.New, w.Old
	if nu.Identity == nil && old != nil {
		nu.Identity = old.Identity
	}
	if nu.Identity == nil {
		return nil
	}
	typ := arm.NormalizeIdentityType(nu.Identity.Type)
	// Rule WS-4: an update's userAssignedIdentities is the whole new set,
	// not a merge: omitted identities are removed.
	if w.IsPatch {
		if idm, ok := w.Body["identity"].(map[string]any); ok {
			if uais, ok := idm["userAssignedIdentities"].(map[string]any); ok {
				set := map[string]*arm.UserAssignedIdentity{}
				for k, v := range uais {
					if v != nil {
						set[k] = &arm.UserAssignedIdentity{}
					}
				}
				nu.Identity.UserAssignedIdentities = set
			}
		}
	}
	if old != nil && old.Identity != nil {
		oldType := arm.NormalizeIdentityType(old.Identity.Type)
		// Rule WS-3: SAI may become SAI+UAI; a workspace never loses its
		// system-assigned identity (SAI+UAI cannot go back to SAI alone,
		// and SAI cannot become UAI only).
		if arm.HasSystem(oldType) && !arm.HasSystem(typ) {
			return arm.Errorf(http.StatusBadRequest, "InvalidIdentityTransition",
				"Rule WS-3: the workspace's identity is '%s'; it cannot change to '%s'. A workspace keeps its system-assigned identity: use 'SystemAssigned,UserAssigned' to add user-assigned identities.", old.Identity.Type, nu.Identity.Type)
		}
		if oldType == arm.IdentityTypeSystemUser && typ == arm.IdentityTypeSystem {
			return arm.Errorf(http.StatusBadRequest, "InvalidIdentityTransition",
				"Rule WS-3: a workspace with 'SystemAssigned,UserAssigned' cannot go back to 'SystemAssigned'. Keep at least one user-assigned identity.")
		}
	}
	props := nu.Properties
	primary, _ := props["primaryUserAssignedIdentity"].(string)
	if primary == "" && old != nil && props["primaryUserAssignedIdentity"] == nil {
		if _, given := propsOfBody(w.Body)["primaryUserAssignedIdentity"]; !given {
			primary = old.StringProp("primaryUserAssignedIdentity")
		}
	}
	has := func(id string) (string, bool) {
		for k := range nu.Identity.UserAssignedIdentities {
			if strings.EqualFold(k, id) {
				return k, true
			}
		}
		return "", false
	}
	// Rule WS-4: the primary cannot be removed while it is primary.
	if old != nil && primary != "" && strings.EqualFold(primary, old.StringProp("primaryUserAssignedIdentity")) && arm.HasUser(typ) {
		if _, ok := has(primary); !ok {
			return arm.Errorf(http.StatusBadRequest, "PrimaryIdentityRemoved",
				"Rule WS-4: the update's user_assigned_identities omits '%s', which is the workspace's primary user-assigned identity. Keep it in the set, or name another primary_user_assigned_identity from the set in the same update.", primary)
		}
	}
	// Rule WS-2: the primary is one of the attached UAIs, and a workspace
	// with only user-assigned identities must name it.
	switch {
	case primary != "" && !arm.HasUser(typ):
		return arm.Errorf(http.StatusBadRequest, "InvalidPrimaryIdentity",
			"Rule WS-2: primaryUserAssignedIdentity '%s' is set but the workspace's identity type '%s' has no user-assigned identities.", primary, nu.Identity.Type)
	case primary != "":
		k, ok := has(primary)
		if !ok {
			return arm.Errorf(http.StatusBadRequest, "InvalidPrimaryIdentity",
				"Rule WS-2: primaryUserAssignedIdentity '%s' must be one of the workspace's user-assigned identities (%s).", primary, strings.Join(uaiKeys(nu.Identity), ", "))
		}
		props["primaryUserAssignedIdentity"] = k
	case typ == arm.IdentityTypeUser:
		return arm.Errorf(http.StatusBadRequest, "PrimaryIdentityRequired",
			"Rule WS-2: a workspace whose identity is user-assigned only needs primaryUserAssignedIdentity (YAML primary_user_assigned_identity), one of: %s.", strings.Join(uaiKeys(nu.Identity), ", "))
	default:
		delete(props, "primaryUserAssignedIdentity")
	}
	// Rule WS-6: the CMK identity may differ from the primary but must be
	// one of the workspace's user-assigned identities.
	if enc, ok := props["encryption"].(map[string]any); ok {
		if eid, ok := enc["identity"].(map[string]any); ok {
			if u, _ := eid["userAssignedIdentity"].(string); u != "" {
				k, ok := has(u)
				if !ok {
					return arm.Errorf(http.StatusBadRequest, "InvalidEncryptionIdentity",
						"Rule WS-6: encryption.identity.userAssignedIdentity '%s' (user_assigned_identity_for_cmk_encryption) must be attached to the workspace: add it to identity.userAssignedIdentities. It may differ from the primary user-assigned identity.", u)
				}
				eid["userAssignedIdentity"] = k
			}
		}
	}
	return nil
}

func propsOfBody(body map[string]any) map[string]any {
	m, _ := body["properties"].(map[string]any)
	return m
}

func uaiKeys(id *arm.Identity) []string {
	var out []string
	for k := range id.UserAssignedIdentities {
		out = append(out, k)
	}
	if len(out) == 0 {
		return []string{"none attached"}
	}
	return out
}

// beforeCommitWorkspace checks rule WS-5 for a user-assigned workspace and
// gives a system-assigned identity the roles Azure gives it on the
// associated resources.
func (p *Provider) beforeCommitWorkspace(ctx context.Context, tx store.Tx, w *arm.Write) error {
	nu, old := w.New, w.Old
	typ := arm.NormalizeIdentityType(nu.Identity.Type)
	changed := func(prop string) bool {
		return old == nil || !strings.EqualFold(old.StringProp(prop), nu.StringProp(prop))
	}
	if typ == arm.IdentityTypeUser {
		if changed("primaryUserAssignedIdentity") || changed("storageAccount") || changed("keyVault") || changed("containerRegistry") || changed("applicationInsights") {
			if err := p.checkWS5(ctx, tx, w); err != nil {
				return err
			}
		}
	}
	if pid := nu.SystemPrincipalID(); pid != "" {
		newSAI := old == nil || old.SystemPrincipalID() != pid
		for _, l := range linked {
			rid := nu.StringProp(l.prop)
			if rid == "" || (!newSAI && !changed(l.prop)) {
				continue
			}
			for _, role := range saiRoles(ctx, tx, l.prop, rid) {
				if err := p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", role, rid); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// saiRoles are the roles a workspace's system-assigned identity gets on an
// associated resource (the same set rule WS-5 asks of a primary UAI).
func saiRoles(ctx context.Context, r store.Reader, prop, rid string) []string {
	switch prop {
	case "storageAccount":
		return []string{catalog.Contributor.ID, catalog.StorageBlobDataContributor.ID}
	case "keyVault":
		if v, err := LoadResource(ctx, r, rid); err == nil && v.Prop("enableRbacAuthorization") == true {
			return []string{catalog.Contributor.ID, catalog.KeyVaultAdministrator.ID}
		}
		return []string{catalog.Contributor.ID}
	default:
		return []string{catalog.Contributor.ID}
	}
}

// checkWS5 verifies the requirements of rule WS-5 (access.WS5) for the
// primary user-assigned identity and lists every missing one with the
// command that grants it.
func (p *Provider) checkWS5(ctx context.Context, tx store.Tx, w *arm.Write) error {
	src := access.NewMemorySource(access.StoreSource(tx), w.New)
	res, err := access.WS5(ctx, src, w.New)
	if err != nil {
		return arm.Errorf(http.StatusBadRequest, "FailedIdentityOperation", "%v", err)
	}
	fs, err := access.EvaluateAll(ctx, p.Authz, src, res.Requirements)
	if err != nil {
		return err
	}
	unmet := access.Unmet(fs)
	if len(unmet) == 0 {
		return nil
	}
	msg := access.Refusal("WS-5", unmet[0].Identity, unmet)
	for _, f := range fs {
		if f.Optional && !f.Met {
			msg += fmt.Sprintf("\nOptional: %s (%s).", f.Need(), f.Why)
		}
	}
	return arm.Errorf(http.StatusBadRequest, "UserAssignedIdentityMissingPermissions", "%s", msg)
}

// presentWorkspace adds the computed URLs (Azure's regional endpoints: amlid
// serves no discovery API, azure-ai-ml is not a client here).
func (p *Provider) presentWorkspace(ctx context.Context, r *arm.Resource) {
	loc := r.Location
	r.Properties["discoveryUrl"] = "https://" + loc + ".api.azureml.ms/discovery"
	r.Properties["mlFlowTrackingUri"] = "azureml://" + loc + ".api.azureml.ms/mlflow/v1.0" + r.ID
	if r.Properties["storageHnsEnabled"] == nil {
		r.Properties["storageHnsEnabled"] = false
	}
}

func RandomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// listKeys answers POST …/workspaces/{w}/listKeys with the keys of the
// associated resources (arm-and-rbac.md §4), read through ARM as the
// caller: a caller who may not list the storage keys gets none.
func (p *Provider) listKeys(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	out := map[string]any{}
	caller := c.CallerOrSystem()
	if s := r.StringProp("storageAccount"); s != "" {
		out["userStorageResourceId"] = s
		if key, err := p.StorageKey(ctx, caller, s); err == nil {
			out["userStorageKey"] = key
		}
	}
	if a := r.StringProp("applicationInsights"); a != "" {
		if res, err := LoadResource(ctx, p.Store, a); err == nil {
			out["appInsightsInstrumentationKey"] = res.StringProp("InstrumentationKey")
		}
	}
	if reg := r.StringProp("containerRegistry"); reg != "" {
		// Admin credentials exist only while the admin user is on (ACR-1).
		if _, body, err := p.ARM.Do(ctx, caller, http.MethodPost, reg+"/listCredentials?api-version="+apiRegistry, nil); err == nil {
			var cr map[string]any
			if json.Unmarshal(body, &cr) == nil {
				cr["location"] = r.Location
				out["containerRegistryCredentials"] = cr
			}
		}
	}
	if keys, ok := r.Internal["notebookKeys"].([]any); ok && len(keys) == 2 {
		out["notebookAccessKeys"] = map[string]any{"primaryAccessKey": keys[0], "secondaryAccessKey": keys[1]}
	}
	return http.StatusOK, out, nil
}

func (p *Provider) resyncKeys(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	return http.StatusOK, nil, nil
}

func (p *Provider) listStorageAccountKeys(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	code, v, err := p.listKeys(ctx, c, r, nil)
	if err != nil {
		return code, nil, err
	}
	m := v.(map[string]any)
	return http.StatusOK, map[string]any{"userStorageKey": m["userStorageKey"]}, nil
}
