package compute_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

// properties.properties.subnet through ARM: a subnet resource ID is kept
// (normalised), bad shapes are 400s naming the field, attached computes
// take none, and a compute's subnet cannot change after creation.
func TestComputeSubnet(t *testing.T) {
	e := testenv.New(t, testenv.Options{Quiet: true})
	rg := e.CreateGroup("sn")
	ws := rg + "/providers/Microsoft.MachineLearningServices/workspaces/sn-ws"
	if st, b := e.ARM(e.Admin, http.MethodPut, ws, api, map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"}}); st >= 300 {
		t.Fatalf("workspace: %d %v", st, b)
	}
	subnet := rg + "/providers/Microsoft.Network/virtualNetworks/corp/subnets/training"
	body := func(ct string, sn any) map[string]any {
		inner := map[string]any{}
		if sn != nil {
			inner["subnet"] = sn
		}
		return map[string]any{"properties": map[string]any{"computeType": ct, "properties": inner}}
	}
	st, b := e.ARM(e.Admin, http.MethodPut, ws+"/computes/cl", api, body("AmlCompute", map[string]any{"id": subnet + "/"}))
	if st != http.StatusOK {
		t.Fatalf("cluster in a subnet: %d %v", st, b)
	}
	if got := b["properties"].(map[string]any)["properties"].(map[string]any)["subnet"].(map[string]any)["id"]; got != subnet {
		t.Fatalf("subnet kept as %v", got)
	}
	for _, tc := range []struct {
		name, ct string
		sn       any
		want     string
	}{
		{"not an object", "AmlCompute", "training", "properties.properties.subnet must be"},
		{"no id", "AmlCompute", map[string]any{}, "properties.properties.subnet must be"},
		{"a vnet, not a subnet", "AmlCompute", map[string]any{"id": rg + "/providers/Microsoft.Network/virtualNetworks/corp"}, "is not a subnet resource ID"},
		{"not an ID", "ComputeInstance", map[string]any{"id": "corp/training"}, "is not a subnet resource ID"},
	} {
		st, b := e.ARM(e.Admin, http.MethodPut, ws+"/computes/bad1", api, body(tc.ct, tc.sn))
		if st != http.StatusBadRequest || !strings.Contains(errText(b), tc.want) {
			t.Errorf("%s: %d %v", tc.name, st, b)
		}
	}
	// The subnet is fixed at creation: moving or removing it is refused.
	for _, sn := range []any{map[string]any{"id": rg + "/providers/Microsoft.Network/virtualNetworks/corp/subnets/dev"}, nil} {
		st, b := e.ARM(e.Admin, http.MethodPut, ws+"/computes/cl", api, body("AmlCompute", sn))
		if st != http.StatusBadRequest || !strings.Contains(errText(b), "cannot change after creation") {
			t.Errorf("changing the subnet to %v: %d %v", sn, st, b)
		}
	}
	// Same subnet, other case: no change.
	if st, b := e.ARM(e.Admin, http.MethodPut, ws+"/computes/cl", api, body("AmlCompute", map[string]any{"id": strings.ToUpper(subnet)})); st != http.StatusOK {
		t.Errorf("same subnet in another case: %d %v", st, b)
	}
}

func errText(b map[string]any) string {
	e, _ := b["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}
