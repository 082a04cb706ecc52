package access

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
)

const (
	sub    = "/subscriptions/00000000-0000-0000-0000-0000000000aa"
	rg     = sub + "/resourceGroups/rg"
	tenant = "11111111-1111-1111-1111-111111111111"
)

func uai(name, pid string) (string, *arm.UserAssignedIdentity) {
	return rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name, &arm.UserAssignedIdentity{PrincipalID: pid, ClientID: "client-" + pid}
}

// The acting identity is the same whatever the case of the UAI names: uaiB
// and uaia sort as uaia first (lower-cased IDs), never by raw bytes.
func TestActingIdentityOrder(t *testing.T) {
	idB, uB := uai("uaiB", "pid-b")
	ida, ua := uai("uaia", "pid-a")
	ep := &arm.Resource{ID: rg + "/providers/Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e", Type: catalog.TypeOnlineEndpoint,
		Identity: &arm.Identity{Type: "UserAssigned", UserAssignedIdentities: map[string]*arm.UserAssignedIdentity{idB: uB, ida: ua}}}
	for i := 0; i < 20; i++ { // map order varies
		got, ok := Acting(ep)
		if !ok || got.PrincipalID != "pid-a" || got.ResourceID != ida {
			t.Fatalf("Acting = %+v, want uaia", got)
		}
		if DefaultClientID(ep) != "client-pid-a" {
			t.Fatalf("DefaultClientID = %q", DefaultClientID(ep))
		}
	}
	ep.Identity.Type = "SystemAssigned,UserAssigned"
	ep.Identity.PrincipalID = "pid-sai"
	if got, _ := Acting(ep); got.Kind != SystemAssigned || got.PrincipalID != "pid-sai" {
		t.Fatalf("with a SAI, Acting = %+v", got)
	}
	if DefaultClientID(ep) != "" {
		t.Fatal("DEFAULT_IDENTITY_CLIENT_ID is for user-assigned default identities only")
	}
	ids := Identities(ep)
	if len(ids) != 3 || ids[1].ResourceID != ida || ids[2].ResourceID != idB {
		t.Fatalf("Identities order: %+v", ids)
	}
}

// engineDecider is a Decider over one engine, for tests and benchmarks.
type engineDecider struct {
	e      *rbac.Engine
	groups map[string][]string
}

func (d engineDecider) Check(_ context.Context, _, p, action string, data bool, scope string) (rbac.Decision, error) {
	return d.e.Check(rbac.Request{PrincipalID: p, GroupIDs: d.groups[p], Action: action, DataAction: data, Scope: scope}), nil
}
func (d engineDecider) GroupsOf(_ context.Context, _, p string) ([]string, error) {
	return d.groups[p], nil
}
func (d engineDecider) AssignmentsAt(_ context.Context, _, p, scope string) ([]rbac.Assignment, error) {
	return d.e.AssignmentsFor(p, d.groups[p], scope), nil
}
func (d engineDecider) Role(id string) (rbac.RoleDefinition, bool) { return d.e.Role(id) }

func assign(t testing.TB, e *rbac.Engine, name, pid string, role catalog.Role, scope string) {
	t.Helper()
	err := e.PutAssignment(rbac.Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, Scope: scope, PrincipalID: pid,
		PrincipalType: "ServicePrincipal", RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + role.ID})
	if err != nil {
		t.Fatal(err)
	}
}

