package e2e

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
)

// The Go SDK's armmachinelearning client creates, updates and reads
// workspaces with system-, user- and system+user-assigned identities
// (issue 9; rules WS-1, WS-3, WS-4).
func TestSDKMachineLearningWorkspaces(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	sub := in.State.SubscriptionID
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	rgc, _ := armresources.NewResourceGroupsClient(sub, cred, in.armOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "sdk-ml", armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	ids, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred, in.armOptions())
	uai := func(name string) string {
		r, err := ids.CreateOrUpdate(ctx, "sdk-ml", name, armmsi.Identity{Location: to.Ptr("westeurope")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *r.ID
	}
	u1, u2 := uai("sdk-u1"), uai("sdk-u2")
	wc, err := armmachinelearning.NewWorkspacesClient(sub, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string, ws armmachinelearning.Workspace) armmachinelearning.Workspace {
		t.Helper()
		p, err := wc.BeginCreateOrUpdate(ctx, "sdk-ml", name, ws, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.PollUntilDone(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Workspace
	}

	// System-assigned.
	sai := create("sdk-sai", armmachinelearning.Workspace{Location: to.Ptr("westeurope"),
		Identity:   &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssigned)},
		Properties: &armmachinelearning.WorkspaceProperties{FriendlyName: to.Ptr("SDK workspace")}})
	if *sai.Identity.Type != armmachinelearning.ManagedServiceIdentityTypeSystemAssigned || sai.Identity.PrincipalID == nil ||
		sai.Properties.StorageAccount == nil || sai.Properties.KeyVault == nil || sai.Properties.WorkspaceID == nil {
		t.Fatalf("system-assigned workspace: %+v %+v", sai.Identity, sai.Properties)
	}

	// Update to system+user-assigned (WS-3 allows it).
	up, err := wc.BeginUpdate(ctx, "sdk-ml", "sdk-sai", armmachinelearning.WorkspaceUpdateParameters{
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssignedUserAssigned),
			UserAssignedIdentities: map[string]*armmachinelearning.UserAssignedIdentity{u1: {}}},
		Properties: &armmachinelearning.WorkspacePropertiesUpdateParameters{Description: to.Ptr("now with a UAI")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	upd, err := up.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *upd.Identity.Type != armmachinelearning.ManagedServiceIdentityTypeSystemAssignedUserAssigned || *upd.Identity.PrincipalID != *sai.Identity.PrincipalID ||
		upd.Identity.UserAssignedIdentities[u1] == nil || upd.Identity.UserAssignedIdentities[u1].ClientID == nil {
		t.Fatalf("system+user-assigned: %+v", upd.Identity)
	}

	// User-assigned, bringing the storage account and key vault of the
	// first workspace; the primary UAI holds the WS-5 roles (Owner of the
	// group here, granted through armauthorization elsewhere: the CLI test
	// covers the refusal).
	grantRG(t, in, cred, u1p(t, ids, "sdk-u1"), "/subscriptions/"+sub+"/resourceGroups/sdk-ml")
	uw := create("sdk-uai", armmachinelearning.Workspace{Location: to.Ptr("westeurope"),
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armmachinelearning.UserAssignedIdentity{u1: {}, u2: {}}},
		Properties: &armmachinelearning.WorkspaceProperties{PrimaryUserAssignedIdentity: to.Ptr(u1),
			StorageAccount: sai.Properties.StorageAccount, KeyVault: sai.Properties.KeyVault}})
	if *uw.Identity.Type != armmachinelearning.ManagedServiceIdentityTypeUserAssigned || len(uw.Identity.UserAssignedIdentities) != 2 ||
		*uw.Properties.PrimaryUserAssignedIdentity != u1 {
		t.Fatalf("user-assigned: %+v %+v", uw.Identity, uw.Properties)
	}
	got, err := wc.Get(ctx, "sdk-ml", "sdk-uai", nil)
	if err != nil || got.Identity.UserAssignedIdentities[u2] == nil {
		t.Fatalf("get: %v %+v", err, got.Identity)
	}
	// WS-4 through the SDK: the update's set replaces the old one.
	up2, err := wc.BeginUpdate(ctx, "sdk-ml", "sdk-uai", armmachinelearning.WorkspaceUpdateParameters{
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armmachinelearning.UserAssignedIdentity{u1: {}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := up2.PollUntilDone(ctx, nil)
	if err != nil || len(after.Identity.UserAssignedIdentities) != 1 || after.Identity.UserAssignedIdentities[u1] == nil {
		t.Fatalf("WS-4 update: %v %+v", err, after.Identity)
	}
	pager := wc.NewListByResourceGroupPager("sdk-ml", nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("list: %d workspaces", n)
	}
}

func u1p(t *testing.T, ids *armmsi.UserAssignedIdentitiesClient, name string) string {
	r, err := ids.Get(t.Context(), "sdk-ml", name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return *r.Properties.PrincipalID
}

// grantRG gives principal Contributor and Key Vault Administrator on a
// resource group through armauthorization: what rule WS-5 asks of a
// user-assigned workspace's primary identity, inherited by the group's
// storage account and key vault.
func grantRG(t *testing.T, in *instance, cred azcore.TokenCredential, principal, scope string) {
	t.Helper()
	ra, err := armauthorization.NewRoleAssignmentsClient(in.State.SubscriptionID, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"b24988ac-6180-42a0-ab88-20f7382dd24c", "00482a5a-887f-4fb3-b363-3b7fe8e74483"} {
		_, err := ra.Create(t.Context(), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(principal), RoleDefinitionID: to.Ptr("/subscriptions/" + in.State.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
			PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
}
