package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

const (
	apiRoleAssignments = "2022-04-01"
	apiRoleDefinitions = "2022-04-01"
)

func init() { extraCommands = append(extraCommands, (*app).roleCmd) }

// resolveRoleID turns a role name, GUID or ID into a role definition ID the
// way az does (_resolve_role_id).
func (a *app) resolveRoleID(ctx context.Context, role, scope string) (string, error) {
	if strings.HasPrefix(strings.ToLower(role), "/subscriptions/") || strings.HasPrefix(strings.ToLower(role), "/providers/") {
		return role, nil
	}
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	if isGUID(role) {
		return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role, nil
	}
	if scope == "" {
		scope = "/subscriptions/" + sub
	}
	items, err := a.armList(ctx, scope+"/providers/Microsoft.Authorization/roleDefinitions", apiRoleDefinitions,
		url.Values{"$filter": {"roleName eq '" + role + "'"}})
	if err != nil {
		return "", err
	}
	switch len(items) {
	case 0:
		return "", &cliError{Message: fmt.Sprintf("Role '%s' doesn't exist.", role), Exit: exitNotFound}
	case 1:
		return items[0].(map[string]any)["id"].(string), nil
	}
	return "", &cliError{Message: fmt.Sprintf("More than one role matches the given name '%s'. Please pick an id.", role), Exit: exitError}
}

// resolveAssignee turns --assignee (object ID, appId or UPN) into an object
// ID and principal type through Graph, as az does.
func (a *app) resolveAssignee(ctx context.Context, assignee string) (string, string, error) {
	if strings.Contains(assignee, "@") {
		v, err := a.graphRequest(ctx, http.MethodGet, "/v1.0/users/"+url.PathEscape(assignee), nil)
		if err != nil {
			return "", "", err
		}
		return v.(map[string]any)["id"].(string), "User", nil
	}
	v, err := a.graphRequest(ctx, http.MethodGet, "/v1.0/servicePrincipals?$filter="+url.QueryEscape("servicePrincipalNames/any(c:c eq '"+assignee+"')"), nil)
	if err == nil {
		if items, _ := v.(map[string]any)["value"].([]any); len(items) == 1 {
			return items[0].(map[string]any)["id"].(string), "ServicePrincipal", nil
		}
	}
	v, err = a.graphRequest(ctx, http.MethodPost, "/v1.0/directoryObjects/getByIds", map[string]any{"ids": []string{assignee},
		"types": []string{"user", "group", "servicePrincipal", "directoryObjectPartnerReference"}})
	if err != nil {
		return "", "", err
	}
	items, _ := v.(map[string]any)["value"].([]any)
	if len(items) == 0 {
		return "", "", &cliError{Message: fmt.Sprintf("Cannot find user or service principal in graph database for '%s'.", assignee), Exit: exitError}
	}
	o := items[0].(map[string]any)
	typ := strings.TrimPrefix(o["@odata.type"].(string), "#microsoft.graph.")
	return o["id"].(string), strings.ToUpper(typ[:1]) + typ[1:], nil
}

