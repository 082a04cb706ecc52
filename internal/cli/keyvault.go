package cli

// amlid keyvault …: Microsoft.KeyVault/vaults through Resource Manager, as
// az keyvault does (keyvault_secret.go has the secrets data plane).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/amlid/amlid/internal/server"
	"github.com/spf13/cobra"
)

// apiKeyVault is the Microsoft.KeyVault api-version az 2.45 sends.
const apiKeyVault = "2022-07-01"

func init() { extraCommands = append(extraCommands, (*app).keyvaultCmd) }

var secretPermissionNames = []string{"get", "list", "set", "delete", "backup", "restore", "recover", "purge"}

func (a *app) keyvaultCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keyvault", Short: "Manage key vaults, their access policies and secrets"}
	cmd.AddCommand(a.kvCreateCmd(), a.kvShowCmd(), a.kvListCmd(), a.kvUpdateCmd(), a.kvDeleteCmd(), a.kvPurgeCmd(),
		a.kvRecoverCmd(), a.kvListDeletedCmd(), a.kvSetPolicyCmd(), a.kvDeletePolicyCmd(), a.kvNetworkRuleCmd(),
		a.kvSecretCmd(), a.kvProxyEnvCmd())
	return cmd
}

// vaultShape prints a vault as az does: the ARM document plus resourceGroup.
func vaultShape(v any) any {
	if m, ok := v.(map[string]any); ok {
		delete(m, "systemData")
		if _, ok := m["tags"]; !ok {
			m["tags"] = map[string]any{}
		}
	}
	return withResourceGroup(v)
}

// vaultPath is the vault's ARM path: from -g, or found by name in the
// subscription (vault names are global).
func (a *app) vaultPath(ctx context.Context, name, group string) (string, error) {
	if name == "" {
		return "", usageErr("the following arguments are required: --name/-n")
	}
	sub, err := a.subscriptionID()
	if err != nil {
		return "", err
	}
	if group == "" {
		group = a.settings.defaultValue("group")
	}
	if group != "" {
		return armID(sub, group, "Microsoft.KeyVault/vaults", name), nil
	}
	items, err := a.armList(ctx, "/subscriptions/"+sub+"/resources", apiResources,
		url.Values{"$filter": {"resourceType eq 'Microsoft.KeyVault/vaults'"}})
	if err != nil {
		return "", err
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		if n, _ := m["name"].(string); strings.EqualFold(n, name) {
			id, _ := m["id"].(string)
			return id, nil
		}
	}
	return "", &cliError{Message: fmt.Sprintf("The Vault '%s' not found within subscription.", name), Exit: exitNotFound}
}

