package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store/pgtest"
)

// Two amlid replicas share one PostgreSQL database: what one writes the
// other serves at once, and a role assignment made on one takes effect on
// the other's very next request (issue 2 store; issue 4, no propagation
// delay across replicas).
func TestReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.Start(t)
	a := start(t, "", "--store", url)
	// Replicas share the key that seals Key Vault secrets, as they share
	// the database: it lives outside the store (issue 8).
	bDir := t.TempDir()
	key, err := os.ReadFile(server.VaultKeyFile(a.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(server.VaultKeyFile(bDir)), 0o700)
	if err := os.WriteFile(server.VaultKeyFile(bDir), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := start(t, bDir, "--store", url)
	if a.State.TenantID != b.State.TenantID || a.State.SubscriptionID != b.State.SubscriptionID {
		t.Fatal("replicas must share the tenant and subscription")
	}
	if a.State.StoreKind != "postgres" {
		t.Fatalf("store kind %q", a.State.StoreKind)
	}
	ctx := t.Context()
	sub := a.State.SubscriptionID
	adminA := a.credential(t, a.Boot.TenantID, a.Boot.ClientID, a.Boot.ClientSecret)
	rgA, _ := armresources.NewResourceGroupsClient(sub, adminA, a.armOptions())
	if _, err := rgA.CreateOrUpdate(ctx, "shared", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	// A worker principal, created through replica A.
	cfg := t.TempDir()
	sp := mustJSON(t, a.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "pg-worker"))
	oid := mustJSON(t, a.mustCLI(cfg, "ad", "sp", "show", "--id", sp["appId"].(string)))["id"].(string)
	workerB := b.credential(t, b.Boot.TenantID, sp["appId"].(string), sp["password"].(string))
	rgB, _ := armresources.NewResourceGroupsClient(sub, workerB, b.armOptions())
	if _, err := rgB.Get(ctx, "shared", nil); err == nil {
		t.Fatal("no role yet: replica B must refuse")
	} else if code, _ := respCode(err); code != http.StatusForbidden {
		t.Fatalf("want 403, got %v", err)
	}
	ra, _ := armauthorization.NewRoleAssignmentsClient(sub, adminA, a.armOptions())
	if _, err := ra.Create(ctx, "/subscriptions/"+sub+"/resourceGroups/shared", "5f3c5d2a-0000-4000-8000-000000000001",
		armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr("/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rgB.Get(ctx, "shared", nil); err != nil {
		t.Fatalf("replica B must honour the assignment made on A at once: %v", err)
	}
}
