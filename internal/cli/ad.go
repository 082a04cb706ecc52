package cli

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

const graphResource = "https://graph.microsoft.com"

func init() { extraCommands = append(extraCommands, (*app).adCmd) }

// graphRequest calls amlid's Microsoft Graph (on the front-door host).
func (a *app) graphRequest(ctx context.Context, method, path string, body any) (any, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	tok, err := a.accessToken(ctx, graphResource)
	if err != nil {
		return nil, err
	}
	_, v, err := a.httpJSON(ctx, method, t.ARMURL+path, tok, body)
	return v, err
}

func (a *app) adCmd() *cobra.Command {
	ad := &cobra.Command{Use: "ad", Short: "Manage the directory: users, groups, service principals"}
	user := &cobra.Command{Use: "user", Short: "Manage users"}
	user.AddCommand(a.adUserCreateCmd(),
		a.graphListCmd("List users", "/v1.0/users", "upn", "Filter by user principal name", "userPrincipalName"),
		a.graphItemCmd("show", "Show a user", http.MethodGet, "/v1.0/users/", "Object ID or user principal name"),
		a.graphItemCmd("delete", "Delete a user", http.MethodDelete, "/v1.0/users/", "Object ID or user principal name"))
	group := &cobra.Command{Use: "group", Short: "Manage groups"}
	member := &cobra.Command{Use: "member", Short: "Manage group members"}
	member.AddCommand(a.adMemberAddCmd(), a.adMemberListCmd(), a.adMemberRemoveCmd())
	group.AddCommand(a.adGroupCreateCmd(),
		a.graphListCmd("List groups", "/v1.0/groups", "display-name", "Filter by display name", "displayName"),
		a.adGroupDeleteCmd(), member)
	sp := &cobra.Command{Use: "sp", Short: "Manage service principals"}
	spList := a.graphListCmd("List service principals", "/v1.0/servicePrincipals", "display-name", "Filter by display name", "displayName")
	spList.Flags().Bool("all", false, "List all (amlid always does)")
	sp.AddCommand(a.adCreateForRBACCmd(), a.adSPCreateCmd(),
		a.graphItemCmd("show", "Show a service principal (by object ID or app ID)", http.MethodGet, "/v1.0/servicePrincipals/", "Object ID or app ID"),
		spList,
		a.graphItemCmd("delete", "Delete a service principal", http.MethodDelete, "/v1.0/servicePrincipals/", "Object ID or app ID"))
	ad.AddCommand(user, group, sp, a.adAppCmd())
	return ad
}

// graphItemCmd is a verb on one directory object named by --id: GET
// prints it, DELETE prints nothing.
func (a *app) graphItemCmd(use, short, method, collection, idHelp string) *cobra.Command {
	var id string
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), method, collection+url.PathEscape(id), nil)
			if err != nil || method == http.MethodDelete {
				return err
			}
			return a.print(v)
		},
	}
	c.Flags().StringVar(&id, "id", "", idHelp)
	c.MarkFlagRequired("id")
	return c
}

// graphListCmd lists a directory collection, filtered on field by flag.
func (a *app) graphListCmd(short, path, flag, help, field string) *cobra.Command {
	var value string
	c := &cobra.Command{
		Use: "list", Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.graphList(c.Context(), path, value, field) },
	}
	c.Flags().StringVar(&value, flag, "", help)
	return c
}

func (a *app) adUserCreateCmd() *cobra.Command {
	var displayName, upn, password string
	var forceChange bool
	c := &cobra.Command{
		Use: "create", Short: "Create a user", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodPost, "/v1.0/users", map[string]any{
				"accountEnabled": true, "displayName": displayName, "userPrincipalName": upn,
				"mailNickname":    strings.SplitN(upn, "@", 2)[0],
				"passwordProfile": map[string]any{"password": password, "forceChangePasswordNextSignIn": forceChange},
			})
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	c.Flags().StringVar(&displayName, "display-name", "", "Display name")
	c.Flags().StringVar(&upn, "user-principal-name", "", "user@domain")
	c.Flags().StringVar(&password, "password", "", "Password")
	c.Flags().BoolVar(&forceChange, "force-change-password-next-sign-in", false, "Accepted for az compatibility; ignored")
	for _, f := range []string{"display-name", "user-principal-name", "password"} {
		c.MarkFlagRequired(f)
	}
	return c
}

func (a *app) adGroupCreateCmd() *cobra.Command {
	var displayName, nickname string
	c := &cobra.Command{
		Use: "create", Short: "Create a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodPost, "/v1.0/groups", map[string]any{
				"displayName": displayName, "mailNickname": nickname, "mailEnabled": false, "securityEnabled": true,
			})
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	c.Flags().StringVar(&displayName, "display-name", "", "Display name")
	c.Flags().StringVar(&nickname, "mail-nickname", "", "Mail nickname")
	c.MarkFlagRequired("display-name")
	return c
}

func (a *app) adGroupDeleteCmd() *cobra.Command {
	var group string
	c := &cobra.Command{
		Use: "delete", Short: "Delete a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), group)
			if err != nil {
				return err
			}
			_, err = a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/groups/"+gid, nil)
			return err
		},
	}
	c.Flags().StringVarP(&group, "group", "g", "", "Group object ID or display name")
	return c
}

