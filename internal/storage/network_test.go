package storage

import "testing"

// The virtual-network rule matcher: case-insensitive subnet resource IDs,
// Allow rules only, no match for the public network.
func TestAllowsSubnet(t *testing.T) {
	const training = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/training"
	acls, err := ParseNetworkACLs(map[string]any{"defaultAction": "Deny", "virtualNetworkRules": []any{
		map[string]any{"id": training, "action": "Allow"},
		map[string]any{"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/ops"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, subnet string
		want         bool
	}{
		{"exact", training, true},
		{"other case", "/SUBSCRIPTIONS/s1/resourcegroups/RG/providers/microsoft.network/virtualnetworks/CORP/subnets/Training", true},
		{"trailing slash", training + "/", true},
		{"spaces", "  " + training + " ", true},
		{"action defaults to Allow", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/ops", true},
		{"another subnet", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/dev", false},
		{"same name, other vnet", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/lab/subnets/training", false},
		{"other subscription", "/subscriptions/s2/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/training", false},
		{"prefix only", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp", false},
		{"longer", training + "/x", false},
		{"public network", "", false},
	} {
		if got := acls.AllowsSubnet(tc.subnet) != ""; got != tc.want {
			t.Errorf("%s: AllowsSubnet(%q) = %v, want %v", tc.name, tc.subnet, got, tc.want)
		}
	}
	if got := acls.SubnetRules(); len(got) != 2 || got[0] != training {
		t.Errorf("SubnetRules = %v", got)
	}
	for _, bad := range []map[string]any{
		{"id": training, "action": "Deny"},
		{"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/corp"},
		{"id": "corp/training"},
	} {
		if _, err := ParseNetworkACLs(map[string]any{"defaultAction": "Deny", "virtualNetworkRules": []any{bad}}); err == nil {
			t.Errorf("virtual network rule %v accepted", bad)
		}
	}
}
