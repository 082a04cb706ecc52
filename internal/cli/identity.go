package cli

import (
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

const apiMSI = "2022-01-31-preview"

// flattenIdentity prints a user-assigned identity the way az does: its
// properties lifted to the top level, plus resourceGroup.
func flattenIdentity(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, pv := range props {
			if k != "isolationScope" && k != "provisioningState" {
				m[k] = pv
			}
		}
		delete(m, "properties")
	}
	if _, ok := m["tags"]; !ok {
		m["tags"] = map[string]any{}
	}
	delete(m, "systemData")
	return withResourceGroup(m)
}

func (a *app) identityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Manage user-assigned managed identities"}
	var name, group, location string
	var tags []string
	path := func() (string, error) {
		sub, err := a.subscriptionID()
		if err != nil {
			return "", err
		}
		g, err := a.resourceGroup(group)
		if err != nil {
			return "", err
		}
		if name == "" {
			return "", usageErr("the following arguments are required: --name/-n")
		}
		return "/subscriptions/" + sub + "/resourceGroups/" + url.PathEscape(g) +
			"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + url.PathEscape(name), nil
	}
	create := &cobra.Command{
		Use: "create", Short: "Create an identity", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			if location == "" {
				location = a.settings.defaultValue("location")
			}
			if location == "" { // az reads the group's location
				g, _ := a.resourceGroup(group)
				sub, _ := a.subscriptionID()
				rg, err := a.armRequest(c.Context(), http.MethodGet, "/subscriptions/"+sub+"/resourcegroups/"+url.PathEscape(g), apiResources, nil)
				if err != nil {
					return err
				}
				location, _ = rg.(map[string]any)["location"].(string)
			}
			body := map[string]any{"location": location}
			if t, err := parseTags(tags); err != nil {
				return err
			} else if t != nil {
				body["tags"] = t
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, p, apiMSI, body)
			if err != nil {
				return err
			}
			return a.print(flattenIdentity(v))
		},
	}
	create.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	create.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	show := &cobra.Command{
		Use: "show", Short: "Show an identity", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, p, apiMSI, nil)
			if err != nil {
				return err
			}
			return a.print(flattenIdentity(v))
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete an identity", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodDelete, p, apiMSI, nil)
			return err
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List identities (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			p := "/subscriptions/" + sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
			if g := group; g != "" {
				p = "/subscriptions/" + sub + "/resourceGroups/" + url.PathEscape(g) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
			}
			items, err := a.armList(c.Context(), p, apiMSI, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = flattenIdentity(items[i])
			}
			return a.print(items)
		},
	}
	for _, c := range []*cobra.Command{create, show, del, list} {
		c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (default: `amlid configure --defaults group=…`)")
		if c != list {
			c.Flags().StringVarP(&name, "name", "n", "", "Name of the identity")
			c.Flags().StringVar(&name, "identity-name", "", "Name of the identity")
			c.Flags().MarkHidden("identity-name")
		}
		cmd.AddCommand(c)
	}
	return cmd
}
