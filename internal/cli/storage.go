package cli

import (
	"context"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// apiStorage is the Microsoft.Storage api-version az 2.45 sends.
const apiStorage = "2022-09-01"

func init() { extraCommands = append(extraCommands, (*app).storageCmd) }

func (a *app) storageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "storage", Short: "Manage storage accounts, blob containers and blobs"}
	cmd.AddCommand(a.storageAccountCmd(), a.storageContainerCmd(), a.storageBlobCmd(), a.storageFSCmd())
	return cmd
}

// storageAccountShape prints an account the way az does: properties lifted
// to the top level (networkAcls as networkRuleSet, with the SDK's field
// names), plus resourceGroup.
func storageAccountShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, pv := range props {
			switch k {
			case "networkAcls":
				m["networkRuleSet"] = networkRuleSetShape(pv)
			default:
				m[k] = pv
			}
		}
		delete(m, "properties")
	}
	if _, ok := m["tags"]; !ok {
		m["tags"] = map[string]any{}
	}
	for _, k := range []string{"identity", "allowSharedKeyAccess", "isHnsEnabled"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	delete(m, "systemData")
	return withResourceGroup(m)
}

func networkRuleSetShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{"bypass": m["bypass"], "defaultAction": m["defaultAction"], "ipRules": []any{}, "virtualNetworkRules": []any{},
		"resourceAccessRules": m["resourceAccessRules"]}
	if ips, ok := m["ipRules"].([]any); ok {
		var l []any
		for _, r := range ips {
			if rm, ok := r.(map[string]any); ok {
				l = append(l, map[string]any{"ipAddressOrRange": rm["value"], "action": rm["action"]})
			}
		}
		if l != nil {
			out["ipRules"] = l
		}
	}
	if vn, ok := m["virtualNetworkRules"].([]any); ok {
		var l []any
		for _, r := range vn {
			if rm, ok := r.(map[string]any); ok {
				l = append(l, map[string]any{"virtualNetworkResourceId": rm["id"], "action": rm["action"], "state": rm["state"]})
			}
		}
		if l != nil {
			out["virtualNetworkRules"] = l
		}
	}
	return out
}

// boolFlag is an az-style boolean flag (--flag true|false).
type boolFlag struct {
	set bool
	val bool
}

func (b *boolFlag) String() string {
	if !b.set {
		return ""
	}
	if b.val {
		return "true"
	}
	return "false"
}

func (b *boolFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "yes", "1":
		b.val = true
	case "false", "no", "0":
		b.val = false
	default:
		return usageErr("%q is not true or false", s)
	}
	b.set = true
	return nil
}

func (b *boolFlag) Type() string { return "bool" }

// accountFlags are the settable properties of create and update.
type accountFlags struct {
	sku, kind, location, accessTier, minTLS, publicNetwork, defaultAction, bypass string
	tags                                                                          []string
	sharedKey, publicAccess, hns, httpsOnly                                       boolFlag
	assignIdentity                                                                bool
}

func (f *accountFlags) register(c *cobra.Command, create bool) {
	fl := c.Flags()
	if create {
		fl.StringVarP(&f.location, "location", "l", "", "Location (default: the resource group's)")
		fl.StringVar(&f.kind, "kind", "StorageV2", "StorageV2, Storage, BlobStorage, BlockBlobStorage or FileStorage")
		fl.StringVar(&f.sku, "sku", "Standard_RAGRS", "Standard_LRS, Standard_GRS, Standard_RAGRS, Standard_ZRS, Premium_LRS, …")
		fl.Var(&f.hns, "enable-hierarchical-namespace", "Hierarchical namespace (true/false)")
		fl.Var(&f.hns, "hns", "Alias of --enable-hierarchical-namespace")
	} else {
		fl.StringVar(&f.sku, "sku", "", "The storage account SKU")
	}
	fl.StringVar(&f.accessTier, "access-tier", "", "Hot or Cool")
	fl.StringVar(&f.minTLS, "min-tls-version", "", "TLS1_0, TLS1_1 or TLS1_2")
	fl.StringVar(&f.publicNetwork, "public-network-access", "", "Enabled or Disabled")
	fl.StringVar(&f.defaultAction, "default-action", "", "Network rules default action: Allow or Deny")
	fl.StringVar(&f.bypass, "bypass", "", "Traffic that bypasses the network rules: None, Logging, Metrics, AzureServices (space-separated)")
	fl.StringSliceVar(&f.tags, "tags", nil, "Space-separated tags: key[=value]")
	fl.Var(&f.sharedKey, "allow-shared-key-access", "Permit Shared Key (and SAS) authorization (true/false)")
	fl.Var(&f.publicAccess, "allow-blob-public-access", "Permit anonymous access to containers that allow it (true/false)")
	fl.Var(&f.httpsOnly, "https-only", "Allow only HTTPS traffic (true/false)")
	fl.BoolVar(&f.assignIdentity, "assign-identity", false, "Give the account a system-assigned identity")
}

