package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// ruleReport is what `explain --rule` and `check --rule` print: the
// identity a rule is about, each role the rule asks of it, and whether RBAC
// grants it (with the fix when not).
type ruleReport struct {
	Rule      string      `json:"rule"`
	Allowed   bool        `json:"allowed"`
	Identity  string      `json:"identity"`
	Principal string      `json:"principalId"`
	Summary   string      `json:"summary"`
	Checks    []ruleCheck `json:"checks"`
	Notes     []string    `json:"notes,omitempty"`
}

type ruleCheck struct {
	Need string `json:"need"` // "AcrPull on <registry>"
	*explanation
}

// requirement is one role a rule asks of an identity, checked through the
// permission that role carries (so roles inherited from a group count).
type requirement struct {
	role, scope, action string
	data                bool
}

// explainRule evaluates rule EP-3 (an endpoint's identity) or WS-5 (a
// user-assigned workspace's primary identity) with the same engine as
// explain, from ARM reads only.
func (a *app) explainRule(ctx context.Context, rule string, ref *wsRef, endpoint string) (*ruleReport, error) {
	ws, err := a.workspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	rep := &ruleReport{Rule: strings.ToUpper(rule), Allowed: true}
	var reqs []requirement
	switch rep.Rule {
	case "EP-3":
		if endpoint == "" {
			return nil, usageErr("--rule EP-3 needs --endpoint-name")
		}
		ep, err := a.armRequest(ctx, http.MethodGet, ws.path+"/onlineEndpoints/"+url.PathEscape(endpoint), apiML, nil)
		if err != nil {
			return nil, err
		}
		idm, _ := ep.(map[string]any)["identity"].(map[string]any)
		rep.Principal, rep.Identity = endpointIdentity(idm)
		if reg := ws.prop("containerRegistry"); reg != "" {
			reqs = append(reqs, requirement{"AcrPull", reg, "Microsoft.ContainerRegistry/registries/pull/read", false})
		} else {
			rep.Notes = append(rep.Notes, "The workspace has no container registry yet: the first deployment creates it (rule WS-7); a system-assigned endpoint identity is granted AcrPull on it then, a user-assigned one must be granted it.")
		}
		if s := ws.prop("storageAccount"); s != "" {
			reqs = append(reqs, requirement{"Storage Blob Data Reader", s, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", true})
		}
	case "WS-5":
		primary := ws.prop("primaryUserAssignedIdentity")
		if primary == "" {
			return nil, &cliError{Message: fmt.Sprintf("Workspace %s has no primary user-assigned identity: rule WS-5 applies to user-assigned workspaces.", ws.name), Exit: exitError}
		}
		uai, err := a.armRequest(ctx, http.MethodGet, primary, apiMSI, nil)
		if err != nil {
			return nil, err
		}
		p, _ := uai.(map[string]any)["properties"].(map[string]any)
		rep.Principal, rep.Identity = str(p["principalId"]), "primary user-assigned identity "+primary
		reqs = append(reqs, requirement{"Contributor", ws.path, "Microsoft.MachineLearningServices/workspaces/write", false})
		for _, l := range []struct{ prop, typ string }{{"storageAccount", "Microsoft.Storage/storageAccounts"},
			{"containerRegistry", "Microsoft.ContainerRegistry/registries"}, {"applicationInsights", "Microsoft.Insights/components"}} {
			if id := ws.prop(l.prop); id != "" {
				reqs = append(reqs, requirement{"Contributor", id, l.typ + "/write", false})
			}
		}
		if kv := ws.prop("keyVault"); kv != "" {
			reqs = append(reqs, requirement{"Contributor", kv, "Microsoft.KeyVault/vaults/write", false})
			vault, err := a.armRequest(ctx, http.MethodGet, kv, "2022-07-01", nil)
			if err != nil {
				return nil, err
			}
			vp, _ := vault.(map[string]any)["properties"].(map[string]any)
			if vp["enableRbacAuthorization"] == true {
				reqs = append(reqs, requirement{"Key Vault Administrator", kv, "Microsoft.KeyVault/vaults/keys/create/action", true})
			} else {
				rep.Notes = append(rep.Notes, "The key vault uses access policies: the identity needs every secret permission but purge there (amlid keyvault set-policy).")
			}
		}
	default:
		return nil, usageErr("--rule must be EP-3 or WS-5 (the rules that ask roles of an identity); for one action use --action")
	}
	if rep.Principal == "" {
		return nil, &cliError{Message: "the resource has no identity for rule " + rep.Rule, Exit: exitError}
	}
	var missing []string
	for _, r := range reqs {
		ex, err := a.explain(ctx, "", rep.Principal, r.action, r.scope, r.data)
		if err != nil {
			return nil, err
		}
		if ex.PrincipalType == "" {
			ex.PrincipalType = "ServicePrincipal"
		}
		if !ex.Allowed {
			rep.Allowed = false
			missing = append(missing, r.role)
			ex.Fix = fmt.Sprintf("amlid role assignment create --assignee-object-id %s --assignee-principal-type ServicePrincipal --role %q --scope %s", rep.Principal, r.role, r.scope)
		}
		rep.Checks = append(rep.Checks, ruleCheck{Need: r.role + " on " + r.scope, explanation: ex})
	}
	if rep.Allowed {
		rep.Summary = fmt.Sprintf("Rule %s holds: the %s has every role it needs.", rep.Rule, rep.Identity)
	} else {
		rep.Summary = fmt.Sprintf("Rule %s fails: the %s lacks %s.", rep.Rule, rep.Identity, strings.Join(missing, ", "))
	}
	return rep, nil
}

// endpointIdentity is the identity rule EP-3 is about: the
// system-assigned one, else the first user-assigned one by resource ID.
func endpointIdentity(idm map[string]any) (string, string) {
	if pid := str(idm["principalId"]); pid != "" {
		return pid, "endpoint's system-assigned identity"
	}
	uais, _ := idm["userAssignedIdentities"].(map[string]any)
	keys := make([]string, 0, len(uais))
	for k := range uais {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", ""
	}
	u, _ := uais[keys[0]].(map[string]any)
	return str(u["principalId"]), "endpoint's user-assigned identity " + keys[0]
}
