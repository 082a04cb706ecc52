package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// Result is what a rule asks of a resource: its requirements, and notes for
// what it cannot check yet (a registry that does not exist, …).
type Result struct {
	Requirements []Requirement `json:"requirements"`
	Notes        []string      `json:"notes,omitempty"`
}

// Rule is an identity rule of docs/identity-rules.md that asks things of
// the identity of one resource type.
type Rule struct {
	ID      string
	Type    string // the resource type it applies to
	Summary string
	Eval    func(ctx context.Context, src Source, res *arm.Resource) (Result, error)
}

// Rules are every rule that yields requirements, in the order they are
// reported.
var Rules = []Rule{
	{ID: "WS-5", Type: catalog.TypeWorkspace, Eval: WS5,
		Summary: "a user-assigned workspace's primary identity needs Contributor on the workspace and its associated resources, and Key Vault Administrator (RBAC model) or every secret permission but purge (access-policy model) on its key vault"},
	{ID: "DS-8", Type: catalog.TypeWorkspace, Eval: DS8,
		Summary: "data preview behind a storage firewall reads as the workspace identity, a trusted Azure service: the firewall must let trusted services through and the identity needs a blob data role"},
	{ID: "EP-3", Type: catalog.TypeOnlineEndpoint, Eval: EP3,
		Summary: "an online endpoint's identity needs AcrPull on the workspace registry and Storage Blob Data Reader on the workspace storage"},
}

// RuleByID finds a rule ("ep-3" works too).
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if strings.EqualFold(r.ID, id) {
			return r, true
		}
	}
	return Rule{}, false
}

// RulesFor lists the rules of a resource type.
func RulesFor(resourceType string) []Rule {
	var out []Rule
	for _, r := range Rules {
		if strings.EqualFold(r.Type, resourceType) {
			out = append(out, r)
		}
	}
	return out
}

// RuleIDs lists the IDs of Rules ("EP-3, WS-5, …") for messages.
func RuleIDs() string {
	ids := make([]string, len(Rules))
	for i, r := range Rules {
		ids[i] = r.ID
	}
	return strings.Join(ids, ", ")
}

func rbacReq(rule, resource string, id Identity, role catalog.Role, action string, data bool, scope, why string) Requirement {
	return Requirement{Rule: rule, Resource: resource, Identity: id, Kind: KindRBAC, Action: action, DataAction: data,
		Scope: scope, Role: role.Name, Why: why}
}

// parentID is the resource ID one level up (a workspace for an endpoint).
func parentID(id string) (string, error) {
	pid, err := arm.ParseID(id)
	if err != nil {
		return "", err
	}
	if len(pid.Types) < 2 {
		return "", fmt.Errorf("access: %s has no parent resource", id)
	}
	return pid.Parent().String(), nil
}

// EP3 is rule EP-3: the endpoint's acting identity pulls the image from the
// workspace registry and reads the model from the workspace storage.
func EP3(ctx context.Context, src Source, ep *arm.Resource) (Result, error) {
	var res Result
	wsID, err := parentID(ep.ID)
	if err != nil {
		return res, err
	}
	ws, err := src.Get(ctx, wsID)
	if err != nil {
		return res, err
	}
	id, ok := Acting(ep)
	if !ok {
		return res, fmt.Errorf("rule EP-3: endpoint %s has no identity to pull the image and read the model with", ep.Name)
	}
	if id.TenantID == "" {
		id.TenantID = ws.StringProp("tenantId")
	}
	if reg := ws.StringProp("containerRegistry"); reg != "" {
		res.Requirements = append(res.Requirements, rbacReq("EP-3", ep.ID, id, catalog.AcrPull, catalog.RegistryPull, false, reg,
			"the deployment's image is pulled from the workspace registry as the endpoint identity"))
	} else {
		res.Notes = append(res.Notes, "The workspace has no container registry yet: the first deployment creates it (rule WS-7); a system-assigned endpoint identity is granted AcrPull on it then, a user-assigned one must be granted it.")
	}
	if s := ws.StringProp("storageAccount"); s != "" {
		res.Requirements = append(res.Requirements, rbacReq("EP-3", ep.ID, id, catalog.StorageBlobDataReader, catalog.BlobRead, true, s,
			"the model and code are read from the workspace storage as the endpoint identity"))
	}
	return res, nil
}

// uaiIdentity reads a user-assigned identity resource into an Identity.
func uaiIdentity(ctx context.Context, src Source, uaiID, of string) (Identity, error) {
	uai, err := src.Get(ctx, uaiID)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Kind: UserAssigned, ResourceID: uai.ID, PrincipalID: uai.StringProp("principalId"), ClientID: uai.StringProp("clientId"),
		TenantID: uai.StringProp("tenantId"), Of: of}, nil
}