// body builds the PUT/PATCH body.
func (f *accountFlags) body(create bool) (map[string]any, error) {
	props := map[string]any{}
	body := map[string]any{}
	if create {
		body["kind"], body["location"] = f.kind, f.location
		props["encryption"] = map[string]any{"services": map[string]any{"blob": map[string]any{}}, "keySource": "Microsoft.Storage"}
	}
	if f.sku != "" {
		body["sku"] = map[string]any{"name": f.sku}
	}
	for k, b := range map[string]*boolFlag{"allowSharedKeyAccess": &f.sharedKey, "allowBlobPublicAccess": &f.publicAccess,
		"isHnsEnabled": &f.hns, "supportsHttpsTrafficOnly": &f.httpsOnly} {
		if b.set {
			props[k] = b.val
		}
	}
	for k, v := range map[string]string{"accessTier": f.accessTier, "minimumTlsVersion": f.minTLS, "publicNetworkAccess": f.publicNetwork} {
		if v != "" {
			props[k] = v
		}
	}
	if f.defaultAction != "" || f.bypass != "" {
		acls := map[string]any{}
		if f.defaultAction != "" {
			acls["defaultAction"] = f.defaultAction
		}
		if f.bypass != "" {
			acls["bypass"] = strings.Join(strings.Fields(strings.ReplaceAll(f.bypass, ",", " ")), ", ")
		}
		props["networkAcls"] = acls
	}
	if t, err := parseTags(f.tags); err != nil {
		return nil, err
	} else if t != nil {
		body["tags"] = t
	}
	if f.assignIdentity {
		body["identity"] = map[string]any{"type": "SystemAssigned"}
	}
	body["properties"] = props
	return body, nil
}

func (a *app) storageAccountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage storage accounts"}
	keys := &cobra.Command{Use: "keys", Short: "Manage storage account keys"}
	keys.AddCommand(a.storageKeysListCmd(), a.storageKeysRenewCmd())
	cmd.AddCommand(a.storageAccountCreateCmd(), a.storageAccountUpdateCmd(), a.storageAccountShowCmd(),
		a.storageAccountDeleteCmd(), a.storageAccountListCmd(), keys, a.storageNetworkRuleCmd())
	return cmd
}

// accountRef is a storage account's -n and -g.
type accountRef struct{ name, group string }

// storageGroupFlag registers -g on a storage account verb.
func storageGroupFlag(c *cobra.Command, group *string) {
	c.Flags().StringVarP(group, "resource-group", "g", "", "Name of the resource group (default: 'amlid configure --defaults group=…')")
}

// storageAccountItemCmd is a verb on one account named by -n (--name on
// the account verbs, --account-name on keys): run gets the reference and
// the account's ARM path.
func (a *app) storageAccountItemCmd(use, short, nameFlag, nameHelp string, run func(ctx context.Context, r *accountRef, p string) error) *cobra.Command {
	var r accountRef
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.groupResourcePath(r.group, "Microsoft.Storage/storageAccounts", r.name, "--name/-n")
			if err != nil {
				return err
			}
			return run(c.Context(), &r, p)
		},
	}
	storageGroupFlag(c, &r.group)
	c.Flags().StringVarP(&r.name, nameFlag, "n", "", nameHelp)
	return c
}

