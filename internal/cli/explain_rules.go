package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// ruleReport is what `explain --rule` and `check --rule` print: the
// identity a rule is about, each requirement the rule asks of it (from the
// access wing, the same list the server checks), and whether it is met
// (with the fix when not).
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
	access.Finding
}

// explainRule evaluates one rule of the access wing (EP-3 for an endpoint,
// WS-5 or DS-8 for a workspace) from ARM reads only.
func (a *app) explainRule(ctx context.Context, rule string, ref *wsRef, endpoint string) (*ruleReport, error) {
	r, ok := access.RuleByID(rule)
	if !ok {
		return nil, usageErr("--rule must be one of %s (the rules that ask roles of an identity); for one action use --action", access.RuleIDs())
	}
	ws, err := a.workspace(ctx, ref)
	if err != nil {
		return nil, err
	}
	src := armSource{a}
	target := ws.path
	if strings.EqualFold(r.Type, catalog.TypeOnlineEndpoint) {
		if endpoint == "" {
			return nil, usageErr("--rule %s needs --endpoint-name", r.ID)
		}
		target = ws.path + "/onlineEndpoints/" + url.PathEscape(endpoint)
	}
	if strings.EqualFold(r.Type, catalog.TypeCompute) {
		if endpoint == "" {
			return nil, usageErr("--rule %s needs --compute-name", r.ID)
		}
		target = ws.path + "/computes/" + url.PathEscape(endpoint)
	}
	res, err := src.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	out, err := r.Eval(ctx, src, res)
	if err != nil {
		return nil, &cliError{Message: err.Error(), Exit: exitError}
	}
	rep := &ruleReport{Rule: r.ID, Allowed: true, Notes: out.Notes, Checks: []ruleCheck{}}
	if len(out.Requirements) == 0 {
		if r.ID == "WS-5" {
			return nil, &cliError{Message: fmt.Sprintf("Workspace %s has no primary user-assigned identity: rule WS-5 applies to user-assigned workspaces.", ws.name), Exit: exitError}
		}
		rep.Summary = fmt.Sprintf("Rule %s asks nothing of %s.", r.ID, res.ID)
		return rep, nil
	}
	d, err := a.decider(ctx, res.ID)
	if err != nil {
		return nil, err
	}
	fs, err := access.EvaluateAll(ctx, d, src, out.Requirements)
	if err != nil {
		return nil, err
	}
	id := out.Requirements[0].Identity
	rep.Principal, rep.Identity = id.PrincipalID, identityLabel(id, res)
	var missing []string
	for _, f := range fs {
		if !f.Met && !f.Optional {
			rep.Allowed = false
			missing = append(missing, f.Role+strings.TrimPrefix(f.Need(), f.Role+" on "+f.Scope))
		}
		rep.Checks = append(rep.Checks, ruleCheck{Need: f.Need(), Finding: f})
	}
	if rep.Allowed {
		rep.Summary = fmt.Sprintf("Rule %s holds: the %s has every role it needs.", rep.Rule, rep.Identity)
	} else {
		rep.Summary = fmt.Sprintf("Rule %s fails: the %s lacks %s.", rep.Rule, rep.Identity, strings.Join(missing, ", "))
	}
	return rep, nil
}

// identityLabel names an identity for the CLI's summaries.
func identityLabel(id access.Identity, res *arm.Resource) string {
	kind := "resource"
	switch {
	case strings.EqualFold(res.Type, catalog.TypeOnlineEndpoint):
		kind = "endpoint"
	case strings.EqualFold(res.Type, catalog.TypeWorkspace):
		kind = "workspace"
	case strings.EqualFold(res.Type, catalog.TypeCompute):
		kind = "compute"
	}
	if id.Kind == access.SystemAssigned {
		return kind + "'s system-assigned identity"
	}
	if strings.EqualFold(res.Type, catalog.TypeWorkspace) && strings.EqualFold(res.StringProp("primaryUserAssignedIdentity"), id.ResourceID) {
		return "primary user-assigned identity " + id.ResourceID
	}
	return kind + "'s user-assigned identity " + id.ResourceID
}
