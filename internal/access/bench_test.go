package access

import (
	"context"
	"fmt"
	"testing"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
)

// BenchmarkAnalyze analyzes 1,000 workspaces with 10 endpoints each (10,000
// endpoints), every endpoint identity holding its EP-3 roles, half of them
// through one shared user-assigned identity (issue 14 target: < 2 s).
func BenchmarkAnalyze(b *testing.B) {
	ctx := context.Background()
	src := NewMemorySource(nil)
	e := rbac.NewEngine()
	n := 0
	for w := 0; w < 1000; w++ {
		wrg := fmt.Sprintf("%s/resourceGroups/rg%d", sub, w%50)
		storage := wrg + fmt.Sprintf("/providers/Microsoft.Storage/storageAccounts/st%d", w)
		reg := wrg + fmt.Sprintf("/providers/Microsoft.ContainerRegistry/registries/cr%d", w)
		ws := &arm.Resource{ID: wrg + fmt.Sprintf("/providers/Microsoft.MachineLearningServices/workspaces/w%d", w), Type: catalog.TypeWorkspace,
			Identity:   &arm.Identity{Type: "SystemAssigned", PrincipalID: fmt.Sprintf("ws-%d", w), TenantID: tenant},
			Properties: map[string]any{"storageAccount": storage, "containerRegistry": reg}}
		src.Put(ws)
		src.Put(&arm.Resource{ID: storage, Type: catalog.TypeStorageAccount, Properties: map[string]any{}})
		for i := 0; i < 10; i++ {
			pid := fmt.Sprintf("ep-%d-%d", w, i)
			ep := &arm.Resource{ID: ws.ID + fmt.Sprintf("/onlineEndpoints/e%d", i), Type: catalog.TypeOnlineEndpoint,
				Identity: &arm.Identity{Type: "SystemAssigned", PrincipalID: pid, TenantID: tenant}}
			src.Put(ep)
			src.Put(&arm.Resource{ID: ep.ID + "/deployments/blue", Type: catalog.TypeDeployment})
			for _, g := range []struct {
				role  catalog.Role
				scope string
			}{{catalog.AcrPull, reg}, {catalog.StorageBlobDataReader, storage}} {
				n++
				if err := e.PutAssignment(rbac.Assignment{Name: fmt.Sprintf("a%d", n), Scope: g.scope, PrincipalID: pid, PrincipalType: "ServicePrincipal",
					RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + g.role.ID}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	a := &Analyzer{Src: src, Decider: engineDecider{e: e}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := a.Analyze(ctx, sub, "")
		if err != nil {
			b.Fatal(err)
		}
		if rep.Unmet != 0 || len(rep.Resources) != 21000 {
			b.Fatalf("unmet %d, resources %d", rep.Unmet, len(rep.Resources))
		}
	}
}

// BenchmarkWhoCan asks who may read blobs in one container with 1,000,000
// assignments spread over 1,000 storage accounts (issue 14 target: < 50 ms).
func BenchmarkWhoCan(b *testing.B) {
	const total = 1_000_000
	roles := []catalog.Role{catalog.StorageBlobDataReader, catalog.Reader, catalog.AcrPull, catalog.Contributor, catalog.StorageBlobDataContributor}
	as := make([]rbac.Assignment, 0, total)
	for i := 0; i < total; i++ {
		scope := fmt.Sprintf("%s/resourceGroups/rg%d/providers/Microsoft.Storage/storageAccounts/st%d", sub, i%100, i%1000)
		as = append(as, rbac.Assignment{Name: fmt.Sprintf("a%d", i), Scope: scope, PrincipalID: fmt.Sprintf("p%d", i), PrincipalType: "ServicePrincipal",
			RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + roles[(i/1000)%len(roles)].ID})
	}
	e := rbac.NewEngine()
	x := NewWhoCanIndex(as, e.Role)
	target := sub + "/resourceGroups/rg7/providers/Microsoft.Storage/storageAccounts/st7/blobServices/default/containers/data"
	b.ResetTimer()
	for b.Loop() {
		gs := x.WhoCan(target, catalog.BlobRead, true)
		if len(gs) != 400 { // 1,000 assignments on st7, 2 of 5 roles read blobs
			b.Fatalf("who-can: %d grants", len(gs))
		}
	}
}