// createRoleAssignment PUTs a new assignment (a fresh GUID name).
func (a *app) createRoleAssignment(ctx context.Context, principalID, principalType, role, scope string) (any, error) {
	if scope == "" {
		sub, err := a.subscriptionID()
		if err != nil {
			return nil, err
		}
		scope = "/subscriptions/" + sub
	}
	roleID, err := a.resolveRoleID(ctx, role, scope)
	if err != nil {
		return nil, err
	}
	props := map[string]any{"roleDefinitionId": roleID, "principalId": principalID}
	if principalType != "" {
		props["principalType"] = principalType
	}
	return a.armRequest(ctx, http.MethodPut, strings.TrimSuffix(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments/"+randomID(),
		apiRoleAssignments, map[string]any{"properties": props})
}

// flattenAssignment prints an assignment as az does (properties lifted,
// plus principalName and roleDefinitionName when known).
func flattenAssignment(v any, roleNames map[string]string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if p, ok := m["properties"].(map[string]any); ok {
		for k, pv := range p {
			m[k] = pv
		}
		delete(m, "properties")
	}
	if rid, _ := m["roleDefinitionId"].(string); rid != "" {
		g := strings.ToLower(rid[strings.LastIndex(rid, "/")+1:])
		if n, ok := roleNames[g]; ok {
			m["roleDefinitionName"] = n
		}
	}
	return withResourceGroup(m)
}

func (a *app) roleNames(ctx context.Context, scope string) map[string]string {
	out := map[string]string{}
	items, err := a.armList(ctx, scope+"/providers/Microsoft.Authorization/roleDefinitions", apiRoleDefinitions, nil)
	if err != nil {
		return out
	}
	for _, it := range items {
		m := it.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		out[strings.ToLower(m["name"].(string))], _ = props["roleName"].(string)
	}
	return out
}

func (a *app) roleCmd() *cobra.Command {
	role := &cobra.Command{Use: "role", Short: "Manage role definitions and assignments (Azure RBAC)"}
	assignment := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	assignment.AddCommand(a.roleAssignmentCreateCmd(), a.roleAssignmentListCmd(), a.roleAssignmentDeleteCmd())
	definition := &cobra.Command{Use: "definition", Short: "Manage role definitions"}
	definition.AddCommand(a.roleDefinitionListCmd(), a.roleDefinitionShowCmd(), a.roleDefinitionCreateCmd(), a.roleDefinitionDeleteCmd())
	role.AddCommand(assignment, definition)
	return role
}

// roleScope is --scope (and -g on assignments): the subscription, or the
// group, when not given.
type roleScope struct{ scope, group string }

func (s *roleScope) resolve(a *app) (string, error) {
	if s.scope != "" {
		return s.scope, nil
	}
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	if s.group != "" {
		return "/subscriptions/" + sub + "/resourceGroups/" + s.group, nil
	}
	return "/subscriptions/" + sub, nil
}

// assignmentFlags are the flags every `role assignment` verb takes.
type assignmentFlags struct {
	roleScope
	assignee, assigneeOID, assigneeType, role string
}

func (f *assignmentFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.assignee, "assignee", "", "Object ID, app ID or user principal name")
	fl.StringVar(&f.assigneeOID, "assignee-object-id", "", "Object ID (skips the Graph lookup)")
	fl.StringVar(&f.assigneeType, "assignee-principal-type", "", "User, Group or ServicePrincipal (with --assignee-object-id)")
	fl.StringVar(&f.role, "role", "", "Role name, GUID or ID")
	fl.StringVar(&f.scope, "scope", "", "Scope (default: the subscription, or -g's group)")
	fl.StringVarP(&f.group, "resource-group", "g", "", "Resource group as the scope")
}

// principal is the assignee's object ID ("" when none is named).
func (f *assignmentFlags) principal(ctx context.Context, a *app) (string, error) {
	if f.assigneeOID != "" || f.assignee == "" {
		return f.assigneeOID, nil
	}
	oid, _, err := a.resolveAssignee(ctx, f.assignee)
	return oid, err
}

// roleMatches tells whether a flattened assignment has the --role named
// (by name, or by the end of its definition ID when byID).
func (f *assignmentFlags) roleMatches(m map[string]any, byID bool) bool {
	if f.role == "" || strings.EqualFold(fmt.Sprint(m["roleDefinitionName"]), f.role) {
		return true
	}
	return byID && strings.HasSuffix(strings.ToLower(fmt.Sprint(m["roleDefinitionId"])), strings.ToLower(f.role))
}

func (a *app) roleAssignmentCreateCmd() *cobra.Command {
	var f assignmentFlags
	var description string
	c := &cobra.Command{
		Use: "create", Short: "Create a role assignment", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if f.role == "" {
				return usageErr("the following arguments are required: --role")
			}
			sc, err := f.resolve(a)
			if err != nil {
				return err
			}
			oid, typ := f.assigneeOID, f.assigneeType
			switch {
			case oid != "":
			case f.assignee != "":
				if oid, typ, err = a.resolveAssignee(ctx, f.assignee); err != nil {
					return err
				}
			default:
				return usageErr("usage error: --assignee STRING | --assignee-object-id GUID")
			}
			v, err := a.createRoleAssignment(ctx, oid, typ, f.role, sc)
			if err != nil {
				return err
			}
			return a.print(flattenAssignment(v, a.roleNames(ctx, sc)))
		},
	}
	c.Flags().StringVar(&description, "description", "", "Description")
	f.register(c)
	return c
}