func workspaceGraph() (*MemorySource, string, string, string) {
	storage := rg + "/providers/Microsoft.Storage/storageAccounts/st"
	vault := rg + "/providers/Microsoft.KeyVault/vaults/kv"
	reg := rg + "/providers/Microsoft.ContainerRegistry/registries/cr"
	uaiID, _ := uai("wsid", "pid-ws")
	ws := &arm.Resource{ID: rg + "/providers/Microsoft.MachineLearningServices/workspaces/w", Type: catalog.TypeWorkspace, Name: "w",
		Identity:   &arm.Identity{Type: "UserAssigned", TenantID: tenant, UserAssignedIdentities: map[string]*arm.UserAssignedIdentity{uaiID: {PrincipalID: "pid-ws", ClientID: "c-ws"}}},
		Properties: map[string]any{"storageAccount": storage, "keyVault": vault, "containerRegistry": reg, "primaryUserAssignedIdentity": uaiID, "tenantId": tenant}}
	src := NewMemorySource(nil,
		ws,
		&arm.Resource{ID: uaiID, Type: catalog.TypeUserAssignedMI, Name: "wsid", Properties: map[string]any{"principalId": "pid-ws", "clientId": "c-ws", "tenantId": tenant}},
		&arm.Resource{ID: storage, Type: catalog.TypeStorageAccount, Name: "st", Properties: map[string]any{}},
		&arm.Resource{ID: vault, Type: catalog.TypeVault, Name: "kv", Properties: map[string]any{"tenantId": tenant, "enableRbacAuthorization": false,
			"accessPolicies": []any{map[string]any{"tenantId": tenant, "objectId": "group-ops", "permissions": map[string]any{"secrets": []any{"get", "list", "set", "delete", "backup", "restore"}}}}}},
		&arm.Resource{ID: reg, Type: catalog.TypeRegistry, Name: "cr"},
	)
	return src, storage, vault, reg
}

// WS-5 under the access-policy model reads policies as the data plane
// does: through the identity's groups, and names exactly what is missing.
func TestWS5AccessPolicyModel(t *testing.T) {
	ctx := context.Background()
	src, storage, vault, reg := workspaceGraph()
	ws, _ := src.Get(ctx, rg+"/providers/Microsoft.MachineLearningServices/workspaces/w")
	e := rbac.NewEngine()
	d := engineDecider{e: e, groups: map[string][]string{"pid-ws": {"group-ops"}}}
	res, err := WS5(ctx, src, ws)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := EvaluateAll(ctx, d, src, res.Requirements)
	if err != nil {
		t.Fatal(err)
	}
	var policy *Finding
	for i, f := range fs {
		if f.Kind == KindPolicy {
			policy = &fs[i]
		}
	}
	if policy == nil || policy.Met || !slices.Equal(policy.Missing, []string{"recover"}) || !strings.Contains(policy.Fix, "amlid keyvault set-policy --name kv --object-id pid-ws --secret-permissions get list set delete backup restore recover") {
		t.Fatalf("policy finding: %+v", policy)
	}
	if n := len(Unmet(fs)); n != 5 { // Contributor ×4 (ws, storage, vault, registry) + policy
		t.Fatalf("unmet = %d: %+v", n, Unmet(fs))
	}
	for _, sc := range []string{ws.ID, storage, vault, reg} {
		assign(t, e, fmt.Sprintf("c%d", len(sc)), "pid-ws", catalog.Contributor, sc)
	}
	v, _ := src.Get(ctx, vault)
	v.Properties["accessPolicies"] = append(v.Properties["accessPolicies"].([]any), map[string]any{"tenantId": tenant, "objectId": "pid-ws", "permissions": map[string]any{"secrets": []any{"recover"}}})
	fs, _ = EvaluateAll(ctx, d, src, res.Requirements)
	if u := Unmet(fs); len(u) != 0 {
		t.Fatalf("still unmet: %+v", u)
	}
	// A policy of another tenant, or bound to another application, grants nothing.
	v.Properties["accessPolicies"] = []any{map[string]any{"tenantId": "other", "objectId": "pid-ws", "permissions": map[string]any{"secrets": []any{"all"}}},
		map[string]any{"tenantId": tenant, "objectId": "pid-ws", "applicationId": "some-app", "permissions": map[string]any{"secrets": []any{"all"}}}}
	fs, _ = EvaluateAll(ctx, d, src, res.Requirements)
	if u := Unmet(fs); len(u) != 1 || u[0].Kind != KindPolicy {
		t.Fatalf("foreign policies must not count: %+v", u)
	}
}

