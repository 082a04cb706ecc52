package cli

import (
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// accountJSON is az's subscription entry in `az account show|list`.
func accountJSON(sub map[string]any, p *profile, isDefault bool) map[string]any {
	user := map[string]any{"name": "", "type": "servicePrincipal"}
	if p != nil {
		if p.Type == "user" {
			user = map[string]any{"name": p.Username, "type": "user"}
		} else {
			user = map[string]any{"name": p.ClientID, "type": "servicePrincipal"}
		}
	}
	return map[string]any{
		"environmentName":  "amlid",
		"homeTenantId":     sub["tenantId"],
		"id":               sub["subscriptionId"],
		"isDefault":        isDefault,
		"managedByTenants": []any{},
		"name":             sub["displayName"],
		"state":            sub["state"],
		"tenantId":         sub["tenantId"],
		"user":             user,
	}
}

func (a *app) accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage the subscriptions of the signed-in account"}
	list := &cobra.Command{
		Use: "list", Short: "List subscriptions", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			subs, err := a.armList(c.Context(), "/subscriptions", "2019-11-01", nil)
			if err != nil {
				return err
			}
			cur, _ := a.subscriptionID()
			p, _ := currentProfile()
			out := []any{}
			for _, s := range subs {
				m := s.(map[string]any)
				out = append(out, accountJSON(m, p, strings.EqualFold(cur, m["subscriptionId"].(string))))
			}
			return a.print(out)
		},
	}
	list.Flags().Bool("all", false, "List all subscriptions")
	var subFlag string
	show := &cobra.Command{
		Use: "show", Short: "Show the current (or a named) subscription", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id := subFlag
			if id == "" {
				var err error
				if id, err = a.subscriptionID(); err != nil {
					return err
				}
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, "/subscriptions/"+id, "2019-11-01", nil)
			if err != nil {
				return err
			}
			p, _ := currentProfile()
			return a.print(accountJSON(v.(map[string]any), p, true))
		},
	}
	show.Flags().StringVarP(&subFlag, "name", "n", "", "Name or ID of subscription")
	set := &cobra.Command{
		Use: "set", Short: "Set the current subscription", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id := subFlag
			if id == "" {
				id = a.subscription
			}
			if id == "" {
				return usageErr("the following arguments are required: --subscription/-s/--name/-n")
			}
			subs, err := a.armList(c.Context(), "/subscriptions", "2019-11-01", nil)
			if err != nil {
				return err
			}
			for _, s := range subs {
				m := s.(map[string]any)
				if strings.EqualFold(m["subscriptionId"].(string), id) || m["displayName"] == id {
					a.settings.Subscription = m["subscriptionId"].(string)
					return saveSettings(a.settings)
				}
			}
			return &cliError{Message: "The subscription of '" + id + "' doesn't exist in cloud 'amlid'.", Exit: exitError}
		},
	}
	set.Flags().StringVarP(&subFlag, "name", "n", "", "Name or ID of subscription")
	set.Flags().StringVarP(&subFlag, "subscription-id", "s", "", "Name or ID of subscription")
	var resource, scope, tenant string
	gat := &cobra.Command{
		Use: "get-access-token", Short: "Get a token for a resource (default: Resource Manager)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if resource != "" && scope != "" {
				return usageErr("usage error: --resource and --scope are mutually exclusive")
			}
			res := armResource
			switch {
			case scope != "":
				res = scope
			case resource != "":
				res = resource
			}
			tok, err := a.token(c.Context(), res)
			if err != nil {
				return err
			}
			p, _ := currentProfile()
			sub, _ := a.subscriptionID()
			out := map[string]any{
				"accessToken": tok.AccessToken, "expiresOn": tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"),
				"expires_on": tok.ExpiresOn.Unix(), "subscription": sub, "tenant": p.TenantID, "tokenType": "Bearer",
			}
			return a.print(out)
		},
	}
	gat.Flags().StringVar(&resource, "resource", "", "Azure resource endpoint (v1), e.g. https://storage.azure.com")
	gat.Flags().StringVar(&scope, "scope", "", "Space-separated AAD scope (v2), e.g. https://storage.azure.com/.default")
	gat.Flags().StringVarP(&tenant, "tenant", "t", "", "Tenant (must be the signed-in account's)")
	cmd.AddCommand(list, show, set, gat)
	return cmd
}