func (a *app) roleAssignmentListCmd() *cobra.Command {
	var f assignmentFlags
	var all, inherited bool
	c := &cobra.Command{
		Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			sc, err := f.resolve(a)
			if err != nil {
				return err
			}
			oid, err := f.principal(ctx, a)
			if err != nil {
				return err
			}
			q := url.Values{}
			switch {
			case oid != "":
				q.Set("$filter", "assignedTo('"+oid+"')")
			case !all:
				q.Set("$filter", "atScope()")
			}
			items, err := a.armList(ctx, sc+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, q)
			if err != nil {
				return err
			}
			names := a.roleNames(ctx, sc)
			out := []any{}
			for _, it := range items {
				m := flattenAssignment(it, names).(map[string]any)
				s, _ := m["scope"].(string)
				exact := strings.EqualFold(strings.TrimSuffix(s, "/"), strings.TrimSuffix(sc, "/"))
				if !all && !inherited && !exact && !(f.scope == "" && f.group == "") {
					continue
				}
				if f.roleMatches(m, true) {
					out = append(out, m)
				}
			}
			return a.print(out)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "Show all assignments at, above and below the scope")
	c.Flags().BoolVar(&inherited, "include-inherited", false, "Include assignments inherited from parent scopes")
	f.register(c)
	return c
}

func (a *app) roleAssignmentDeleteCmd() *cobra.Command {
	var f assignmentFlags
	var ids string
	var yes bool
	c := &cobra.Command{
		Use: "delete", Short: "Delete role assignments (by --ids, or matching --assignee/--role/--scope)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			targets := strings.Fields(ids)
			if ids == "" {
				var err error
				if targets, err = a.matchingAssignments(ctx, &f); err != nil {
					return err
				}
			}
			for _, id := range targets {
				if _, err := a.armRequest(ctx, http.MethodDelete, id, apiRoleAssignments, nil); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&ids, "ids", "", "Space-separated role assignment IDs")
	c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt")
	f.register(c)
	return c
}

// matchingAssignments are the IDs of the assignments at the scope that
// --assignee and --role name (an error when there is none).
func (a *app) matchingAssignments(ctx context.Context, f *assignmentFlags) ([]string, error) {
	sc, err := f.resolve(a)
	if err != nil {
		return nil, err
	}
	oid, err := f.principal(ctx, a)
	if err != nil {
		return nil, err
	}
	q := url.Values{"$filter": {"atScope()"}}
	if oid != "" {
		q.Set("$filter", "atScope() and assignedTo('"+oid+"')")
	}
	items, err := a.armList(ctx, sc+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, q)
	if err != nil {
		return nil, err
	}
	names := a.roleNames(ctx, sc)
	var targets []string
	for _, it := range items {
		m := flattenAssignment(it, names).(map[string]any)
		if strings.EqualFold(strings.TrimSuffix(fmt.Sprint(m["scope"]), "/"), strings.TrimSuffix(sc, "/")) && f.roleMatches(m, false) {
			targets = append(targets, m["id"].(string))
		}
	}
	if len(targets) == 0 {
		return nil, &cliError{Message: "No matched assignments were found to delete", Exit: exitError}
	}
	return targets, nil
}

func (a *app) roleDefinitionListCmd() *cobra.Command {
	var s roleScope
	var name, customOnly string
	c := &cobra.Command{
		Use: "list", Short: "List role definitions", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := s.resolve(a)
			if err != nil {
				return err
			}
			q := url.Values{}
			if name != "" {
				q.Set("$filter", "roleName eq '"+name+"'")
			} else if customOnly == "true" {
				q.Set("$filter", "type eq 'CustomRole'")
			}
			items, err := a.armList(c.Context(), sc+"/providers/Microsoft.Authorization/roleDefinitions", apiRoleDefinitions, q)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = flattenRoleDefinition(items[i])
			}
			return a.print(items)
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Role name")
	c.Flags().StringVar(&customOnly, "custom-role-only", "false", "Only custom roles")
	c.Flags().StringVar(&s.scope, "scope", "", "Scope")
	return c
}

// roleDefinitionCmd is a verb on one role definition (-n name or GUID,
// --scope): run gets its ID.
func (a *app) roleDefinitionCmd(use, short string, run func(ctx context.Context, id string) error) *cobra.Command {
	var s roleScope
	var name string
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := s.resolve(a)
			if err != nil {
				return err
			}
			id, err := a.resolveRoleID(c.Context(), name, sc)
			if err != nil {
				return err
			}
			return run(c.Context(), id)
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Role name or GUID")
	c.Flags().StringVar(&s.scope, "scope", "", "Scope")
	return c
}

func (a *app) roleDefinitionShowCmd() *cobra.Command {
	return a.roleDefinitionCmd("show", "Show a role definition (by name or GUID)", func(ctx context.Context, id string) error {
		v, err := a.armRequest(ctx, http.MethodGet, id, apiRoleDefinitions, nil)
		if err != nil {
			return err
		}
		return a.print(flattenRoleDefinition(v))
	})
}

func (a *app) roleDefinitionDeleteCmd() *cobra.Command {
	return a.roleDefinitionCmd("delete", "Delete a custom role", func(ctx context.Context, id string) error {
		_, err := a.armRequest(ctx, http.MethodDelete, id, apiRoleDefinitions, nil)
		return err
	})
}

// azRoleDefinition is a custom role in az's --role-definition format.
type azRoleDefinition struct {
	Name             string   `json:"Name"`
	RoleName         string   `json:"roleName"`
	ID               string   `json:"Id"`
	Description      string   `json:"Description"`
	Actions          []string `json:"Actions"`
	NotActions       []string `json:"NotActions"`
	DataActions      []string `json:"DataActions"`
	NotDataActions   []string `json:"NotDataActions"`
	AssignableScopes []string `json:"AssignableScopes"`
}

// parseRoleDefinition reads --role-definition (JSON or @file).
func parseRoleDefinition(raw string) (*azRoleDefinition, error) {
	if strings.HasPrefix(raw, "@") {
		b, err := os.ReadFile(raw[1:])
		if err != nil {
			return nil, err
		}
		raw = string(b)
	}
	var def azRoleDefinition
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		return nil, usageErr("--role-definition: invalid JSON: %v", err)
	}
	if def.Name == "" {
		def.Name = def.RoleName
	}
	if def.Name == "" || len(def.AssignableScopes) == 0 {
		return nil, usageErr("--role-definition needs Name and AssignableScopes")
	}
	return &def, nil
}

