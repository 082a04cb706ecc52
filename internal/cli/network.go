package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// Virtual networks (issue 18 item 5): a compute's subnet (YAML
// network_settings, --vnet-name/--subnet) and a storage account's
// virtualNetworkRules (az storage account network-rule).

// subnetID is azure-ai-ml's get_subnet_str: a subnet given as a resource ID
// is used as is; a name is a subnet of vnet in the subscription and
// resource group of scopePath (a workspace or account path).
func subnetID(vnet, subnet, scopePath string) (string, error) {
	subnet = strings.TrimSpace(subnet)
	if subnet == "" {
		if vnet != "" {
			return "", usageErr("Subnet is required when vnet name is specified (network_settings.subnet or --subnet).")
		}
		return "", nil
	}
	if strings.HasPrefix(strings.ToLower(subnet), "/subscriptions/") {
		return subnet, nil
	}
	if vnet == "" {
		return "", usageErr("subnet '%s' is a name: give its virtual network too (network_settings.vnet_name or --vnet-name), or the subnet's resource ID.", subnet)
	}
	parts := strings.Split(strings.TrimPrefix(scopePath, "/"), "/")
	if len(parts) < 4 {
		return "", usageErr("cannot tell the subscription and resource group of subnet '%s': give its resource ID.", subnet)
	}
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s", parts[1], parts[3], vnet, subnet), nil
}

// applyComputeSubnet puts the subnet of a compute (flags first, then the
// YAML's network_settings) in its ARM body: properties.properties.subnet.
func applyComputeSubnet(body map[string]any, spec *mlSpec, vnet, subnet, wsPath string) error {
	ns := spec.sub("network_settings")
	if vnet == "" {
		vnet, _ = ns["vnet_name"].(string)
	}
	if subnet == "" {
		subnet, _ = ns["subnet"].(string)
	}
	id, err := subnetID(vnet, subnet, wsPath)
	if err != nil || id == "" {
		return err
	}
	props, _ := body["properties"].(map[string]any)
	in, _ := props["properties"].(map[string]any)
	if in == nil {
		return usageErr("network settings apply to compute clusters and instances")
	}
	in["subnet"] = map[string]any{"id": id}
	return nil
}

// computeNetworkShape is azure-ai-ml's network_settings of a compute.
func computeNetworkShape(in map[string]any) any {
	sn, _ := in["subnet"].(map[string]any)
	id, _ := sn["id"].(string)
	if id == "" {
		return nil
	}
	out := map[string]any{"subnet": id}
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "virtualNetworks") {
			out["vnet_name"] = parts[i+1]
		}
	}
	return out
}

// storageNetworkRuleCmd is `amlid storage account network-rule`, az's
// verbs: add, list, remove (IP rules and virtual-network rules).
func (a *app) storageNetworkRuleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network-rule", Short: "Manage a storage account's network rules (IP addresses and subnets allowed when the default action is Deny)"}
	add := a.networkRuleEditCmd("add", "Allow an IP address or range, or a subnet (--subnet ID, or --vnet-name with --subnet name)",
		func(list []any, key, value string) ([]any, bool) {
			for _, e := range list {
				if em, _ := e.(map[string]any); strings.EqualFold(fmt.Sprint(em[key]), value) {
					return list, false // already there: az answers with the rules as they are
				}
			}
			return append(list, map[string]any{key: value, "action": "Allow"}), true
		})
	remove := a.networkRuleEditCmd("remove", "Remove an IP rule or a virtual-network rule",
		func(list []any, key, value string) ([]any, bool) {
			keep := []any{}
			for _, e := range list {
				if em, _ := e.(map[string]any); !strings.EqualFold(fmt.Sprint(em[key]), value) {
					keep = append(keep, e)
				}
			}
			return keep, true
		})
	var f networkRuleFlags
	list := &cobra.Command{
		Use: "list", Short: "List a storage account's network rules", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := f.path(a)
			if err != nil {
				return err
			}
			n, err := a.networkACLs(c.Context(), p)
			if err != nil {
				return err
			}
			return a.print(networkRules(n))
		},
	}
	f.register(list, false)
	cmd.AddCommand(add, remove, list)
	return cmd
}

