package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

const apiAKS = "2024-05-01"

func init() { extraCommands = append(extraCommands, (*app).aksCmd) }

// aksCmd manages the minimal Kubernetes clusters amlid keeps so that a
// workspace can attach one (rule ACR-3): a cluster runs as a service
// principal (--service-principal/--client-secret) or, as az aks create does
// by default, a system-assigned managed identity.
func (a *app) aksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "aks", Short: "Manage Kubernetes clusters (minimal: what attaching one to a workspace needs, rule ACR-3)"}
	var name, group, location, sp, secret string
	var yes bool
	path := func() (string, error) {
		return a.groupResourcePath(group, "Microsoft.ContainerService/managedClusters", name, "--name/-n")
	}
	create := &cobra.Command{
		Use: "create", Short: "Create a cluster (a managed identity unless --service-principal is given)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			if location, err = a.createLocation(c.Context(), location, group); err != nil {
				return err
			}
			body := map[string]any{"location": location, "properties": map[string]any{"dnsPrefix": name}}
			if sp != "" {
				if secret == "" {
					return usageErr("--client-secret is required with --service-principal")
				}
				body["properties"].(map[string]any)["servicePrincipalProfile"] = map[string]any{"clientId": sp, "secret": secret}
			} else {
				body["identity"] = map[string]any{"type": "SystemAssigned"}
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, p, apiAKS, body)
			if err != nil {
				return err
			}
			return a.print(withResourceGroup(v))
		},
	}
	create.Flags().StringVarP(&location, "location", "l", "", "Location (default: the group's)")
	create.Flags().StringVar(&sp, "service-principal", "", "Application (client) ID of the service principal the cluster runs as")
	create.Flags().StringVar(&secret, "client-secret", "", "Secret of that service principal")
	show := &cobra.Command{
		Use: "show", Short: "Show a cluster", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, p, apiAKS, nil)
			if err != nil {
				return err
			}
			return a.print(withResourceGroup(v))
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete a cluster", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			if err := a.confirm(yes); err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodDelete, p, apiAKS, nil)
			return err
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	for _, s := range []*cobra.Command{create, show, del} {
		s.Flags().StringVarP(&name, "name", "n", "", "Name of the cluster")
		s.Flags().StringVarP(&group, "resource-group", "g", "", "Resource group")
		cmd.AddCommand(s)
	}
	return cmd
}
