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
	var assignee, assigneeOID, assigneeType, roleName, scope, group, ids, description string
	var all, inherited, yes bool
	scopeOrDefault := func() (string, error) {
		if scope != "" {
			return scope, nil
		}
		sub, err := a.subscriptionID()
		if err != nil {
			return "", err
		}
		if group != "" {
			return "/subscriptions/" + sub + "/resourceGroups/" + group, nil
		}
		return "/subscriptions/" + sub, nil
	}
	create := &cobra.Command{
		Use: "create", Short: "Create a role assignment", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if roleName == "" {
				return usageErr("the following arguments are required: --role")
			}
			sc, err := scopeOrDefault()
			if err != nil {
				return err
			}
			oid, typ := assigneeOID, assigneeType
			switch {
			case oid != "":
			case assignee != "":
				if oid, typ, err = a.resolveAssignee(ctx, assignee); err != nil {
					return err
				}
			default:
				return usageErr("usage error: --assignee STRING | --assignee-object-id GUID")
			}
			v, err := a.createRoleAssignment(ctx, oid, typ, roleName, sc)
			if err != nil {
				return err
			}
			return a.print(flattenAssignment(v, a.roleNames(ctx, sc)))
		},
	}
	create.Flags().StringVar(&description, "description", "", "Description")
	list := &cobra.Command{
		Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			sc, err := scopeOrDefault()
			if err != nil {
				return err
			}
			q := url.Values{}
			oid := assigneeOID
			if oid == "" && assignee != "" {
				if oid, _, err = a.resolveAssignee(ctx, assignee); err != nil {
					return err
				}
			}
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
				below := strings.HasPrefix(strings.ToLower(s), strings.ToLower(strings.TrimSuffix(sc, "/"))+"/")
				if !all && !inherited && !exact && !(scope == "" && group == "") {
					continue
				}
				if roleName != "" && !strings.EqualFold(fmt.Sprint(m["roleDefinitionName"]), roleName) && !strings.HasSuffix(strings.ToLower(fmt.Sprint(m["roleDefinitionId"])), strings.ToLower(roleName)) {
					continue
				}
				_ = below
				out = append(out, m)
			}
			return a.print(out)
		},
	}
	list.Flags().BoolVar(&all, "all", false, "Show all assignments at, above and below the scope")
	list.Flags().BoolVar(&inherited, "include-inherited", false, "Include assignments inherited from parent scopes")
	del := &cobra.Command{
		Use: "delete", Short: "Delete role assignments (by --ids, or matching --assignee/--role/--scope)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			var targets []string
			if ids != "" {
				targets = strings.Fields(ids)
			} else {
				sc, err := scopeOrDefault()
				if err != nil {
					return err
				}
				oid := assigneeOID
				if oid == "" && assignee != "" {
					if oid, _, err = a.resolveAssignee(ctx, assignee); err != nil {
						return err
					}
				}
				q := url.Values{"$filter": {"atScope()"}}
				if oid != "" {
					q.Set("$filter", "atScope() and assignedTo('"+oid+"')")
				}
				items, err := a.armList(ctx, sc+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, q)
				if err != nil {
					return err
				}
				names := a.roleNames(ctx, sc)
				for _, it := range items {
					m := flattenAssignment(it, names).(map[string]any)
					if !strings.EqualFold(strings.TrimSuffix(fmt.Sprint(m["scope"]), "/"), strings.TrimSuffix(sc, "/")) {
						continue
					}
					if roleName != "" && !strings.EqualFold(fmt.Sprint(m["roleDefinitionName"]), roleName) {
						continue
					}
					targets = append(targets, m["id"].(string))
				}
				if len(targets) == 0 {
					return &cliError{Message: "No matched assignments were found to delete", Exit: exitError}
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
	del.Flags().StringVar(&ids, "ids", "", "Space-separated role assignment IDs")
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt")
	for _, c := range []*cobra.Command{create, list, del} {
		f := c.Flags()
		f.StringVar(&assignee, "assignee", "", "Object ID, app ID or user principal name")
		f.StringVar(&assigneeOID, "assignee-object-id", "", "Object ID (skips the Graph lookup)")
		f.StringVar(&assigneeType, "assignee-principal-type", "", "User, Group or ServicePrincipal (with --assignee-object-id)")
		f.StringVar(&roleName, "role", "", "Role name, GUID or ID")
		f.StringVar(&scope, "scope", "", "Scope (default: the subscription, or -g's group)")
		f.StringVarP(&group, "resource-group", "g", "", "Resource group as the scope")
		assignment.AddCommand(c)
	}

	definition := &cobra.Command{Use: "definition", Short: "Manage role definitions"}
	var name, customOnly, defFile string
	dlist := &cobra.Command{
		Use: "list", Short: "List role definitions", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := scopeOrDefault()
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
	dlist.Flags().StringVarP(&name, "name", "n", "", "Role name")
	dlist.Flags().StringVar(&customOnly, "custom-role-only", "false", "Only custom roles")
	dlist.Flags().StringVar(&scope, "scope", "", "Scope")
	dshow := &cobra.Command{
		Use: "show", Short: "Show a role definition (by name or GUID)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := scopeOrDefault()
			if err != nil {
				return err
			}
			id, err := a.resolveRoleID(c.Context(), name, sc)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, id, apiRoleDefinitions, nil)
			if err != nil {
				return err
			}
			return a.print(flattenRoleDefinition(v))
		},
	}
	dshow.Flags().StringVarP(&name, "name", "n", "", "Role name or GUID")
	dshow.Flags().StringVar(&scope, "scope", "", "Scope")
	dcreate := &cobra.Command{
		Use: "create", Short: "Create a custom role from a JSON file (@file) or string, in az's format", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			raw := defFile
			if strings.HasPrefix(raw, "@") {
				b, err := os.ReadFile(raw[1:])
				if err != nil {
					return err
				}
				raw = string(b)
			}
			var def struct {
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
			if err := json.Unmarshal([]byte(raw), &def); err != nil {
				return usageErr("--role-definition: invalid JSON: %v", err)
			}
			if def.Name == "" {
				def.Name = def.RoleName
			}
			if def.Name == "" || len(def.AssignableScopes) == 0 {
				return usageErr("--role-definition needs Name and AssignableScopes")
			}
			guid := def.ID
			if guid == "" {
				guid = randomID()
			}
			nz := func(s []string) []string {
				if s == nil {
					return []string{}
				}
				return s
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, def.AssignableScopes[0]+"/providers/Microsoft.Authorization/roleDefinitions/"+guid, apiRoleDefinitions,
				map[string]any{"properties": map[string]any{"roleName": def.Name, "description": def.Description, "type": "CustomRole",
					"assignableScopes": def.AssignableScopes, "permissions": []any{map[string]any{"actions": nz(def.Actions), "notActions": nz(def.NotActions),
						"dataActions": nz(def.DataActions), "notDataActions": nz(def.NotDataActions)}}}})
			if err != nil {
				return err
			}
			return a.print(flattenRoleDefinition(v))
		},
	}
	dcreate.Flags().StringVar(&defFile, "role-definition", "", "Role definition JSON or @file")
	dcreate.MarkFlagRequired("role-definition")
	ddelete := &cobra.Command{
		Use: "delete", Short: "Delete a custom role", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sc, err := scopeOrDefault()
			if err != nil {
				return err
			}
			id, err := a.resolveRoleID(c.Context(), name, sc)
			if err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodDelete, id, apiRoleDefinitions, nil)
			return err
		},
	}
	ddelete.Flags().StringVarP(&name, "name", "n", "", "Role name or GUID")
	ddelete.Flags().StringVar(&scope, "scope", "", "Scope")
	definition.AddCommand(dlist, dshow, dcreate, ddelete)
	role.AddCommand(assignment, definition)
	return role
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
