package cli

import (
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
	var account, group, subnet, vnet, ip string
	path := func() (string, error) {
		return a.groupResourcePath(group, "Microsoft.Storage/storageAccounts", account, "--account-name")
	}
	// acls reads the account's networkAcls in their PUT shape.
	acls := func(c *cobra.Command, p string) (map[string]any, error) {
		v, err := a.armRequest(c.Context(), http.MethodGet, p, apiStorage, nil)
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
	shape := func(n map[string]any) map[string]any {
		return map[string]any{"ipRules": n["ipRules"], "virtualNetworkRules": n["virtualNetworkRules"], "resourceAccessRules": n["resourceAccessRules"]}
	}
	write := func(c *cobra.Command, p string, n map[string]any) (map[string]any, error) {
		v, err := a.armRequest(c.Context(), http.MethodPatch, p, apiStorage, map[string]any{"properties": map[string]any{"networkAcls": n}})
		if err != nil {
			return nil, err
		}
		m, _ := v.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		got, _ := props["networkAcls"].(map[string]any)
		return shape(got), nil
	}
	target := func(p string) (kind, value string, err error) {
		switch {
		case ip != "" && (subnet != "" || vnet != ""):
			return "", "", usageErr("give either --ip-address or --subnet [--vnet-name], not both")
		case ip != "":
			return "ipRules", ip, nil
		case subnet != "":
			id, err := subnetID(vnet, subnet, p)
			return "virtualNetworkRules", id, err
		}
		return "", "", usageErr("the following arguments are required: --ip-address or --subnet [--vnet-name]")
	}
	add := &cobra.Command{
		Use: "add", Short: "Allow an IP address or range, or a subnet (--subnet ID, or --vnet-name with --subnet name)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			kind, value, err := target(p)
			if err != nil {
				return err
			}
			n, err := acls(c, p)
			if err != nil {
				return err
			}
			list := n[kind].([]any)
			key := map[string]string{"ipRules": "value", "virtualNetworkRules": "id"}[kind]
			for _, e := range list {
				if em, _ := e.(map[string]any); strings.EqualFold(fmt.Sprint(em[key]), value) {
					return a.print(shape(n)) // already there, as az answers
				}
			}
			n[kind] = append(list, map[string]any{key: value, "action": "Allow"})
			out, err := write(c, p, n)
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	remove := &cobra.Command{
		Use: "remove", Short: "Remove an IP rule or a virtual-network rule", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			kind, value, err := target(p)
			if err != nil {
				return err
			}
			n, err := acls(c, p)
			if err != nil {
				return err
			}
			key := map[string]string{"ipRules": "value", "virtualNetworkRules": "id"}[kind]
			keep := []any{}
			for _, e := range n[kind].([]any) {
				if em, _ := e.(map[string]any); !strings.EqualFold(fmt.Sprint(em[key]), value) {
					keep = append(keep, e)
				}
			}
			n[kind] = keep
			out, err := write(c, p, n)
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List a storage account's network rules", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := path()
			if err != nil {
				return err
			}
			n, err := acls(c, p)
			if err != nil {
				return err
			}
			return a.print(shape(n))
		},
	}
	for _, sc := range []*cobra.Command{add, remove, list} {
		fl := sc.Flags()
		fl.StringVarP(&account, "account-name", "n", "", "Storage account name")
		fl.StringVarP(&group, "resource-group", "g", "", "Resource group")
		if sc != list {
			fl.StringVar(&ip, "ip-address", "", "IPv4 address or CIDR range")
			fl.StringVar(&subnet, "subnet", "", "Subnet name (with --vnet-name) or resource ID")
			fl.StringVar(&vnet, "vnet-name", "", "Virtual network of --subnet, in the account's resource group")
		}
		cmd.AddCommand(sc)
	}
	return cmd
}
