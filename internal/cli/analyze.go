package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, (*app).analyzeCmd, (*app).accessCmd)
}

// printReport prints an analyzer report: rows for -o table/tsv, SARIF with
// --output-format sarif, the whole report otherwise; ok says whether to
// exit 0.
func (a *app) printReport(rep *access.Report, format, file string) error {
	switch strings.ToLower(format) {
	case "", "report":
		if f := strings.ToLower(a.output); f == "table" || f == "tsv" {
			if err := a.print(rep.Rows()); err != nil {
				return err
			}
		} else if err := a.print(rep); err != nil {
			return err
		}
	case "sarif":
		b, _ := json.MarshalIndent(sarif(rep, file), "", "  ")
		fmt.Fprintln(a.stdout, string(b))
	default:
		return usageErr("--output-format must be report or sarif")
	}
	fmt.Fprintln(a.stderr, rep.Summary)
	if !rep.OK() {
		return &exitCode{code: 1}
	}
	return nil
}

func (a *app) analyzeCmd() *cobra.Command {
	var group, ws, resource, file, kind, endpoint, format string
	c := &cobra.Command{
		Use:   "analyze",
		Short: "Say, before anything runs, which identity will be refused what, and the fix",
		Long: `Evaluate every identity rule (` + access.RuleIDs() + `) of every workspace, online endpoint and
deployment in the subscription, a resource group (-g), a workspace (-w) or one resource
(--resource): each requirement met or unmet, with the rule, the identity, the scope and the
command that fixes it, and every grant wider than the rules need (least privilege).
Exit 1 while something is unmet.

With -f it evaluates a YAML file before it is submitted (what-if), against the current
state: a workspace, an online endpoint or an online deployment (--kind, or detected from
the file's $schema and keys).

It runs the same rules as the server, fed only by ARM reads.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if file != "" {
				rep, err := a.whatIf(ctx, file, kind, endpoint, &wsRef{v1name: ws, group: group})
				if err != nil {
					return err
				}
				return a.printReport(rep, format, file)
			}
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			scope := "/subscriptions/" + sub
			switch {
			case resource != "":
				if _, err := arm.ParseID(resource); err != nil || !strings.Contains(resource, "/providers/") {
					return usageErr("--resource '%s' is not a resource ID", resource)
				}
			case ws != "":
				p, _, err := a.wsPath(&wsRef{v1name: ws, group: group}, "")
				if err != nil {
					return err
				}
				resource = p
			case group != "":
				scope += "/resourceGroups/" + url.PathEscape(group)
			}
			d, err := a.decider(ctx, scope)
			if err != nil {
				return err
			}
			an := &access.Analyzer{Src: armSource{a}, Decider: d}
			// Who can read datastores' cached secrets (rule DS-2): every
			// assignment of the subscription, vaults included.
			if as, err := a.assignmentsAt(ctx, "/subscriptions/"+sub); err == nil {
				an.WhoCan = access.NewWhoCanIndex(as, d.Role)
				an.WhoCan.Members = a.groupMembers(ctx)
			}
			a.progressf("Analyzing %s", firstNonEmpty(resource, scope))
			rep, err := an.Analyze(ctx, scope, resource)
			a.progressDone("")
			if errors.Is(err, access.ErrNotFound) {
				return &cliError{Message: fmt.Sprintf("The resource '%s' was not found.", resource), Exit: exitUsage}
			}
			if err != nil {
				return err
			}
			return a.printReport(rep, format, "")
		},
	}
	f := c.Flags()
	f.StringVarP(&group, "resource-group", "g", "", "Analyze this resource group")
	f.StringVarP(&ws, "workspace-name", "w", "", "Analyze this workspace and its endpoints")
	f.StringVar(&resource, "resource", "", "Analyze this resource (and its children)")
	f.StringVarP(&file, "file", "f", "", "What-if: evaluate this YAML before it is submitted")
	f.StringVar(&kind, "kind", "", "What-if: workspace, online-endpoint, online-deployment or job (default: detected)")
	f.StringVar(&endpoint, "endpoint-name", "", "What-if for an online deployment: its endpoint (default: endpoint_name in the YAML)")
	f.StringVar(&format, "output-format", "report", "report, or sarif (SARIF 2.1.0 for CI annotations)")
	return c
}

// sarif renders a report as SARIF 2.1.0: one result per unmet requirement
// or wider-than-needed grant.
func sarif(rep *access.Report, file string) map[string]any {
	var rules []any
	for _, r := range access.Rules {
		rules = append(rules, map[string]any{"id": r.ID, "shortDescription": map[string]any{"text": r.Summary},
			"helpUri": "https://github.com/amlid/amlid/blob/main/docs/identity-rules.md"})
	}
	rules = append(rules, map[string]any{"id": "least-privilege", "shortDescription": map[string]any{"text": "an identity holds a role wider than its rules need"}})
	loc := func(id string) []any {
		l := map[string]any{"logicalLocations": []any{map[string]any{"fullyQualifiedName": id, "kind": "resource"}}}
		if file != "" {
			l["physicalLocation"] = map[string]any{"artifactLocation": map[string]any{"uri": file}}
		}
		return []any{l}
	}
	results := []any{}
	for _, rr := range rep.Resources {
		for _, f := range rr.Findings {
			if f.Met {
				continue
			}
			level := "error"
			if f.Optional {
				level = "note"
			}
			results = append(results, map[string]any{"ruleId": f.Rule, "level": level, "locations": loc(rr.ID),
				"message": map[string]any{"text": fmt.Sprintf("The %s (principal %s) lacks %s: %s. Fix: %s", f.Identity.Label(), f.Identity.PrincipalID, f.Need(), f.Why, f.Fix)}})
		}
	}
	for _, e := range rep.Excess {
		results = append(results, map[string]any{"ruleId": "least-privilege", "level": "warning", "locations": loc(e.Identity.Of),
			"message": map[string]any{"text": e.String() + ". Fix: " + e.Fix}})
	}
	return map[string]any{"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"runs": []any{map[string]any{"tool": map[string]any{"driver": map[string]any{"name": "amlid analyze", "rules": rules}}, "results": results}}}
}

// whatIf evaluates a YAML file against the current state: the resource it
// would create, the identities it would get, the roles they hold now.
func (a *app) whatIf(ctx context.Context, file, kind, endpoint string, ref *wsRef) (*access.Report, error) {
	spec, err := loadMLSpec(file, nil)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = detectKind(spec)
	}
	src := armSource{a}
	var res *arm.Resource
	switch kind {
	case "workspace":
		body, err := (&workspaceFlags{}).body(spec)
		if err != nil {
			return nil, err
		}
		p, _, err := a.wsPath(&wsRef{name: spec.str("name"), group: ref.group}, "")
		if err != nil {
			return nil, err
		}
		if res, err = a.hypothetical(ctx, p, catalog.TypeWorkspace, body); err != nil {
			return nil, err
		}
	case "online-endpoint":
		body, err := endpointBody(spec, "", true)
		if err != nil {
			return nil, err
		}
		ws, err := a.workspace(ctx, ref)
		if err != nil {
			return nil, err
		}
		if spec.str("name") == "" {
			return nil, usageErr("%s has no name", file)
		}
		if res, err = a.hypothetical(ctx, ws.path+"/onlineEndpoints/"+url.PathEscape(spec.str("name")), catalog.TypeOnlineEndpoint, body); err != nil {
			return nil, err
		}
	case "online-deployment":
		ep := firstNonEmpty(endpoint, spec.str("endpoint_name"))
		if ep == "" {
			return nil, usageErr("what-if for an online deployment needs --endpoint-name (or endpoint_name in %s)", file)
		}
		ws, err := a.workspace(ctx, ref)
		if err != nil {
			return nil, err
		}
		if res, err = src.Get(ctx, ws.path+"/onlineEndpoints/"+url.PathEscape(ep)); errors.Is(err, access.ErrNotFound) {
			return nil, usageErr("online endpoint %s does not exist: create it first (or run what-if on its YAML)", ep)
		} else if err != nil {
			return nil, err
		}
	case "job":
		ws, err := a.workspace(ctx, ref)
		if err != nil {
			return nil, err
		}
		if res, err = a.hypotheticalJob(ctx, ws, spec); err != nil {
			return nil, err
		}
	default:
		return nil, usageErr("--kind must be workspace, online-endpoint, online-deployment or job (could not detect it from %s)", file)
	}
	mem := access.NewMemorySource(src, res)
	d, err := a.decider(ctx, res.ID)
	if err != nil {
		return nil, err
	}
	an := &access.Analyzer{Src: mem, Decider: pendingDecider{d}}
	rep, err := an.Analyze(ctx, res.ID, res.ID)
	if err != nil {
		return nil, err
	}
	rep.Scope = file
	return rep, nil
}

func detectKind(spec *mlSpec) string {
	schema := strings.ToLower(spec.str("$schema"))
	switch {
	case strings.Contains(schema, "onlinedeployment"):
		return "online-deployment"
	case strings.Contains(schema, "onlineendpoint"):
		return "online-endpoint"
	case strings.Contains(schema, "workspace"):
		return "workspace"
	case strings.Contains(schema, "commandjob"), strings.Contains(schema, "pipelinejob"), spec.str("type") == "pipeline":
		return "job"
	case spec.has("command") && spec.has("compute"):
		return "job"
	case spec.has("model") || spec.has("code_configuration") || spec.has("endpoint_name"):
		return "online-deployment"
	case spec.has("auth_mode"):
		return "online-endpoint"
	case spec.has("storage_account") || spec.has("key_vault") || spec.has("primary_user_assigned_identity"):
		return "workspace"
	}
	return ""
}

// pendingPrincipal stands for a system-assigned identity the resource would
// get at creation.
const pendingPrincipal = "(new system-assigned identity)"

// hypothetical builds the resource a create would make: its user-assigned
// identities resolved from ARM, a system-assigned one marked pending.
func (a *app) hypothetical(ctx context.Context, id, typ string, body map[string]any) (*arm.Resource, error) {
	b, _ := json.Marshal(body)
	var r arm.Resource
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, usageErr("the YAML does not make a valid %s: %v", typ, err)
	}
	r.ID, r.Type = id, typ
	r.Name = id[strings.LastIndex(id, "/")+1:]
	if old, err := (armSource{a}).Get(ctx, id); err == nil && old.Identity != nil && r.Identity != nil {
		r.Identity.PrincipalID = old.Identity.PrincipalID // an update keeps its SAI
	}
	if r.Identity == nil {
		return &r, nil
	}
	t := arm.NormalizeIdentityType(r.Identity.Type)
	if t == "" {
		return nil, usageErr("identity type '%s' is not SystemAssigned, UserAssigned or both", r.Identity.Type)
	}
	r.Identity.Type = t
	if arm.HasSystem(t) && r.Identity.PrincipalID == "" {
		r.Identity.PrincipalID = pendingPrincipal
	}
	for uid := range r.Identity.UserAssignedIdentities {
		u, err := (armSource{a}).Get(ctx, uid)
		if errors.Is(err, access.ErrNotFound) {
			return nil, usageErr("the user-assigned identity '%s' does not exist", uid)
		}
		if err != nil {
			return nil, err
		}
		r.Identity.UserAssignedIdentities[uid] = &arm.UserAssignedIdentity{PrincipalID: u.StringProp("principalId"), ClientID: u.StringProp("clientId")}
	}
	return &r, nil
}

// pendingDecider answers for a system-assigned identity that does not exist
// yet: amlid (like Azure) grants an endpoint's new SAI AcrPull on the
// workspace registry and Storage Blob Data Reader on its storage, and a
// workspace's new SAI its roles on the associated resources.
type pendingDecider struct{ *armDecider }

func (d pendingDecider) Check(ctx context.Context, tenant, pid, action string, data bool, scope string) (rbac.Decision, error) {
	if pid != pendingPrincipal {
		return d.armDecider.Check(ctx, tenant, pid, action, data, scope)
	}
	role := &rbac.RoleDefinition{RoleName: "granted at creation"}
	return rbac.Decision{Allowed: true, Role: role, Assignment: &rbac.Assignment{Scope: scope}}, nil
}

func (d pendingDecider) GroupsOf(ctx context.Context, tenant, pid string) ([]string, error) {
	if pid == pendingPrincipal {
		return nil, nil
	}
	return d.armDecider.GroupsOf(ctx, tenant, pid)
}

func (d pendingDecider) AssignmentsAt(ctx context.Context, tenant, pid, scope string) ([]rbac.Assignment, error) {
	if pid == pendingPrincipal {
		return nil, nil
	}
	return d.armDecider.AssignmentsAt(ctx, tenant, pid, scope)
}

func (a *app) accessCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Who may do what, and the least privilege a resource's identities need"}
	var scope, action, resource string
	var data bool
	who := &cobra.Command{
		Use: "who-can", Short: "List every principal allowed an action over a scope, and through which assignment", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if !strings.Contains(action, "/") {
				return usageErr("--action '%s' is not an action: expected Microsoft.Provider/type/…/operation", action)
			}
			if scope == "" {
				sub, err := a.subscriptionID()
				if err != nil {
					return err
				}
				scope = "/subscriptions/" + sub
			}
			if _, err := arm.ParseID(scope); err != nil && scope != "/" {
				return usageErr("--scope '%s' is not a subscription, resource group or resource ID", scope)
			}
			d, err := a.decider(ctx, scope)
			if err != nil {
				return err
			}
			items, err := a.armList(ctx, strings.TrimRight(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, nil)
			if err != nil {
				return err
			}
			var as []rbac.Assignment
			for _, it := range items {
				m := it.(map[string]any)
				p, _ := m["properties"].(map[string]any)
				as = append(as, rbac.Assignment{ID: str(m["id"]), Name: str(m["name"]), Scope: str(p["scope"]), RoleDefinitionID: str(p["roleDefinitionId"]),
					PrincipalID: str(p["principalId"]), PrincipalType: str(p["principalType"])})
			}
			x := access.NewWhoCanIndex(as, d.Role)
			x.Members = a.groupMembers(ctx)
			isData := data || len(d.byID.GrantingRoles(action, true)) > 0
			return a.print(x.WhoCan(scope, action, isData))
		},
	}
	who.Flags().StringVar(&scope, "scope", "", "Scope (default: the subscription)")
	who.Flags().StringVar(&action, "action", "", "Action or data action")
	who.Flags().BoolVar(&data, "data-action", false, "Treat --action as a data action (detected from the roles otherwise)")
	least := &cobra.Command{
		Use: "least-privilege", Short: "The smallest set of built-in roles each identity of a resource needs, and the grants wider than that", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if _, err := arm.ParseID(resource); err != nil || !strings.Contains(resource, "/providers/") {
				return usageErr("--resource '%s' is not a resource ID", resource)
			}
			src := armSource{a}
			res, err := src.Get(ctx, resource)
			if errors.Is(err, access.ErrNotFound) {
				return &cliError{Message: fmt.Sprintf("The resource '%s' was not found.", resource), Exit: exitUsage}
			}
			if err != nil {
				return err
			}
			var reqs []access.Requirement
			var notes []string
			for _, r := range access.RulesFor(res.Type) {
				out, err := r.Eval(ctx, src, res)
				if err != nil {
					notes = append(notes, err.Error())
					continue
				}
				reqs = append(reqs, out.Requirements...)
				notes = append(notes, out.Notes...)
			}
			d, err := a.decider(ctx, resource)
			if err != nil {
				return err
			}
			ps, err := access.LeastPrivilege(ctx, d, reqs)
			if err != nil {
				return err
			}
			if ps == nil {
				ps = []access.Privilege{}
			}
			return a.print(map[string]any{"resource": res.ID, "identities": ps, "notes": notes})
		},
	}
	least.Flags().StringVar(&resource, "resource", "", "Resource ID (a workspace or an online endpoint)")
	cmd.AddCommand(who, least)
	return cmd
}

// graphItems lists a Graph collection (following @odata.nextLink).
func (a *app) graphItems(ctx context.Context, path string) ([]any, error) {
	var out []any
	for next := path; next != ""; {
		v, err := a.graphRequest(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		m, _ := v.(map[string]any)
		items, _ := m["value"].([]any)
		out = append(out, items...)
		next = str(m["@odata.nextLink"])
	}
	return out, nil
}

// hypotheticalJob is the job a `ml job create -f` would submit, as the
// signed-in principal, without uploading its code.
func (a *app) hypotheticalJob(ctx context.Context, ws *wsCtx, spec *mlSpec) (*arm.Resource, error) {
	if spec.str("type") == "pipeline" {
		return a.hypotheticalPipeline(ctx, ws, spec)
	}
	comp := strings.TrimPrefix(spec.str("compute"), "azureml:")
	if comp == "" {
		return nil, usageErr("the job names no compute (compute: azureml:<name>)")
	}
	if !strings.HasPrefix(comp, "/") {
		comp = ws.path + "/computes/" + comp
	}
	props := map[string]any{"jobType": "Command", "command": spec.str("command"), "computeId": comp}
	inputs := map[string]any{}
	for name, v := range spec.sub("inputs") {
		if m, ok := v.(map[string]any); ok {
			p, _ := m["path"].(string)
			inputs[name] = map[string]any{"uri": p}
		}
	}
	props["inputs"] = inputs
	if id := spec.sub("identity"); id != nil {
		if t, _ := id["type"].(string); strings.EqualFold(t, "user_identity") {
			props["identity"] = map[string]any{"identityType": "UserIdentity"}
			oid, err := a.callerObjectID(ctx)
			if err != nil {
				return nil, err
			}
			t, _ := a.target()
			tenant := ""
			if t != nil {
				tenant = t.TenantID
			}
			props["amlidSubmittedBy"] = map[string]any{"objectId": oid, "tenantId": tenant}
		}
	}
	name := firstNonEmpty(spec.str("name"), "what-if")
	return &arm.Resource{ID: ws.path + "/jobs/" + url.PathEscape(name), Name: name, Type: catalog.TypeJob, Properties: props}, nil
}
