package e2e

import (
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azarm "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// cloudConfig points the SDK at amlid.
func (in *instance) cloudConfig() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: in.State.AuthorityHost + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: in.State.ARMURL, Audience: "https://management.azure.com"},
		},
	}
}

// credential is a ClientSecretCredential for (tenant, id, secret) against amlid.
func (in *instance) credential(t *testing.T, tenant, id, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, id, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: in.cloudConfig(), Transport: in.httpClient()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func (in *instance) armOptions() *azarm.ClientOptions {
	return &azarm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: in.cloudConfig(), Transport: in.httpClient()}}
}

func respCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// The Go SDK's armresources and armmsi clients create, read, update, list
// and delete resource groups and identities against a running amlid over
// TLS, authenticated by azidentity (issue 2, issue 3).
func TestSDKResourceGroupsAndIdentities(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	sub := in.State.SubscriptionID
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	rgc, err := armresources.NewResourceGroupsClient(sub, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	rg, err := rgc.CreateOrUpdate(ctx, "sdk-rg", armresources.ResourceGroup{Location: to.Ptr("eastus"), Tags: map[string]*string{"team": to.Ptr("ml")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *rg.ID != "/subscriptions/"+sub+"/resourceGroups/sdk-rg" || *rg.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("rg: %+v", rg)
	}
	if _, err := rgc.Update(ctx, "sdk-rg", armresources.ResourceGroupPatchable{Tags: map[string]*string{"team": to.Ptr("platform")}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := rgc.Get(ctx, "SDK-RG", nil)
	if err != nil || *got.Tags["team"] != "platform" {
		t.Fatalf("get: %v %+v", err, got)
	}
	if ex, err := rgc.CheckExistence(ctx, "sdk-rg", nil); err != nil || !ex.Success {
		t.Fatalf("exists: %v %v", err, ex.Success)
	}
	pager := rgc.NewListPager(nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("list: %d groups", n)
	}

	ids, err := armmsi.NewUserAssignedIdentitiesClient(sub, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	created, err := ids.CreateOrUpdate(ctx, "sdk-rg", "trainer", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := created.Properties
	if p.PrincipalID == nil || p.ClientID == nil || *p.TenantID != in.Boot.TenantID {
		t.Fatalf("identity properties: %+v", p)
	}
	upd, err := ids.Update(ctx, "sdk-rg", "trainer", armmsi.IdentityUpdate{Tags: map[string]*string{"k": to.Ptr("v")}}, nil)
	if err != nil || *upd.Properties.PrincipalID != *p.PrincipalID || *upd.Tags["k"] != "v" {
		t.Fatalf("update: %v %+v", err, upd)
	}
	if g, err := ids.Get(ctx, "sdk-rg", "trainer", nil); err != nil || *g.Properties.ClientID != *p.ClientID {
		t.Fatalf("get identity: %v", err)
	}
	for _, pg := range []func() (int, error){
		func() (int, error) {
			pgr := ids.NewListByResourceGroupPager("sdk-rg", nil)
			page, err := pgr.NextPage(ctx)
			return len(page.Value), err
		},
		func() (int, error) {
			pgr := ids.NewListBySubscriptionPager(nil)
			page, err := pgr.NextPage(ctx)
			return len(page.Value), err
		},
	} {
		if n, err := pg(); err != nil || n != 1 {
			t.Fatalf("list identities: %d %v", n, err)
		}
	}
	if _, err := ids.Delete(ctx, "sdk-rg", "trainer", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.Get(ctx, "sdk-rg", "trainer", nil); err == nil {
		t.Fatal("deleted identity still readable")
	} else if code, ec := respCode(err); code != http.StatusNotFound || ec != "ResourceNotFound" {
		t.Fatalf("want 404 ResourceNotFound, got %d %s", code, ec)
	}
	poller, err := rgc.BeginDelete(ctx, "sdk-rg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rgc.Get(ctx, "sdk-rg", nil); err == nil {
		t.Fatal("group still there")
	} else if code, ec := respCode(err); code != 404 || ec != "ResourceGroupNotFound" {
		t.Fatalf("want 404 ResourceGroupNotFound, got %d %s", code, ec)
	}
}

// armauthorization creates, lists (each filter) and deletes role
// assignments; a principal without a role is refused (issue 4).
func TestSDKRoleAssignments(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	sub := in.State.SubscriptionID
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	rgc, _ := armresources.NewResourceGroupsClient(sub, admin, in.armOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "rbac-rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	// A new service principal with no role.
	cfg := t.TempDir()
	out := in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "worker")
	sp := mustJSON(t, out)
	appID, secret := sp["appId"].(string), sp["password"].(string)
	spOut := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "show", "--id", appID))
	oid := spOut["id"].(string)
	worker := in.credential(t, in.Boot.TenantID, appID, secret)

	wrgc, _ := armresources.NewResourceGroupsClient(sub, worker, in.armOptions())
	_, err := wrgc.Get(ctx, "rbac-rg", nil)
	if code, ec := respCode(err); code != http.StatusForbidden || ec != "AuthorizationFailed" {
		t.Fatalf("a principal with no role must get 403 AuthorizationFailed, got %d %s (%v)", code, ec, err)
	}

	ra, err := armauthorization.NewRoleAssignmentsClient(sub, admin, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + sub + "/resourceGroups/rbac-rg"
	readerID := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	name := "0b8a2c3e-1111-4a4a-9c9c-5d5d5d5d5d5d"
	res, err := ra.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr(readerID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *res.Properties.Scope != scope || *res.Name != name {
		t.Fatalf("created: %+v", res.Properties)
	}
	// Duplicate under a new name → 409 RoleAssignmentExists.
	_, err = ra.Create(ctx, scope, "0b8a2c3e-2222-4a4a-9c9c-5d5d5d5d5d5d", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr(readerID)}}, nil)
	if code, ec := respCode(err); code != http.StatusConflict || ec != "RoleAssignmentExists" {
		t.Fatalf("duplicate: %d %s", code, ec)
	}
	// Takes effect on the next request: Reader reads, writes nothing.
	if _, err := wrgc.Get(ctx, "rbac-rg", nil); err != nil {
		t.Fatalf("reader must read: %v", err)
	}
	_, err = wrgc.CreateOrUpdate(ctx, "rbac-rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil)
	if code, _ := respCode(err); code != http.StatusForbidden {
		t.Fatalf("reader must not write: %v", err)
	}
	count := func(scope string, filter *string) int {
		pg := ra.NewListForScopePager(scope, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: filter})
		n := 0
		for pg.More() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("list %s %v: %v", scope, filter, err)
			}
			for _, v := range page.Value {
				if *v.Properties.PrincipalID == oid {
					n++
				}
			}
		}
		return n
	}
	subScope := "/subscriptions/" + sub
	// The Go SDK appends $filter unencoded: callers must encode spaces.
	for _, tc := range []struct {
		scope  string
		filter *string
		want   int
	}{
		{scope, nil, 1},
		{scope, to.Ptr("atScope()"), 1},
		{subScope, to.Ptr("atScope()"), 0},
		{subScope, nil, 1},
		{subScope, to.Ptr("principalId%20eq%20'" + oid + "'"), 1},
		{subScope, to.Ptr("assignedTo('" + oid + "')"), 1},
		{scope, to.Ptr("atScope()%20and%20assignedTo('" + oid + "')"), 1},
	} {
		if got := count(tc.scope, tc.filter); got != tc.want {
			f := "<none>"
			if tc.filter != nil {
				f = *tc.filter
			}
			t.Errorf("list at %s filter %s: %d, want %d", tc.scope, f, got, tc.want)
		}
	}
	if g, err := ra.Get(ctx, scope, name, nil); err != nil || *g.Properties.PrincipalID != oid {
		t.Fatalf("get: %v", err)
	}
	if _, err := ra.Delete(ctx, scope, name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := wrgc.Get(ctx, "rbac-rg", nil); err == nil {
		t.Fatal("after delete the principal must be refused again")
	}
}