// memberFlags are `ad group member`'s -g/--group and --member-id.
type memberFlags struct{ group, member string }

func (f *memberFlags) register(c *cobra.Command, member bool) {
	c.Flags().StringVarP(&f.group, "group", "g", "", "Group object ID or display name")
	c.MarkFlagRequired("group")
	if member {
		c.Flags().StringVar(&f.member, "member-id", "", "Object ID of the member")
		c.MarkFlagRequired("member-id")
	}
}

func (a *app) adMemberAddCmd() *cobra.Command {
	var f memberFlags
	c := &cobra.Command{
		Use: "add", Short: "Add a member to a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), f.group)
			if err != nil {
				return err
			}
			t, err := a.target()
			if err != nil {
				return err
			}
			_, err = a.graphRequest(c.Context(), http.MethodPost, "/v1.0/groups/"+gid+"/members/$ref",
				map[string]any{"@odata.id": t.ARMURL + "/v1.0/directoryObjects/" + f.member})
			return err
		},
	}
	f.register(c, true)
	return c
}

func (a *app) adMemberListCmd() *cobra.Command {
	var f memberFlags
	c := &cobra.Command{
		Use: "list", Short: "List a group's members", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), f.group)
			if err != nil {
				return err
			}
			return a.graphList(c.Context(), "/v1.0/groups/"+gid+"/members", "", "")
		},
	}
	f.register(c, false)
	return c
}

func (a *app) adMemberRemoveCmd() *cobra.Command {
	var f memberFlags
	c := &cobra.Command{
		Use: "remove", Short: "Remove a member from a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), f.group)
			if err != nil {
				return err
			}
			_, err = a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/groups/"+gid+"/members/"+url.PathEscape(f.member)+"/$ref", nil)
			return err
		},
	}
	f.register(c, true)
	return c
}

func (a *app) adCreateForRBACCmd() *cobra.Command {
	var name, role string
	var scopes []string
	c := &cobra.Command{
		Use: "create-for-rbac", Short: "Create an app registration and its service principal, with a client secret", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" {
				name = "amlid-sp-" + strings.ReplaceAll(strings.Split(randomID(), "-")[0], "-", "")
			}
			out, err := a.createForRBAC(c.Context(), name, role, scopes)
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Display name of the app")
	c.Flags().StringVar(&role, "role", "", "Role to assign on --scopes")
	c.Flags().StringSliceVar(&scopes, "scopes", nil, "Space-separated scopes for --role")
	return c
}

// createForRBAC registers an app and its service principal, adds a
// client secret, and assigns role on each scope; it returns az's
// {appId, displayName, password, tenant}.
func (a *app) createForRBAC(ctx context.Context, name, role string, scopes []string) (map[string]any, error) {
	appV, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": name})
	if err != nil {
		return nil, err
	}
	app, _ := appV.(map[string]any)
	appID := str(app["appId"])
	spV, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": appID})
	if err != nil {
		return nil, err
	}
	pw, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/applications/"+str(app["id"])+"/addPassword",
		map[string]any{"passwordCredential": map[string]any{"displayName": "rbac"}})
	if err != nil {
		return nil, err
	}
	if role != "" {
		spID, _ := spV.(map[string]any)["id"].(string)
		for _, sc := range scopes {
			if _, err := a.createRoleAssignment(ctx, spID, "ServicePrincipal", role, sc); err != nil {
				return nil, err
			}
		}
	}
	t, _ := a.target()
	tenant := t.TenantID
	if p, _ := currentProfile(); p != nil {
		tenant = p.TenantID
	}
	pm, _ := pw.(map[string]any)
	return map[string]any{"appId": appID, "displayName": name, "password": pm["secretText"], "tenant": tenant}, nil
}

// graphList prints a collection, optionally filtered by field eq value.
func (a *app) graphList(ctx context.Context, path, value, field string) error {
	if value != "" {
		path += "?$filter=" + url.QueryEscape(field+" eq '"+value+"'")
	}
	t, err := a.target()
	if err != nil {
		return err
	}
	tok, err := a.accessToken(ctx, graphResource)
	if err != nil {
		return err
	}
	items := []any{}
	// Follow @odata.nextLink: Graph answers one page at a time.
	for next := t.ARMURL + path; next != ""; {
		_, v, err := a.httpJSON(ctx, http.MethodGet, next, tok, nil)
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		page, _ := m["value"].([]any)
		items = append(items, page...)
		next, _ = m["@odata.nextLink"].(string)
	}
	return a.print(items)
}

// resolveGroup accepts a group's object ID or display name.
func (a *app) resolveGroup(ctx context.Context, g string) (string, error) {
	if isGUID(g) {
		return g, nil
	}
	v, err := a.graphRequest(ctx, http.MethodGet, "/v1.0/groups?$filter="+url.QueryEscape("displayName eq '"+g+"'"), nil)
	if err != nil {
		return "", err
	}
	items, _ := v.(map[string]any)["value"].([]any)
	if len(items) != 1 {
		return "", &cliError{Message: "Group '" + g + "' was not found (or is not unique); pass its object ID.", Exit: exitNotFound}
	}
	return items[0].(map[string]any)["id"].(string), nil
}
