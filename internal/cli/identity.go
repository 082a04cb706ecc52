package cli

import (
	"context"
	"net/http"

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
	cmd.AddCommand(a.identityCreateCmd(), a.identityShowCmd(), a.identityDeleteCmd(), a.identityListCmd())
	return cmd
}

// identityGroupFlag registers -g on an identity verb.
func identityGroupFlag(c *cobra.Command, group *string) {
	c.Flags().StringVarP(group, "resource-group", "g", "", "Name of the resource group (default: 'amlid configure --defaults group=…')")
}

// identityRef is the identity -n (or --identity-name) and -g name.
type identityRef struct{ name, group string }

func (r *identityRef) path(a *app) (string, error) {
	return a.groupResourcePath(r.group, "Microsoft.ManagedIdentity/userAssignedIdentities", r.name, "--name/-n")
}

// identityItemCmd is a verb on one identity: run gets the identity's
// reference and ARM path.
func (a *app) identityItemCmd(use, short string, run func(ctx context.Context, r *identityRef, p string) error) *cobra.Command {
	var r identityRef
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := r.path(a)
			if err != nil {
				return err
			}
			return run(c.Context(), &r, p)
		},
	}
	identityGroupFlag(c, &r.group)
	c.Flags().StringVarP(&r.name, "name", "n", "", "Name of the identity")
	c.Flags().StringVar(&r.name, "identity-name", "", "Name of the identity")
	c.Flags().MarkHidden("identity-name")
	return c
}

func (a *app) identityCreateCmd() *cobra.Command {
	var location string
	var tags []string
	c := a.identityItemCmd("create", "Create an identity", func(ctx context.Context, r *identityRef, p string) error {
		location, err := a.createLocation(ctx, location, r.group)
		if err != nil {
			return err
		}
		body := map[string]any{"location": location}
		if t, err := parseTags(tags); err != nil {
			return err
		} else if t != nil {
			body["tags"] = t
		}
		v, err := a.armRequest(ctx, http.MethodPut, p, apiMSI, body)
		if err != nil {
			return err
		}
		return a.print(flattenIdentity(v))
	})
	c.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	return c
}

func (a *app) identityShowCmd() *cobra.Command {
	return a.identityItemCmd("show", "Show an identity", func(ctx context.Context, _ *identityRef, p string) error {
		v, err := a.armRequest(ctx, http.MethodGet, p, apiMSI, nil)
		if err != nil {
			return err
		}
		return a.print(flattenIdentity(v))
	})
}

func (a *app) identityDeleteCmd() *cobra.Command {
	return a.identityItemCmd("delete", "Delete an identity", func(ctx context.Context, _ *identityRef, p string) error {
		_, err := a.armRequest(ctx, http.MethodDelete, p, apiMSI, nil)
		return err
	})
}

func (a *app) identityListCmd() *cobra.Command {
	var group string
	c := &cobra.Command{
		Use: "list", Short: "List identities (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.listPath(group, "Microsoft.ManagedIdentity/userAssignedIdentities")
			if err != nil {
				return err
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
	identityGroupFlag(c, &group)
	return c
}