// WorkspaceAccessPolicyPermissions are the secret permissions WS-5 asks of a
// workspace identity in a vault using access policies: all but purge.
var WorkspaceAccessPolicyPermissions = []string{"get", "list", "set", "delete", "backup", "restore", "recover"}

// WS5 is rule WS-5: a workspace with a primary user-assigned identity brings
// its associated resources, and that identity needs roles on each. It
// applies to workspaces with a primary user-assigned identity.
func WS5(ctx context.Context, src Source, ws *arm.Resource) (Result, error) {
	var res Result
	primary := ws.StringProp("primaryUserAssignedIdentity")
	if primary == "" {
		return res, nil
	}
	id, err := uaiIdentity(ctx, src, primary, ws.ID)
	if err != nil {
		return res, fmt.Errorf("rule WS-5: the primary user-assigned identity '%s' was not found", primary)
	}
	const why = "the workspace manages its associated resources as its primary user-assigned identity"
	add := func(role catalog.Role, action string, data bool, scope, why string) {
		res.Requirements = append(res.Requirements, rbacReq("WS-5", ws.ID, id, role, action, data, scope, why))
	}
	add(catalog.Contributor, catalog.WorkspaceWrite, false, ws.ID, why)
	if s := ws.StringProp("storageAccount"); s != "" {
		add(catalog.Contributor, catalog.StorageAccountWrite, false, s, why)
	}
	if v := ws.StringProp("keyVault"); v != "" {
		add(catalog.Contributor, catalog.VaultWrite, false, v, why)
		vault, err := src.Get(ctx, v)
		switch {
		case errors.Is(err, ErrNotFound):
			res.Notes = append(res.Notes, "The key vault "+v+" was not found.")
		case err != nil:
			return res, err
		case vault.Prop("enableRbacAuthorization") == true:
			add(catalog.KeyVaultAdministrator, catalog.KeyCreate, true, v, "the workspace keeps keys and secrets in its vault (RBAC model)")
		default:
			res.Requirements = append(res.Requirements, Requirement{Rule: "WS-5", Resource: ws.ID, Identity: id, Kind: KindPolicy, Scope: vault.ID,
				SecretPermissions: WorkspaceAccessPolicyPermissions, Why: "the workspace keeps secrets in its vault (access-policy model: every permission except purge)"})
		}
	}
	if r := ws.StringProp("containerRegistry"); r != "" {
		add(catalog.Contributor, catalog.RegistryWrite, false, r, why)
	}
	if a := ws.StringProp("applicationInsights"); a != "" {
		add(catalog.Contributor, catalog.InsightsWrite, false, a, why)
	}
	if s := ws.StringProp("storageAccount"); s != "" {
		r := rbacReq("WS-5", ws.ID, id, catalog.StorageBlobDataContributor, catalog.BlobRead, true, s, "data preview in the studio reads blobs as the workspace identity")
		r.Optional = true
		res.Requirements = append(res.Requirements, r)
	}
	return res, nil
}

// WorkspaceIdentity is the identity a workspace acts as for its own access:
// its primary user-assigned identity when it has one (rule WS-2), else its
// system-assigned one.
func WorkspaceIdentity(ctx context.Context, src Source, ws *arm.Resource) (Identity, bool, error) {
	if p := ws.StringProp("primaryUserAssignedIdentity"); p != "" {
		id, err := uaiIdentity(ctx, src, p, ws.ID)
		return id, err == nil, err
	}
	id, ok := Acting(ws)
	return id, ok, nil
}

// DS8 is rule DS-8 for a workspace whose default storage sits behind a
// firewall (defaultAction Deny): data preview reads it as the workspace
// identity, which the firewall lets through only as a trusted service
// (bypass AzureServices), and which needs a blob data role there.
func DS8(ctx context.Context, src Source, ws *arm.Resource) (Result, error) {
	var res Result
	s := ws.StringProp("storageAccount")
	if s == "" {
		return res, nil
	}
	acct, err := src.Get(ctx, s)
	if errors.Is(err, ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	acls, _ := acct.Prop("networkAcls").(map[string]any)
	if def, _ := acls["defaultAction"].(string); !strings.EqualFold(def, "Deny") {
		return res, nil
	}
	id, ok, err := WorkspaceIdentity(ctx, src, ws)
	if err != nil || !ok {
		return res, err
	}
	if id.TenantID == "" {
		id.TenantID = ws.StringProp("tenantId")
	}
	const why = "data preview reads the workspace storage behind its firewall as the workspace identity (a trusted Azure service)"
	res.Requirements = append(res.Requirements,
		Requirement{Rule: "DS-8", Resource: ws.ID, Identity: id, Kind: KindNetwork, Scope: acct.ID, Why: why},
		rbacReq("DS-8", ws.ID, id, catalog.StorageBlobDataReader, catalog.BlobRead, true, acct.ID, why))
	return res, nil
}