func (a *app) getVault(ctx context.Context, name, group string) (map[string]any, error) {
	p, err := a.vaultPath(ctx, name, group)
	if err != nil {
		return nil, err
	}
	v, err := a.armRequest(ctx, http.MethodGet, p, apiKeyVault, nil)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// callerObjectID reads the oid of the CLI's ARM token (the signed-in
// principal), for the creator's default access policy.
func (a *app) callerObjectID(ctx context.Context) (string, error) {
	tok, err := a.accessToken(ctx, armResource)
	if err != nil {
		return "", err
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("cannot read the signed-in principal from its token")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		OID string `json:"oid"`
	}
	_ = json.Unmarshal(b, &c)
	return c.OID, nil
}

type vaultFlags struct {
	rbac, purgeProtection, publicAccess, defaultAction, bypass, sku string
	retention                                                       int
}

func (f *vaultFlags) register(c *cobra.Command, create bool) {
	c.Flags().StringVar(&f.rbac, "enable-rbac-authorization", "", "true: the Azure RBAC permission model; false: access policies")
	c.Flags().StringVar(&f.purgeProtection, "enable-purge-protection", "", "true: deleted vaults and secrets cannot be purged before their retention ends (cannot be turned off)")
	c.Flags().StringVar(&f.publicAccess, "public-network-access", "", "Enabled or Disabled")
	c.Flags().StringVar(&f.defaultAction, "default-action", "", "Network rules default action: Allow or Deny")
	c.Flags().StringVar(&f.bypass, "bypass", "", "Network rules bypass: AzureServices or None")
	if create {
		c.Flags().IntVar(&f.retention, "retention-days", 90, "Soft-delete retention in days (7 to 90)")
		c.Flags().StringVar(&f.sku, "sku", "standard", "standard or premium")
	}
}

func boolArg(flag, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, usageErr("--%s must be true or false, not %q", flag, v)
}

// apply sets the flags given onto props.
func (f *vaultFlags) apply(c *cobra.Command, props map[string]any) error {
	if c.Flags().Changed("enable-rbac-authorization") {
		b, err := boolArg("enable-rbac-authorization", f.rbac)
		if err != nil {
			return err
		}
		props["enableRbacAuthorization"] = b
	}
	if c.Flags().Changed("enable-purge-protection") {
		b, err := boolArg("enable-purge-protection", f.purgeProtection)
		if err != nil {
			return err
		}
		props["enablePurgeProtection"] = b
	}
	if f.publicAccess != "" {
		props["publicNetworkAccess"] = f.publicAccess
	}
	if f.defaultAction != "" || f.bypass != "" {
		acls, _ := props["networkAcls"].(map[string]any)
		if acls == nil {
			acls = map[string]any{}
		}
		if f.defaultAction != "" {
			acls["defaultAction"] = f.defaultAction
		}
		if f.bypass != "" {
			acls["bypass"] = f.bypass
		}
		props["networkAcls"] = acls
	}
	return nil
}

func (a *app) kvCreateCmd() *cobra.Command {
	var name, group, location string
	var tags []string
	var noSelfPerms bool
	var f vaultFlags
	c := &cobra.Command{
		Use: "create", Short: "Create a key vault", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			g, err := a.resourceGroup(group)
			if err != nil {
				return err
			}
			p, err := a.vaultPath(ctx, name, g)
			if err != nil {
				return err
			}
			if location, err = a.createLocation(ctx, location, g); err != nil {
				return err
			}
			t, err := a.target()
			if err != nil {
				return err
			}
			props := map[string]any{"tenantId": t.TenantID, "sku": map[string]any{"family": "A", "name": f.sku},
				"enableSoftDelete": true, "softDeleteRetentionInDays": f.retention, "accessPolicies": []any{}}
			if err := f.apply(c, props); err != nil {
				return err
			}
			// As az: a vault on the access-policy model starts with a policy
			// giving its creator every permission.
			if rbac, _ := props["enableRbacAuthorization"].(bool); !rbac && !noSelfPerms {
				oid, err := a.callerObjectID(ctx)
				if err != nil {
					return err
				}
				if oid != "" {
					props["accessPolicies"] = []any{map[string]any{"tenantId": t.TenantID, "objectId": oid, "permissions": map[string]any{
						"keys": []string{"all"}, "secrets": []string{"all"}, "certificates": []string{"all"}, "storage": []string{"all"}}}}
				}
			}
			body := map[string]any{"location": location, "properties": props}
			if tg, err := parseTags(tags); err != nil {
				return err
			} else if tg != nil {
				body["tags"] = tg
			}
			v, err := a.armRequest(ctx, http.MethodPut, p, apiKeyVault, body)
			if err != nil {
				return err
			}
			return a.print(vaultShape(v))
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault (globally unique)")
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group")
	c.Flags().StringVarP(&location, "location", "l", "", "Location (default: the resource group's)")
	c.Flags().StringSliceVar(&tags, "tags", nil, "Space-separated tags: key[=value]")
	c.Flags().BoolVar(&noSelfPerms, "no-self-perms", false, "Do not give the creator an access policy")
	f.register(c, true)
	return c
}

func (a *app) kvShowCmd() *cobra.Command {
	var name, group string
	c := &cobra.Command{
		Use: "show", Short: "Show a key vault", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.getVault(c.Context(), name, group)
			if err != nil {
				return err
			}
			return a.print(vaultShape(v))
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (optional)")
	return c
}

func (a *app) kvListCmd() *cobra.Command {
	var group string
	c := &cobra.Command{
		Use: "list", Short: "List key vaults (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.listPath(group, "Microsoft.KeyVault/vaults")
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), p, apiKeyVault, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = vaultShape(items[i])
			}
			return a.print(items)
		},
	}
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group")
	return c
}

func (a *app) kvUpdateCmd() *cobra.Command {
	var name, group string
	var f vaultFlags
	c := &cobra.Command{
		Use: "update", Short: "Update a key vault's settings", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.vaultPath(c.Context(), name, group)
			if err != nil {
				return err
			}
			props := map[string]any{}
			if err := f.apply(c, props); err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodPatch, p, apiKeyVault, map[string]any{"properties": props})
			if err != nil {
				return err
			}
			return a.print(vaultShape(v))
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (optional)")
	f.register(c, false)
	return c
}

func (a *app) kvDeleteCmd() *cobra.Command {
	var name, group string
	c := &cobra.Command{
		Use: "delete", Short: "Delete a key vault (soft delete: it can be recovered until purged)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.vaultPath(c.Context(), name, group)
			if err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodDelete, p, apiKeyVault, nil)
			return err
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (optional)")
	return c
}

