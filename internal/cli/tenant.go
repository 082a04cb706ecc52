package cli

import (
	"net/http"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, (*app).tenantCmd) }

// tenantCmd: `amlid tenant create` makes another tenant (Azure has no
// public API for it; amlid's is POST /amlid/tenants), with a subscription
// and an administrator service principal, e.g. to try cross-tenant
// refusals (rule ID-4).
func (a *app) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage amlid tenants (directories)"}
	var name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a tenant with a subscription and an administrator service principal (its secret is shown once)",
		Long: `Create another tenant in this amlid. The answer holds the tenant ID, its subscription ID and an
administrator service principal (directory administrator, Owner of the subscription) with its
client secret, shown only once. Sign in as it with:

  AMLID_CONFIG_DIR=/tmp/t2 amlid login --service-principal -u <admin.appId> -p <admin.password> --tenant <tenantId>

Only a directory administrator (the bootstrap admin) may create tenants.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			body := map[string]any{}
			if name != "" {
				body["displayName"] = name
			}
			v, err := a.armRequest(c.Context(), http.MethodPost, "/amlid/tenants", "", body)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	create.Flags().StringVarP(&name, "display-name", "n", "", "Display name of the tenant (default: a generated one)")
	cmd.AddCommand(create)
	return cmd
}
