package access

import (
	"context"
	"testing"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// ACR-2 asks the default identity (CMP-2: the first UAI by lower-cased ID)
// of a cluster or instance for AcrPull on the workspace registry, and only
// notes a registry that does not exist yet; CMP-6 asks an instance with idle
// shutdown for Contributor (computes/stop) on the workspace; attached
// computes and instances without idle shutdown ask nothing.
func TestComputeRules(t *testing.T) {
	ctx := context.Background()
	wsID := rg + "/providers/Microsoft.MachineLearningServices/workspaces/w"
	reg := rg + "/providers/Microsoft.ContainerRegistry/registries/r"
	ws := &arm.Resource{ID: wsID, Type: catalog.TypeWorkspace, Properties: map[string]any{"containerRegistry": reg, "tenantId": tenant}}
	idB, uB := uai("uaiB", "pid-b")
	ida, ua := uai("uaia", "pid-a")
	cluster := &arm.Resource{ID: wsID + "/computes/c", Name: "c", Type: catalog.TypeCompute, Properties: map[string]any{"computeType": ComputeAml},
		Identity: &arm.Identity{Type: "UserAssigned", UserAssignedIdentities: map[string]*arm.UserAssignedIdentity{idB: uB, ida: ua}}}
	src := NewMemorySource(nil, ws, cluster)
	res, err := ACR2(ctx, src, cluster)
	if err != nil || len(res.Requirements) != 1 {
		t.Fatalf("ACR-2: %+v %v", res, err)
	}
	q := res.Requirements[0]
	if q.Identity.PrincipalID != "pid-a" || q.Role != catalog.AcrPull.Name || q.Scope != reg || q.Action != catalog.RegistryPull || q.Identity.TenantID != tenant {
		t.Fatalf("ACR-2 requirement: %+v", q)
	}
	delete(ws.Properties, "containerRegistry")
	if res, _ := ACR2(ctx, src, cluster); len(res.Requirements) != 0 || len(res.Notes) != 1 {
		t.Fatalf("ACR-2 without a registry: %+v", res)
	}
	k8s := &arm.Resource{ID: wsID + "/computes/k", Type: catalog.TypeCompute, Properties: map[string]any{"computeType": ComputeK8s}}
	if res, _ := ACR2(ctx, src, k8s); len(res.Requirements)+len(res.Notes) != 0 {
		t.Fatalf("ACR-2 on an attached cluster: %+v", res)
	}

	ci := &arm.Resource{ID: wsID + "/computes/i", Name: "i", Type: catalog.TypeCompute,
		Properties: map[string]any{"computeType": ComputeInstance, "properties": map[string]any{"idleTimeBeforeShutdown": "PT30M"}},
		Identity:   &arm.Identity{Type: "SystemAssigned", PrincipalID: "pid-ci"}}
	res, err = CMP6(ctx, src, ci)
	if err != nil || len(res.Requirements) != 1 {
		t.Fatalf("CMP-6: %+v %v", res, err)
	}
	q = res.Requirements[0]
	if q.Identity.PrincipalID != "pid-ci" || q.Role != catalog.Contributor.Name || q.Scope != wsID || q.Action != catalog.ComputeStop {
		t.Fatalf("CMP-6 requirement: %+v", q)
	}
	ci.Properties["properties"] = map[string]any{}
	if res, _ := CMP6(ctx, src, ci); len(res.Requirements) != 0 {
		t.Fatalf("CMP-6 without idle shutdown: %+v", res)
	}
	if res, _ := CMP6(ctx, src, cluster); len(res.Requirements) != 0 {
		t.Fatalf("CMP-6 on a cluster: %+v", res)
	}
	var ids []string
	for _, r := range RulesFor(catalog.TypeCompute) {
		ids = append(ids, r.ID)
	}
	if len(ids) != 2 || ids[0] != "ACR-2" || ids[1] != "CMP-6" {
		t.Fatalf("compute rules: %v", ids)
	}
}