// networkRuleFlags are network-rule's flags: the account, and on add and
// remove the rule (--ip-address, or --subnet [--vnet-name]).
type networkRuleFlags struct{ account, group, subnet, vnet, ip string }

func (f *networkRuleFlags) register(c *cobra.Command, rule bool) {
	fl := c.Flags()
	fl.StringVarP(&f.account, "account-name", "n", "", "Storage account name")
	fl.StringVarP(&f.group, "resource-group", "g", "", "Resource group")
	if rule {
		fl.StringVar(&f.ip, "ip-address", "", "IPv4 address or CIDR range")
		fl.StringVar(&f.subnet, "subnet", "", "Subnet name (with --vnet-name) or resource ID")
		fl.StringVar(&f.vnet, "vnet-name", "", "Virtual network of --subnet, in the account's resource group")
	}
}

func (f *networkRuleFlags) path(a *app) (string, error) {
	return a.groupResourcePath(f.group, "Microsoft.Storage/storageAccounts", f.account, "--account-name")
}

// rule is the rule the flags name for the account at p: the networkAcls
// list it goes in, the rule's key there and its value.
func (f *networkRuleFlags) rule(p string) (kind, key, value string, err error) {
	switch {
	case f.ip != "" && (f.subnet != "" || f.vnet != ""):
		return "", "", "", usageErr("give either --ip-address or --subnet [--vnet-name], not both")
	case f.ip != "":
		return "ipRules", "value", f.ip, nil
	case f.subnet != "":
		id, err := subnetID(f.vnet, f.subnet, p)
		return "virtualNetworkRules", "id", id, err
	}
	return "", "", "", usageErr("the following arguments are required: --ip-address or --subnet [--vnet-name]")
}

// networkRuleEditCmd is add or remove: change edits the list of the
// flags' rule (key, value) and says whether to write it; the rules are
// printed as the account then has them.
func (a *app) networkRuleEditCmd(use, short string, change func(list []any, key, value string) ([]any, bool)) *cobra.Command {
	var f networkRuleFlags
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := f.path(a)
			if err != nil {
				return err
			}
			kind, key, value, err := f.rule(p)
			if err != nil {
				return err
			}
			n, err := a.networkACLs(c.Context(), p)
			if err != nil {
				return err
			}
			list, write := change(n[kind].([]any), key, value)
			if !write {
				return a.print(networkRules(n))
			}
			n[kind] = list
			out, err := a.writeNetworkACLs(c.Context(), p, n)
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	f.register(c, true)
	return c
}

// networkACLs reads the account's networkAcls in their PUT shape.
func (a *app) networkACLs(ctx context.Context, p string) (map[string]any, error) {
	v, err := a.armRequest(ctx, http.MethodGet, p, apiStorage, nil)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	n, _ := props["networkAcls"].(map[string]any)
	if n == nil {
		n = map[string]any{"defaultAction": "Allow", "bypass": "AzureServices"}
	}
	out := map[string]any{"defaultAction": n["defaultAction"], "bypass": n["bypass"]}
	for _, k := range []string{"ipRules", "virtualNetworkRules", "resourceAccessRules"} {
		l, _ := n[k].([]any)
		if l == nil {
			l = []any{}
		}
		out[k] = l
	}
	return out, nil
}

// writeNetworkACLs PATCHes the account's networkAcls and returns its
// rules as az prints them.
func (a *app) writeNetworkACLs(ctx context.Context, p string, n map[string]any) (map[string]any, error) {
	v, err := a.armRequest(ctx, http.MethodPatch, p, apiStorage, map[string]any{"properties": map[string]any{"networkAcls": n}})
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	got, _ := props["networkAcls"].(map[string]any)
	return networkRules(got), nil
}

// networkRules is what network-rule prints: the three lists of rules.
func networkRules(n map[string]any) map[string]any {
	return map[string]any{"ipRules": n["ipRules"], "virtualNetworkRules": n["virtualNetworkRules"], "resourceAccessRules": n["resourceAccessRules"]}
}