// deletedVault finds a deleted vault by name in the subscription.
func (a *app) deletedVault(ctx context.Context, name string) (map[string]any, error) {
	sub, err := a.subscriptionID()
	if err != nil {
		return nil, err
	}
	items, err := a.armList(ctx, "/subscriptions/"+sub+"/providers/Microsoft.KeyVault/deletedVaults", apiKeyVault, nil)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		if n, _ := m["name"].(string); strings.EqualFold(n, name) {
			return m, nil
		}
	}
	return nil, &cliError{Message: fmt.Sprintf("No deleted vault named '%s' in the subscription.", name), Exit: exitNotFound}
}

func (a *app) kvPurgeCmd() *cobra.Command {
	var name, location string
	c := &cobra.Command{
		Use: "purge", Short: "Permanently delete a deleted key vault and its secrets", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := a.deletedVault(c.Context(), name)
			if err != nil {
				return err
			}
			id, _ := d["id"].(string)
			_, err = a.armRequest(c.Context(), http.MethodPost, id+"/purge", apiKeyVault, nil)
			return err
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the deleted key vault")
	c.Flags().StringVarP(&location, "location", "l", "", "Location of the deleted vault (optional)")
	return c
}

func (a *app) kvRecoverCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use: "recover", Short: "Recover a deleted key vault with its settings and secrets", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := a.deletedVault(c.Context(), name)
			if err != nil {
				return err
			}
			props, _ := d["properties"].(map[string]any)
			vid, _ := props["vaultId"].(string)
			loc, _ := props["location"].(string)
			v, err := a.armRequest(c.Context(), http.MethodPut, vid, apiKeyVault,
				map[string]any{"location": loc, "properties": map[string]any{"createMode": "recover"}})
			if err != nil {
				return err
			}
			return a.print(vaultShape(v))
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the deleted key vault")
	return c
}

func (a *app) kvListDeletedCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list-deleted", Short: "List deleted key vaults", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sub, err := a.subscriptionID()
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), "/subscriptions/"+sub+"/providers/Microsoft.KeyVault/deletedVaults", apiKeyVault, nil)
			if err != nil {
				return err
			}
			return a.print(items)
		},
	}
}

type policyFlags struct {
	objectID, spn, upn            string
	secrets, keys, certs, storage []string
}

func (f *policyFlags) register(c *cobra.Command, perms bool) {
	c.Flags().StringVar(&f.objectID, "object-id", "", "Object ID of the user, group, service principal or managed identity")
	c.Flags().StringVar(&f.spn, "spn", "", "Application (client) ID of a service principal")
	c.Flags().StringVar(&f.upn, "upn", "", "User principal name")
	if perms {
		c.Flags().StringSliceVar(&f.secrets, "secret-permissions", nil, "Space-separated secret permissions: "+strings.Join(secretPermissionNames, " ")+" all")
		c.Flags().StringSliceVar(&f.keys, "key-permissions", nil, "Space-separated key permissions")
		c.Flags().StringSliceVar(&f.certs, "certificate-permissions", nil, "Space-separated certificate permissions")
		c.Flags().StringSliceVar(&f.storage, "storage-permissions", nil, "Space-separated storage permissions")
	}
}

func fields(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		for _, f := range strings.Fields(v) {
			if lf := strings.ToLower(f); !slices.Contains(out, lf) {
				out = append(out, lf)
			}
		}
	}
	return out
}

// resolveObjectID turns --object-id/--spn/--upn into an object ID.
func (a *app) resolveObjectID(ctx context.Context, f *policyFlags) (string, error) {
	if f.objectID != "" {
		return f.objectID, nil
	}
	t, err := a.target()
	if err != nil {
		return "", err
	}
	var path string
	switch {
	case f.spn != "":
		path = "/v1.0/servicePrincipals?$filter=" + url.QueryEscape("appId eq '"+f.spn+"'")
	case f.upn != "":
		path = "/v1.0/users/" + url.PathEscape(f.upn)
	default:
		return "", usageErr("one of --object-id, --spn or --upn is required")
	}
	tok, err := a.accessToken(ctx, t.ARMURL+"/")
	if err != nil {
		return "", err
	}
	_, v, err := a.httpJSON(ctx, http.MethodGet, t.ARMURL+path, tok, nil)
	if err != nil {
		return "", err
	}
	m, _ := v.(map[string]any)
	if items, ok := m["value"].([]any); ok {
		if len(items) == 0 {
			return "", &cliError{Message: "no service principal with appId " + f.spn, Exit: exitNotFound}
		}
		m, _ = items[0].(map[string]any)
	}
	id, _ := m["id"].(string)
	return id, nil
}