// The analyzer reports EP-3 gaps, a deployment under its endpoint, and an
// Owner grant where a data reader suffices; fixing both clears the report.
func TestAnalyzerFindsGapsAndExcess(t *testing.T) {
	ctx := context.Background()
	src, storage, _, reg := workspaceGraph()
	ws, _ := src.Get(ctx, rg+"/providers/Microsoft.MachineLearningServices/workspaces/w")
	ws.Properties["primaryUserAssignedIdentity"] = ""
	ep := &arm.Resource{ID: ws.ID + "/onlineEndpoints/e", Type: catalog.TypeOnlineEndpoint, Name: "e",
		Identity: &arm.Identity{Type: "SystemAssigned", PrincipalID: "pid-ep", TenantID: tenant}}
	src.Put(ep)
	src.Put(&arm.Resource{ID: ep.ID + "/deployments/blue", Type: catalog.TypeDeployment, Name: "blue"})
	e := rbac.NewEngine()
	assign(t, e, "owner", "pid-ep", catalog.Owner, storage)
	a := &Analyzer{Src: src, Decider: engineDecider{e: e}}
	rep, err := a.Analyze(ctx, rg, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Unmet != 2 || len(rep.Excess) != 1 || rep.Excess[0].Role != "Owner" {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Resources) != 3 || rep.Resources[2].Type != catalog.TypeDeployment || rep.Resources[2].Identity.PrincipalID != "pid-ep" {
		t.Fatalf("resources: %+v", rep.Resources)
	}
	if want := `amlid role assignment delete --assignee pid-ep --role "Owner" --scope ` + storage; rep.Excess[0].Fix != want {
		t.Fatalf("excess fix %q", rep.Excess[0].Fix)
	}
	assign(t, e, "pull", "pid-ep", catalog.AcrPull, reg)
	assign(t, e, "read", "pid-ep", catalog.StorageBlobDataReader, storage)
	e.DeleteAssignment("owner")
	if rep, _ = a.Analyze(ctx, rg, ""); !rep.OK() {
		t.Fatalf("after the fixes: %+v", rep)
	}
}

// who-can agrees with the RBAC engine on random graphs: the principals it
// lists are exactly those Check allows.
func TestWhoCanAgreesWithCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	scopes := []string{"/", sub, rg, rg + "/providers/Microsoft.Storage/storageAccounts/st", rg + "/providers/Microsoft.Storage/storageAccounts/st/blobServices/default/containers/c",
		sub + "/resourceGroups/other", rg + "/providers/Microsoft.KeyVault/vaults/kv"}
	actions := []struct {
		a    string
		data bool
	}{{catalog.BlobRead, true}, {catalog.BlobWrite, true}, {catalog.StorageAccountWrite, false}, {catalog.RegistryPull, false},
		{catalog.SecretGet, true}, {"Microsoft.Resources/subscriptions/resourceGroups/read", false}, {catalog.RoleAssignmentWrite, false}}
	roles := catalog.BuiltinRoles()
	for round := 0; round < 30; round++ {
		e := rbac.NewEngine()
		var principals []string
		for i := 0; i < 12; i++ {
			principals = append(principals, fmt.Sprintf("p%d", i))
		}
		groups := []string{"g0", "g1", "g2"}
		members := map[string][]Member{}
		memberOf := map[string][]string{}
		for _, p := range principals {
			if r.IntN(3) == 0 {
				g := groups[r.IntN(len(groups))]
				members[g] = append(members[g], Member{ID: p, Type: "ServicePrincipal"})
				memberOf[p] = append(memberOf[p], g)
			}
		}
		var as []rbac.Assignment
		for i := 0; i < 25; i++ {
			pid, ptype := principals[r.IntN(len(principals))], "ServicePrincipal"
			if r.IntN(4) == 0 {
				pid, ptype = groups[r.IntN(len(groups))], "Group"
			}
			role := roles[r.IntN(len(roles))]
			sc := scopes[r.IntN(len(scopes))]
			a := rbac.Assignment{ID: fmt.Sprintf("%s/a%d", sc, i), Name: fmt.Sprintf("a%d-%d", round, i), Scope: sc, PrincipalID: pid, PrincipalType: ptype,
				RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + role.ID}
			if e.PutAssignment(a) == nil {
				as = append(as, a)
			}
		}
		x := NewWhoCanIndex(as, e.Role)
		x.Members = func(g string) []Member { return members[g] }
		for _, sc := range scopes {
			for _, ac := range actions {
				got := Principals(x.WhoCan(sc, ac.a, ac.data))
				var want []string
				for _, p := range append(append([]string{}, principals...), groups...) {
					if e.Check(rbac.Request{PrincipalID: p, GroupIDs: memberOf[p], Action: ac.a, DataAction: ac.data, Scope: sc}).Allowed {
						want = append(want, p)
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d who-can %s on %s: got %v, Check allows %v", round, ac.a, sc, got, want)
				}
			}
		}
	}
}
