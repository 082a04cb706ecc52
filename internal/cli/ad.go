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

	// users
	user := &cobra.Command{Use: "user", Short: "Manage users"}
	var displayName, upn, password, id string
	var forceChange bool
	ucreate := &cobra.Command{
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
	ucreate.Flags().StringVar(&displayName, "display-name", "", "Display name")
	ucreate.Flags().StringVar(&upn, "user-principal-name", "", "user@domain")
	ucreate.Flags().StringVar(&password, "password", "", "Password")
	ucreate.Flags().BoolVar(&forceChange, "force-change-password-next-sign-in", false, "Accepted for az compatibility; ignored")
	for _, f := range []string{"display-name", "user-principal-name", "password"} {
		ucreate.MarkFlagRequired(f)
	}
	ulist := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.graphList(c.Context(), "/v1.0/users", upn, "userPrincipalName")
		},
	}
	ulist.Flags().StringVar(&upn, "upn", "", "Filter by user principal name")
	ushow := &cobra.Command{
		Use: "show", Short: "Show a user", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodGet, "/v1.0/users/"+url.PathEscape(id), nil)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	udel := &cobra.Command{
		Use: "delete", Short: "Delete a user", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/users/"+url.PathEscape(id), nil)
			return err
		},
	}
	for _, c := range []*cobra.Command{ushow, udel} {
		c.Flags().StringVar(&id, "id", "", "Object ID or user principal name")
		c.MarkFlagRequired("id")
	}
	user.AddCommand(ucreate, ulist, ushow, udel)

	// groups
	group := &cobra.Command{Use: "group", Short: "Manage groups"}
	var nickname, groupID, memberID string
	gcreate := &cobra.Command{
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
	gcreate.Flags().StringVar(&displayName, "display-name", "", "Display name")
	gcreate.Flags().StringVar(&nickname, "mail-nickname", "", "Mail nickname")
	gcreate.MarkFlagRequired("display-name")
	glist := &cobra.Command{
		Use: "list", Short: "List groups", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.graphList(c.Context(), "/v1.0/groups", displayName, "displayName")
		},
	}
	glist.Flags().StringVar(&displayName, "display-name", "", "Filter by display name")
	gdel := &cobra.Command{
		Use: "delete", Short: "Delete a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), groupID)
			if err != nil {
				return err
			}
			_, err = a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/groups/"+gid, nil)
			return err
		},
	}
	gdel.Flags().StringVarP(&groupID, "group", "g", "", "Group object ID or display name")
	member := &cobra.Command{Use: "member", Short: "Manage group members"}
	madd := &cobra.Command{
		Use: "add", Short: "Add a member to a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), groupID)
			if err != nil {
				return err
			}
			t, _ := a.target()
			_, err = a.graphRequest(c.Context(), http.MethodPost, "/v1.0/groups/"+gid+"/members/$ref",
				map[string]any{"@odata.id": t.ARMURL + "/v1.0/directoryObjects/" + memberID})
			return err
		},
	}
	mlist := &cobra.Command{
		Use: "list", Short: "List a group's members", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), groupID)
			if err != nil {
				return err
			}
			return a.graphList(c.Context(), "/v1.0/groups/"+gid+"/members", "", "")
		},
	}
	mremove := &cobra.Command{
		Use: "remove", Short: "Remove a member from a group", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gid, err := a.resolveGroup(c.Context(), groupID)
			if err != nil {
				return err
			}
			_, err = a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/groups/"+gid+"/members/"+url.PathEscape(memberID)+"/$ref", nil)
			return err
		},
	}
	for _, c := range []*cobra.Command{madd, mlist, mremove} {
		c.Flags().StringVarP(&groupID, "group", "g", "", "Group object ID or display name")
		c.MarkFlagRequired("group")
		if c != mlist {
			c.Flags().StringVar(&memberID, "member-id", "", "Object ID of the member")
			c.MarkFlagRequired("member-id")
		}
	}
	member.AddCommand(madd, mlist, mremove)
	group.AddCommand(gcreate, glist, gdel, member)

	// service principals
	sp := &cobra.Command{Use: "sp", Short: "Manage service principals"}
	var name, role string
	var scopes []string
	cfr := &cobra.Command{
		Use: "create-for-rbac", Short: "Create an app registration and its service principal, with a client secret", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if name == "" {
				name = "amlid-sp-" + strings.ReplaceAll(strings.Split(randomID(), "-")[0], "-", "")
			}
			appV, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": name})
			if err != nil {
				return err
			}
			app := appV.(map[string]any)
			appID, _ := app["appId"].(string)
			spV, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": appID})
			if err != nil {
				return err
			}
			pw, err := a.graphRequest(ctx, http.MethodPost, "/v1.0/applications/"+app["id"].(string)+"/addPassword",
				map[string]any{"passwordCredential": map[string]any{"displayName": "rbac"}})
			if err != nil {
				return err
			}
			if role != "" {
				spID, _ := spV.(map[string]any)["id"].(string)
				for _, sc := range scopes {
					if _, err := a.createRoleAssignment(ctx, spID, "ServicePrincipal", role, sc); err != nil {
						return err
					}
				}
			}
			t, _ := a.target()
			tenant := t.TenantID
			if p, _ := currentProfile(); p != nil {
				tenant = p.TenantID
			}
			return a.print(map[string]any{"appId": appID, "displayName": name, "password": pw.(map[string]any)["secretText"], "tenant": tenant})
		},
	}
	cfr.Flags().StringVarP(&name, "name", "n", "", "Display name of the app")
	cfr.Flags().StringVar(&role, "role", "", "Role to assign on --scopes")
	cfr.Flags().StringSliceVar(&scopes, "scopes", nil, "Space-separated scopes for --role")
	spshow := &cobra.Command{
		Use: "show", Short: "Show a service principal (by object ID or app ID)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.graphRequest(c.Context(), http.MethodGet, "/v1.0/servicePrincipals/"+url.PathEscape(id), nil)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	spshow.Flags().StringVar(&id, "id", "", "Object ID or app ID")
	spshow.MarkFlagRequired("id")
	splist := &cobra.Command{
		Use: "list", Short: "List service principals", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.graphList(c.Context(), "/v1.0/servicePrincipals", displayName, "displayName")
		},
	}
	splist.Flags().StringVar(&displayName, "display-name", "", "Filter by display name")
	splist.Flags().Bool("all", false, "List all (amlid always does)")
	spdel := &cobra.Command{
		Use: "delete", Short: "Delete a service principal", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := a.graphRequest(c.Context(), http.MethodDelete, "/v1.0/servicePrincipals/"+url.PathEscape(id), nil)
			return err
		},
	}
	spdel.Flags().StringVar(&id, "id", "", "Object ID or app ID")
	spdel.MarkFlagRequired("id")
	sp.AddCommand(cfr, a.adSPCreateCmd(), spshow, splist, spdel)

	ad.AddCommand(user, group, sp, a.adAppCmd())
	return ad
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