// storageAccountVerb is a verb on one account from the account group
// (-n/--name).
func (a *app) storageAccountVerb(use, short string, run func(ctx context.Context, r *accountRef, p string) error) *cobra.Command {
	return a.storageAccountItemCmd(use, short, "name", "Storage account name: 3 to 24 lower-case letters and digits", run)
}

func (a *app) storageAccountCreateCmd() *cobra.Command {
	var f accountFlags
	c := a.storageAccountVerb("create", "Create a storage account", func(ctx context.Context, r *accountRef, p string) error {
		var err error
		if f.location, err = a.createLocation(ctx, f.location, r.group); err != nil {
			return err
		}
		body, err := f.body(true)
		if err != nil {
			return err
		}
		v, err := a.armRequest(ctx, http.MethodPut, p, apiStorage, body)
		if err != nil {
			return err
		}
		return a.print(storageAccountShape(v))
	})
	f.register(c, true)
	return c
}

func (a *app) storageAccountUpdateCmd() *cobra.Command {
	var f accountFlags
	c := a.storageAccountVerb("update", "Update a storage account's properties", func(ctx context.Context, _ *accountRef, p string) error {
		body, err := f.body(false)
		if err != nil {
			return err
		}
		v, err := a.armRequest(ctx, http.MethodPatch, p, apiStorage, body)
		if err != nil {
			return err
		}
		return a.print(storageAccountShape(v))
	})
	f.register(c, false)
	return c
}

func (a *app) storageAccountShowCmd() *cobra.Command {
	return a.storageAccountVerb("show", "Show a storage account", func(ctx context.Context, _ *accountRef, p string) error {
		v, err := a.armRequest(ctx, http.MethodGet, p, apiStorage, nil)
		if err != nil {
			return err
		}
		return a.print(storageAccountShape(v))
	})
}

func (a *app) storageAccountDeleteCmd() *cobra.Command {
	var yes bool
	c := a.storageAccountVerb("delete", "Delete a storage account", func(ctx context.Context, _ *accountRef, p string) error {
		if err := a.confirm(yes); err != nil {
			return err
		}
		_, err := a.armRequest(ctx, http.MethodDelete, p, apiStorage, nil)
		return err
	})
	c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	return c
}

func (a *app) storageAccountListCmd() *cobra.Command {
	var group string
	c := &cobra.Command{
		Use: "list", Short: "List storage accounts (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			items, err := a.listStorageAccounts(c.Context(), group)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = storageAccountShape(items[i])
			}
			return a.print(items)
		},
	}
	storageGroupFlag(c, &group)
	return c
}

func (a *app) storageKeysListCmd() *cobra.Command {
	return a.storageAccountItemCmd("list", "List the access keys of a storage account", "account-name", "Storage account name",
		func(ctx context.Context, _ *accountRef, p string) error {
			v, err := a.armRequest(ctx, http.MethodPost, p+"/listKeys", apiStorage, nil)
			if err != nil {
				return err
			}
			return a.print(keysOf(v))
		})
}

func (a *app) storageKeysRenewCmd() *cobra.Command {
	var which string
	c := a.storageAccountItemCmd("renew", "Regenerate one of the access keys", "account-name", "Storage account name",
		func(ctx context.Context, _ *accountRef, p string) error {
			keyName := map[string]string{"primary": "key1", "secondary": "key2", "key1": "key1", "key2": "key2"}[strings.ToLower(which)]
			if keyName == "" {
				return usageErr("--key must be primary or secondary")
			}
			v, err := a.armRequest(ctx, http.MethodPost, p+"/regenerateKey", apiStorage, map[string]any{"keyName": keyName})
			if err != nil {
				return err
			}
			return a.print(keysOf(v))
		})
	c.Flags().StringVar(&which, "key", "", "The key to regenerate: primary or secondary")
	c.MarkFlagRequired("key")
	return c
}

func keysOf(v any) any {
	m, _ := v.(map[string]any)
	if k, ok := m["keys"]; ok {
		return k
	}
	return []any{}
}

// listStorageAccounts lists accounts of a group ("" = subscription).
func (a *app) listStorageAccounts(ctx context.Context, group string) ([]any, error) {
	p, err := a.listPath(group, "Microsoft.Storage/storageAccounts")
	if err != nil {
		return nil, err
	}
	return a.armList(ctx, p, apiStorage, nil)
}
