package cli

import (
	"context"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, (*app).explainCmd, (*app).checkCmd, (*app).auditCmd)
}

// explanation is what explain/check print.
type explanation struct {
	Allowed       bool     `json:"allowed"`
	Principal     string   `json:"principalId"`
	PrincipalType string   `json:"principalType"`
	Action        string   `json:"action"`
	DataAction    bool     `json:"dataAction"`
	Scope         string   `json:"scope"`
	Role          string   `json:"role,omitempty"`
	Assignment    string   `json:"assignment,omitempty"`
	AssignedScope string   `json:"assignedScope,omitempty"`
	Reason        string   `json:"reason"`
	GrantingRoles []string `json:"grantingRoles,omitempty"`
	Fix           string   `json:"fix,omitempty"`
}

// explain decides with the same engine the server runs, fed by the standard
// Microsoft.Authorization APIs (assignments for the principal and its
// groups, role definitions), so it reads no secret and works against any ARM.
func (a *app) explain(ctx context.Context, assignee, assigneeOID, action, scope string, forceData bool) (*explanation, error) {
	oid, ptype := assigneeOID, ""
	var err error
	if oid == "" {
		if oid, ptype, err = a.resolveAssignee(ctx, assignee); err != nil {
			return nil, err
		}
	}
	if scope == "" {
		sub, err := a.subscriptionID()
		if err != nil {
			return nil, err
		}
		scope = "/subscriptions/" + sub
	}
	d, err := a.decider(ctx, scope)
	if err != nil {
		return nil, err
	}
	v, err := d.view(ctx, oid)
	if err != nil {
		return nil, err
	}
	if ptype == "" {
		ptype = v.ptype
	}
	data := forceData || len(d.byID.GrantingRoles(action, true)) > 0
	req := rbac.Request{PrincipalID: oid, GroupIDs: v.groups, Action: action, DataAction: data, Scope: scope}
	dec := v.engine.Check(req)
	ex := &explanation{Allowed: dec.Allowed, Principal: oid, PrincipalType: ptype, Action: action, DataAction: data, Scope: scope, Reason: dec.Explain(req), GrantingRoles: dec.GrantingRoles}
	if dec.Allowed {
		ex.Role, ex.Assignment, ex.AssignedScope = dec.Role.RoleName, dec.Assignment.ID, dec.Assignment.Scope
	} else if len(dec.GrantingRoles) > 0 {
		ex.Fix = access.RoleFix(oid, ptype, dec.GrantingRoles[0], scope)
	}
	return ex, nil
}

func str(v any) string { s, _ := v.(string); return s }

func (a *app) explainFlags(c *cobra.Command, assignee, oid, action, scope *string, data *bool) {
	f := c.Flags()
	f.StringVar(assignee, "assignee", "", "Object ID, app ID or user principal name")
	f.StringVar(oid, "assignee-object-id", "", "Object ID (skips the Graph lookup)")
	f.StringVar(action, "action", "", "Action or data action, e.g. Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read")
	f.StringVar(scope, "scope", "", "Scope (default: the subscription)")
	f.BoolVar(data, "data-action", false, "Treat --action as a data action (detected from the roles otherwise)")
}

// ruleFlags are explain/check's --rule mode: the roles a rule asks of the
// identity of a workspace or an endpoint.
type ruleFlags struct {
	rule, endpoint, compute string
	ws                      wsRef
}

func (r *ruleFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&r.rule, "rule", "", "Check a rule instead of one action: EP-3 (an endpoint's identity: AcrPull, Storage Blob Data Reader) or WS-5 (a user-assigned workspace's primary identity)")
	f.StringVar(&r.endpoint, "endpoint-name", "", "The online endpoint (--rule EP-3)")
	f.StringVar(&r.compute, "compute-name", "", "The compute (--rule ACR-2 or CMP-6)")
	f.StringVarP(&r.ws.v1name, "workspace-name", "w", "", "The workspace (--rule; default: 'amlid configure --defaults workspace=…')")
	f.StringVarP(&r.ws.group, "resource-group", "g", "", "The workspace's resource group (--rule)")
}

// run decides --rule or --action; allowed says whether to exit 0 in check.
func (a *app) runExplain(c *cobra.Command, r *ruleFlags, assignee, oid, action, scope string, data bool) (bool, error) {
	if r.rule != "" {
		rep, err := a.explainRule(c.Context(), r.rule, &r.ws, firstNonEmpty(r.endpoint, r.compute))
		if err != nil {
			return false, err
		}
		return rep.Allowed, a.print(rep)
	}
	if action == "" {
		return false, usageErr("the following arguments are required: --action (or --rule)")
	}
	ex, err := a.explain(c.Context(), assignee, oid, action, scope, data)
	if err != nil {
		return false, err
	}
	return ex.Allowed, a.print(ex)
}

func (a *app) explainCmd() *cobra.Command {
	var assignee, oid, action, scope string
	var data bool
	var rf ruleFlags
	c := &cobra.Command{
		Use:   "explain",
		Short: "Explain whether an identity can perform an action over a scope, and how to fix it if not",
		Long: `Decide --action for --assignee over --scope with the same RBAC engine the server runs,
and say through which assignment and role it is allowed, or which roles would grant it
and the exact 'amlid role assignment create' line that fixes it (rule RBAC-4).
With --rule EP-3 or WS-5 it checks every role that rule asks of an endpoint's or a
workspace's identity.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := a.runExplain(c, &rf, assignee, oid, action, scope, data)
			return err
		},
	}
	a.explainFlags(c, &assignee, &oid, &action, &scope, &data)
	rf.register(c)
	return c
}

func (a *app) checkCmd() *cobra.Command {
	var assignee, oid, action, scope string
	var data bool
	var rf ruleFlags
	c := &cobra.Command{
		Use:   "check",
		Short: "Like explain, for scripts and CI: exit 0 if allowed, 1 if not",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ok, err := a.runExplain(c, &rf, assignee, oid, action, scope, data)
			if err != nil {
				return err
			}
			if !ok {
				return &exitCode{code: 1}
			}
			return nil
		},
	}
	a.explainFlags(c, &assignee, &oid, &action, &scope, &data)
	rf.register(c)
	return c
}

func (a *app) auditCmd() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Requests that --rbac audit let through but enforce mode would refuse"}
	audit.AddCommand(&cobra.Command{
		Use: "list", Short: "List audit records", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), "/subscriptions/"+sub+"/providers/Microsoft.Authorization/amlidAuditRecords", apiRoleAssignments, nil)
			if err != nil {
				return err
			}
			return a.print(items)
		},
	})
	return audit
}
