package compute_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

const api = "2023-04-01"

// A compute's life through ARM in-process (run with -race: node
// reconciliation, the janitor and the operations run concurrently), and
// every bad input a 4xx in ARM's error shape, never a 5xx.
func TestComputeLifecycleAndBadInput(t *testing.T) {
	e := testenv.New(t, testenv.Options{Quiet: true})
	rg := e.CreateGroup("cmp")
	ws := rg + "/providers/Microsoft.MachineLearningServices/workspaces/cmp-ws"
	if st, b := e.ARM(e.Admin, http.MethodPut, ws, api, map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"}}); st >= 300 {
		t.Fatalf("workspace: %d %v", st, b)
	}
	cluster := func(min, max int) map[string]any {
		return map[string]any{"identity": map[string]any{"type": "SystemAssigned"}, "properties": map[string]any{"computeType": "AmlCompute",
			"properties": map[string]any{"scaleSettings": map[string]any{"minNodeCount": min, "maxNodeCount": max}}}}
	}
	c := ws + "/computes/cl"
	if st, b := e.ARM(e.Admin, http.MethodPut, c, api, cluster(2, 3)); st != http.StatusOK || b["location"] != "eastus" {
		t.Fatalf("create: %d %v", st, b)
	}
	ci := ws + "/computes/inst"
	if st, b := e.ARM(e.Admin, http.MethodPut, ci, api, map[string]any{"properties": map[string]any{"computeType": "ComputeInstance"}}); st != http.StatusOK {
		t.Fatalf("instance: %d %v", st, b)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			verb := []string{"stop", "start", "restart", "listNodes"}[i]
			if st, b := e.ARM(e.Admin, http.MethodPost, ci+"/"+verb, api, nil); st >= 300 {
				t.Errorf("%s: %d %v", verb, st, b)
			}
			if st, b := e.ARM(e.Admin, http.MethodPost, c+"/listNodes", api, nil); st != http.StatusOK || len(b["nodes"].([]any)) != 2 {
				t.Errorf("listNodes: %d %v", st, b)
			}
		}(i)
	}
	wg.Wait()
	if st, b := e.ARM(e.Admin, http.MethodPatch, c, api, map[string]any{"properties": map[string]any{"properties": map[string]any{
		"scaleSettings": map[string]any{"minNodeCount": 1}}}}); st != http.StatusOK {
		t.Fatalf("patch: %d %v", st, b)
	}
	if st, b := e.ARM(e.Admin, http.MethodPost, c+"/listNodes", api, nil); st != http.StatusOK || len(b["nodes"].([]any)) < 1 {
		t.Fatalf("listNodes after patch: %d %v", st, b)
	}

	// An attached virtual machine keeps its administrator password for
	// listKeys and never returns it on GET.
	vm := ws + "/computes/vm"
	st, b := e.ARM(e.Admin, http.MethodPut, vm, api, map[string]any{"properties": map[string]any{"computeType": "VirtualMachine",
		"resourceId": rg + "/providers/Microsoft.Compute/virtualMachines/box",
		"properties": map[string]any{"administratorAccount": map[string]any{"username": "azureuser", "password": "S3cret!"}}}})
	if st != http.StatusOK || strings.Contains(fmt.Sprint(b), "S3cret!") {
		t.Fatalf("attach VM: %d %v", st, b)
	}
	if st, b := e.ARM(e.Admin, http.MethodGet, vm, api, nil); st != http.StatusOK || strings.Contains(fmt.Sprint(b), "S3cret!") {
		t.Fatalf("GET VM shows its password: %v", b)
	}
	if st, b := e.ARM(e.Admin, http.MethodPost, vm+"/listKeys", api, nil); st != http.StatusOK || b["administratorAccount"].(map[string]any)["password"] != "S3cret!" {
		t.Fatalf("listKeys: %d %v", st, b)
	}

	uai := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-one"
	if st, b := e.ARM(e.Admin, http.MethodPut, uai, "2023-01-31", map[string]any{"location": "eastus"}); st >= 300 {
		t.Fatalf("uai: %d %v", st, b)
	}
	both := cluster(0, 1)
	both["identity"] = map[string]any{"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": map[string]any{uai: map[string]any{}}}
	missing := cluster(0, 1)
	missing["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nobody": map[string]any{}}}
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"cl2", map[string]any{"properties": map[string]any{"computeType": "Databricks"}}, "not supported"},
		{"cl2", map[string]any{"properties": map[string]any{}}, "not supported"},
		{"cl2", cluster(3, 1), "must be at least minNodeCount"},
		{"cl2", both, "Rule CMP-1"},
		{"cl2", missing, "Rule CMP-1"},
		{"-bad", cluster(0, 1), "InvalidResourceName"},
		{"twenty-chars-cluster", cluster(0, 1), "2 to 16"},
		{"k8s", map[string]any{"properties": map[string]any{"computeType": "Kubernetes"}}, "resourceId"},
		{"k8s", map[string]any{"properties": map[string]any{"computeType": "Kubernetes", "resourceId": rg + "/providers/Microsoft.ContainerService/managedClusters/none"}}, "Rule ACR-3"},
		{"cl2", "not an object", "Invalid"},
	} {
		st, b := e.ARM(e.Admin, http.MethodPut, ws+"/computes/"+tc.name, api, tc.body)
		em, _ := b["error"].(map[string]any)
		if st < 400 || st >= 500 || em == nil || !strings.Contains(em["code"].(string)+" "+em["message"].(string), tc.want) {
			t.Errorf("PUT %s %v: %d %v; want a 4xx saying %q", tc.name, tc.body, st, b, tc.want)
		}
	}
	if st, b := e.ARM(e.Admin, http.MethodPost, c+"/stop", api, nil); st != http.StatusBadRequest {
		t.Errorf("stop on a cluster: %d %v", st, b)
	}
	if st, _ := e.ARM(e.Admin, http.MethodDelete, ws, "2023-04-01", nil); st >= 300 {
		t.Fatalf("delete workspace: %d", st)
	}
	e.HTTP.CloseIdleConnections() // the concurrent requests' spare connections would hold up the server's shutdown
}
