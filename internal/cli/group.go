package cli

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

const apiResources = "2021-04-01"

// withResourceGroup adds az's derived "resourceGroup" field to a resource.
func withResourceGroup(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	id, _ := m["id"].(string)
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			m["resourceGroup"] = parts[i+1]
			break
		}
	}
	return m
}

// rgShape fills the fields az prints as null for a resource group.
func rgShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for _, k := range []string{"managedBy", "tags"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	delete(m, "systemData")
	return m
}

func (a *app) groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage resource groups"}
	cmd.AddCommand(a.groupCreateCmd(), a.groupShowCmd(), a.groupExistsCmd(), a.groupListCmd(), a.groupDeleteCmd())
	return cmd
}

// rgPath is the ARM path of resource group n.
func (a *app) rgPath(n string) (string, error) {
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	return "/subscriptions/" + sub + "/resourcegroups/" + url.PathEscape(n), nil
}

// groupNameCmd is a verb on the group -n (alias -g) names.
func (a *app) groupNameCmd(use, short, nameHelp string, run func(ctx context.Context, name string) error) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return run(c.Context(), name) },
	}
	c.Flags().StringVarP(&name, "name", "n", "", nameHelp)
	a.aliasGroupFlag(c)
	return c
}

func (a *app) groupCreateCmd() *cobra.Command {
	var location, managedBy string
	var tags []string
	c := a.groupNameCmd("create", "Create a new resource group", "Name of the new resource group", func(ctx context.Context, name string) error {
		if location == "" {
			location = a.settings.defaultValue("location")
		}
		if location == "" {
			return usageErr("the following arguments are required: --location/-l")
		}
		p, err := a.rgPath(name)
		if err != nil {
			return err
		}
		body := map[string]any{"location": location}
		if t, err := parseTags(tags); err != nil {
			return err
		} else if t != nil {
			body["tags"] = t
		}
		if managedBy != "" {
			body["managedBy"] = managedBy
		}
		v, err := a.armRequest(ctx, http.MethodPut, p, apiResources, body)
		if err != nil {
			return err
		}
		return a.print(rgShape(v))
	})
	c.Flags().StringVarP(&location, "location", "l", "", "Location, e.g. eastus")
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	c.Flags().StringVar(&managedBy, "managed-by", "", "ID of the resource that manages this group")
	return c
}

func (a *app) groupShowCmd() *cobra.Command {
	return a.groupNameCmd("show", "Get a resource group", "Name of the resource group", func(ctx context.Context, name string) error {
		n, err := a.resourceGroup(name)
		if err != nil {
			return err
		}
		p, err := a.rgPath(n)
		if err != nil {
			return err
		}
		v, err := a.armRequest(ctx, http.MethodGet, p, apiResources, nil)
		if err != nil {
			return err
		}
		return a.print(rgShape(v))
	})
}

func (a *app) groupExistsCmd() *cobra.Command {
	return a.groupNameCmd("exists", "Check if a resource group exists", "Name of the resource group", func(ctx context.Context, name string) error {
		p, err := a.rgPath(name)
		if err != nil {
			return err
		}
		status, _, err := a.armDo(ctx, http.MethodHead, p, apiResources, nil, nil)
		if err != nil {
			if ce, ok := err.(*cliError); ok && ce.Status == http.StatusNotFound {
				return a.print(false)
			}
			return err
		}
		return a.print(status == http.StatusNoContent || status == http.StatusOK)
	})
}

func (a *app) groupListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List resource groups", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), "/subscriptions/"+sub+"/resourcegroups", apiResources, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = rgShape(items[i])
			}
			return a.print(items)
		},
	}
}

func (a *app) groupDeleteCmd() *cobra.Command {
	var yes bool
	c := a.groupNameCmd("delete", "Delete a resource group and everything in it", "Name of the resource group", func(ctx context.Context, name string) error {
		if err := a.confirm(yes); err != nil {
			return err
		}
		p, err := a.rgPath(name)
		if err != nil {
			return err
		}
		_, err = a.armRequest(ctx, http.MethodDelete, p, apiResources, nil)
		return err
	})
	c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	c.Flags().Bool("no-wait", false, "Do not wait for the long-running operation to finish (amlid completes at once)")
	return c
}

// aliasGroupFlag accepts -g/--resource-group as the group name, as az does
// for `az group` commands, and requires one of them.
func (a *app) aliasGroupFlag(c *cobra.Command) {
	f := c.Flags().Lookup("name")
	c.Flags().StringP("resource-group", "g", "", "Name of the resource group")
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		if g := cmd.Flags().Lookup("resource-group"); g.Changed && !f.Changed {
			f.Value.Set(g.Value.String())
			f.Changed = true
		}
		if !f.Changed && cmd.Name() != "show" {
			return usageErr("the following arguments are required: --name/-n/--resource-group/-g")
		}
		return nil
	}
}

// parseTags turns az's "k=v k2=v2" into a map.
func parseTags(tags []string) (map[string]string, error) {
	if tags == nil {
		return nil, nil
	}
	out := map[string]string{}
	for _, t := range tags {
		for _, kv := range strings.Fields(t) {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return nil, usageErr("invalid tag %q: use key[=value]", kv)
			}
			out[k] = v
		}
	}
	return out, nil
}