// policyCmd builds set-policy and delete-policy: both resolve the principal
// and the vault, send one entry to accessPolicies/{kind}, and print the vault.
// entry returns that entry's permissions from the vault's properties.
func (a *app) policyCmd(use, short, kind string, withPerms bool, entry func(f *policyFlags, props map[string]any, oid string) (map[string]any, error)) *cobra.Command {
	var name, group string
	var f policyFlags
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			oid, err := a.resolveObjectID(ctx, &f)
			if err != nil {
				return err
			}
			v, err := a.getVault(ctx, name, group)
			if err != nil {
				return err
			}
			props, _ := v["properties"].(map[string]any)
			tid, _ := props["tenantId"].(string)
			perms, err := entry(&f, props, oid)
			if err != nil {
				return err
			}
			id, _ := v["id"].(string)
			body := map[string]any{"properties": map[string]any{"accessPolicies": []any{
				map[string]any{"tenantId": tid, "objectId": oid, "permissions": perms}}}}
			if _, err := a.armRequest(ctx, http.MethodPut, id+"/accessPolicies/"+kind, apiKeyVault, body); err != nil {
				return err
			}
			nv, err := a.armRequest(ctx, http.MethodGet, id, apiKeyVault, nil)
			if err != nil {
				return err
			}
			return a.print(vaultShape(nv))
		},
	}
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
	c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (optional)")
	f.register(c, withPerms)
	return c
}

func (a *app) kvSetPolicyCmd() *cobra.Command {
	return a.policyCmd("set-policy", "Set a principal's permissions in a vault's access policies (the categories given replace its old ones)", "replace", true,
		func(f *policyFlags, props map[string]any, oid string) (map[string]any, error) {
			perms := map[string]any{}
			pols, _ := props["accessPolicies"].([]any)
			for _, p := range pols {
				pm, _ := p.(map[string]any)
				if o, _ := pm["objectId"].(string); strings.EqualFold(o, oid) && pm["applicationId"] == nil {
					if old, ok := pm["permissions"].(map[string]any); ok {
						perms = old
					}
				}
			}
			for cat, vs := range map[string][]string{"secrets": f.secrets, "keys": f.keys, "certificates": f.certs, "storage": f.storage} {
				if vs != nil {
					perms[cat] = fields(vs)
				}
			}
			if f.secrets == nil && f.keys == nil && f.certs == nil && f.storage == nil {
				return nil, usageErr("give at least one of --secret-permissions, --key-permissions, --certificate-permissions, --storage-permissions")
			}
			return perms, nil
		})
}

func (a *app) kvDeletePolicyCmd() *cobra.Command {
	return a.policyCmd("delete-policy", "Remove a principal's access policy from a vault", "remove", false,
		func(*policyFlags, map[string]any, string) (map[string]any, error) { return map[string]any{}, nil })
}

func (a *app) kvNetworkRuleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network-rule", Short: "Manage a vault's IP rules"}
	var name, group, ip string
	add := &cobra.Command{
		Use: "add", Short: "Allow an IPv4 address or CIDR range", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := a.getVault(c.Context(), name, group)
			if err != nil {
				return err
			}
			props, _ := v["properties"].(map[string]any)
			acls, _ := props["networkAcls"].(map[string]any)
			if acls == nil {
				acls = map[string]any{}
			}
			rules, _ := acls["ipRules"].([]any)
			for _, one := range strings.Fields(ip) { // az: --ip-address ip1 [ip2 …]
				rules = append(rules, map[string]any{"value": one})
			}
			acls["ipRules"] = rules
			id, _ := v["id"].(string)
			nv, err := a.armRequest(c.Context(), http.MethodPatch, id, apiKeyVault, map[string]any{"properties": map[string]any{"networkAcls": acls}})
			if err != nil {
				return err
			}
			return a.print(vaultShape(nv))
		},
	}
	add.Flags().StringVar(&ip, "ip-address", "", "Space-separated IPv4 addresses or CIDR ranges")
	for _, c := range []*cobra.Command{add} {
		c.Flags().StringVarP(&name, "name", "n", "", "Name of the key vault")
		c.Flags().StringVarP(&group, "resource-group", "g", "", "Name of the resource group (optional)")
		cmd.AddCommand(c)
	}
	return cmd
}

// kvProxyEnvCmd prints the exports that let Debian's az reach vaults by
// name ({vault}.vault.azure.net) through amlid's CONNECT proxy.
func (a *app) kvProxyEnvCmd() *cobra.Command {
	return &cobra.Command{
		Use: "proxy-env", Short: "Print HTTPS_PROXY/NO_PROXY exports so az reaches vaults as {vault}.vault.azure.net", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := server.ReadState(a.dataDirOrDefault())
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			if st.VaultProxyURL == "" {
				return &cliError{Message: "this amlid publishes no vault proxy", Exit: exitError}
			}
			fmt.Fprintf(a.stdout, "export HTTPS_PROXY=%s\nexport NO_PROXY=%s\n", shellQuote(st.VaultProxyURL), shellQuote("127.0.0.1,localhost"))
			return nil
		},
	}
}