// body is the ARM body of the custom role.
func (def *azRoleDefinition) body() map[string]any {
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{"properties": map[string]any{"roleName": def.Name, "description": def.Description, "type": "CustomRole",
		"assignableScopes": def.AssignableScopes, "permissions": []any{map[string]any{"actions": nz(def.Actions), "notActions": nz(def.NotActions),
			"dataActions": nz(def.DataActions), "notDataActions": nz(def.NotDataActions)}}}}
}

func (a *app) roleDefinitionCreateCmd() *cobra.Command {
	var defFile string
	c := &cobra.Command{
		Use: "create", Short: "Create a custom role from a JSON file (@file) or string, in az's format", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			def, err := parseRoleDefinition(defFile)
			if err != nil {
				return err
			}
			guid := def.ID
			if guid == "" {
				guid = randomID()
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, def.AssignableScopes[0]+"/providers/Microsoft.Authorization/roleDefinitions/"+guid, apiRoleDefinitions, def.body())
			if err != nil {
				return err
			}
			return a.print(flattenRoleDefinition(v))
		},
	}
	c.Flags().StringVar(&defFile, "role-definition", "", "Role definition JSON or @file")
	c.MarkFlagRequired("role-definition")
	return c
}

// flattenRoleDefinition prints a role definition as az does.
func flattenRoleDefinition(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if p, ok := m["properties"].(map[string]any); ok {
		for k, pv := range p {
			if k == "type" {
				m["roleType"] = pv
				continue
			}
			m[k] = pv
		}
		delete(m, "properties")
	}
	return m
}
