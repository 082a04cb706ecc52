package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/amlid/amlid/internal/testenv"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func armOpts(e *testenv.Env) *arm.ClientOptions {
	o := e.ClientOptions()
	o.Retry = policy.RetryOptions{MaxRetries: -1}
	return &arm.ClientOptions{ClientOptions: o}
}

func code(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestAccountsWithARMSDK drives Microsoft.Storage/storageAccounts with
// armstorage, the real Go client: create answers 200 (the client refuses
// 201), keys are listed and regenerated but never returned by GET, names
// are global.
func TestAccountsWithARMSDK(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	ctx := t.Context()
	ac, err := armstorage.NewAccountsClient(e.Sub(), e.Cred(e.Admin), armOpts(e))
	must(t, err)
	poller, err := ac.BeginCreate(ctx, e.RG, "sdkacct", armstorage.AccountCreateParameters{
		Location: ptr("westeurope"), Kind: ptr(armstorage.KindStorageV2), SKU: &armstorage.SKU{Name: ptr(armstorage.SKUNameStandardRAGRS)},
		Identity: &armstorage.Identity{Type: ptr(armstorage.IdentityTypeSystemAssigned)},
		Properties: &armstorage.AccountPropertiesCreateParameters{
			AllowBlobPublicAccess: ptr(false), IsHnsEnabled: ptr(true),
			NetworkRuleSet: &armstorage.NetworkRuleSet{DefaultAction: ptr(armstorage.DefaultActionDeny), Bypass: ptr(armstorage.BypassAzureServices),
				IPRules: []*armstorage.IPRule{{IPAddressOrRange: ptr("203.0.113.0/24")}}},
		}}, nil)
	must(t, err)
	created, err := poller.PollUntilDone(ctx, nil)
	must(t, err)
	p := created.Properties
	if *p.ProvisioningState != armstorage.ProvisioningStateSucceeded || *p.PrimaryEndpoints.Blob != e.AccountURL("sdkacct") ||
		!*p.AllowSharedKeyAccess || *p.AllowBlobPublicAccess || !*p.IsHnsEnabled || *created.SKU.Tier != armstorage.SKUTierStandard ||
		*p.NetworkRuleSet.DefaultAction != armstorage.DefaultActionDeny || *p.NetworkRuleSet.IPRules[0].IPAddressOrRange != "203.0.113.0/24" {
		t.Fatalf("created: %+v", p)
	}
	if created.Identity == nil || created.Identity.PrincipalID == nil || *created.Identity.TenantID != e.Tenant() {
		t.Fatalf("identity: %+v", created.Identity)
	}
	got, err := ac.GetProperties(ctx, e.RG, "sdkacct", nil)
	must(t, err)
	if *got.Location != "westeurope" || *got.Kind != armstorage.KindStorageV2 {
		t.Fatalf("get: %+v", got)
	}
	keys, err := ac.ListKeys(ctx, e.RG, "sdkacct", nil)
	must(t, err)
	if len(keys.Keys) != 2 || *keys.Keys[0].KeyName != "key1" || len(*keys.Keys[0].Value) != 88 || !strings.EqualFold(string(*keys.Keys[0].Permissions), string(armstorage.KeyPermissionFull)) {
		t.Fatalf("keys: %+v", keys.Keys)
	}
	// Keys never appear in GET or list answers.
	st, raw := e.ARM(e.Admin, http.MethodGet, e.AccountPath("sdkacct"), testenv.StorageAPIVersion, nil)
	b, _ := json.Marshal(raw)
	if st != http.StatusOK || strings.Contains(string(b), *keys.Keys[0].Value) || strings.Contains(string(b), *keys.Keys[1].Value) {
		t.Fatalf("GET leaks a key: %s", b)
	}
	regen, err := ac.RegenerateKey(ctx, e.RG, "sdkacct", armstorage.AccountRegenerateKeyParameters{KeyName: ptr("key2")}, nil)
	must(t, err)
	if *regen.Keys[0].Value != *keys.Keys[0].Value || *regen.Keys[1].Value == *keys.Keys[1].Value {
		t.Fatal("regenerateKey key2 must change key2 only")
	}
	// The old key2 no longer opens the data plane; the new one does.
	old, err := azblob.NewSharedKeyCredential("sdkacct", *keys.Keys[1].Value)
	must(t, err)
	oc, err := azblob.NewClientWithSharedKeyCredential(e.AccountURL("sdkacct"), old, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	must(t, err)
	// (network rules: loopback counts as itself here, so open the
	// firewall first)
	upd, err := ac.Update(ctx, e.RG, "sdkacct", armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
		NetworkRuleSet: &armstorage.NetworkRuleSet{DefaultAction: ptr(armstorage.DefaultActionAllow)}, AllowSharedKeyAccess: ptr(true)}}, nil)
	must(t, err)
	if *upd.Properties.NetworkRuleSet.DefaultAction != armstorage.DefaultActionAllow || !*upd.Properties.IsHnsEnabled || *upd.SKU.Name != armstorage.SKUNameStandardRAGRS {
		t.Fatalf("update: %+v", upd.Properties)
	}
	if _, err := oc.CreateContainer(ctx, "x", nil); code(err) != "AuthenticationFailed" {
		t.Fatalf("a regenerated key still works: %v", err)
	}
	// Lists.
	var names []string
	pager := ac.NewListByResourceGroupPager(e.RG, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		must(t, err)
		for _, a := range page.Value {
			names = append(names, *a.Name)
		}
	}
	if !slices.Equal(names, []string{"sdkacct"}) {
		t.Fatalf("list by group: %v", names)
	}
	sp := ac.NewListPager(nil)
	page, err := sp.NextPage(ctx)
	must(t, err)
	if len(page.Value) != 1 {
		t.Fatalf("list by subscription: %d", len(page.Value))
	}
	// Names are global: another group cannot take it.
	st, _ = e.ARM(e.Admin, http.MethodPut, "/subscriptions/"+e.Sub()+"/resourcegroups/rg2", "2021-04-01", map[string]any{"location": "eastus"})
	testenv.MustStatus(t, "rg2", st, http.StatusCreated, nil)
	_, err = ac.BeginCreate(ctx, "rg2", "sdkacct", armstorage.AccountCreateParameters{Location: ptr("eastus"), Kind: ptr(armstorage.KindStorageV2),
		SKU: &armstorage.SKU{Name: ptr(armstorage.SKUNameStandardLRS)}}, nil)
	if code(err) != "StorageAccountAlreadyTaken" {
		t.Fatalf("same name in another group: %v", err)
	}
	for _, bad := range []string{"UPPER", "ab", "has-dash", "waytoolongaccountname12345"} {
		_, err = ac.BeginCreate(ctx, e.RG, bad, armstorage.AccountCreateParameters{Location: ptr("eastus"), Kind: ptr(armstorage.KindStorageV2),
			SKU: &armstorage.SKU{Name: ptr(armstorage.SKUNameStandardLRS)}}, nil)
		if code(err) != "AccountNameInvalid" {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	_, err = ac.BeginCreate(ctx, e.RG, "nosku", armstorage.AccountCreateParameters{Location: ptr("eastus"), Kind: ptr(armstorage.KindStorageV2)}, nil)
	if err == nil {
		t.Fatal("an account without sku was accepted")
	}
	// Delete frees the name.
	_, err = ac.Delete(ctx, e.RG, "sdkacct", nil)
	must(t, err)
	if _, err := ac.GetProperties(ctx, e.RG, "sdkacct", nil); code(err) != "ResourceNotFound" {
		t.Fatalf("after delete: %v", err)
	}
	poller, err = ac.BeginCreate(ctx, "rg2", "sdkacct", armstorage.AccountCreateParameters{Location: ptr("eastus"), Kind: ptr(armstorage.KindStorageV2),
		SKU: &armstorage.SKU{Name: ptr(armstorage.SKUNameStandardLRS)}}, nil)
	must(t, err)
	_, err = poller.PollUntilDone(ctx, nil)
	must(t, err)
}

// TestContainersBothPlanes: a container made through ARM is a data-plane
// container and the other way round; deleting on either side deletes it
// (with its blobs) on both.
func TestContainersBothPlanes(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("twoplanes", map[string]any{"allowBlobPublicAccess": true})
	ctx := t.Context()
	bc, err := armstorage.NewBlobContainersClient(e.Sub(), e.Cred(e.Admin), armOpts(e))
	must(t, err)
	cr, err := bc.Create(ctx, e.RG, "twoplanes", "fromarm", armstorage.BlobContainer{ContainerProperties: &armstorage.ContainerProperties{
		PublicAccess: ptr(armstorage.PublicAccessBlob), Metadata: map[string]*string{"origin": ptr("arm")}}}, nil)
	must(t, err)
	if *cr.ContainerProperties.PublicAccess != armstorage.PublicAccessBlob || cr.Etag == nil {
		t.Fatalf("ARM create: %+v", cr)
	}
	key := e.AccountKey("twoplanes")
	cred, err := azblob.NewSharedKeyCredential("twoplanes", key)
	must(t, err)
	dc, err := azblob.NewClientWithSharedKeyCredential(e.AccountURL("twoplanes"), cred, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	must(t, err)
	props, err := dc.ServiceClient().NewContainerClient("fromarm").GetProperties(ctx, nil)
	must(t, err)
	if *props.Metadata["Origin"] != "arm" || *props.BlobPublicAccess != "blob" {
		t.Fatalf("data plane view of an ARM container: %+v", props)
	}
	_, err = dc.CreateContainer(ctx, "fromdata", &azblob.CreateContainerOptions{Metadata: map[string]*string{"origin": ptr("data")}})
	must(t, err)
	_, err = dc.UploadBuffer(ctx, "fromarm", "f", []byte("in an ARM container"), nil)
	must(t, err)
	var names []string
	pager := bc.NewListPager(e.RG, "twoplanes", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		must(t, err)
		for _, c := range page.Value {
			names = append(names, *c.Name)
		}
	}
	if !slices.Equal(names, []string{"fromarm", "fromdata"}) {
		t.Fatalf("ARM list: %v", names)
	}
	got, err := bc.Get(ctx, e.RG, "twoplanes", "fromdata", nil)
	must(t, err)
	if *got.ContainerProperties.Metadata["origin"] != "data" || *got.ContainerProperties.PublicAccess != armstorage.PublicAccessNone {
		t.Fatalf("ARM view of a data-plane container: %+v", got.ContainerProperties)
	}
	// Creating an existing container through the data plane conflicts
	// with the ARM one.
	if _, err := dc.CreateContainer(ctx, "fromarm", nil); !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("data-plane create over an ARM container: %v", err)
	}
	// ARM delete removes the container and its blobs from the data plane.
	_, err = bc.Delete(ctx, e.RG, "twoplanes", "fromarm", nil)
	must(t, err)
	if _, err := dc.DownloadStream(ctx, "fromarm", "f", nil); !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		t.Fatalf("blob after ARM container delete: %v", err)
	}
	_, err = dc.DeleteContainer(ctx, "fromdata", nil)
	must(t, err)
	if _, err := bc.Get(ctx, e.RG, "twoplanes", "fromdata", nil); code(err) != "ResourceNotFound" {
		t.Fatalf("ARM after a data-plane delete: %v", err)
	}
	// A public container is refused on a closed account, on both planes.
	e.CreateAccount("closed", nil)
	if _, err := bc.Create(ctx, e.RG, "closed", "pub", armstorage.BlobContainer{ContainerProperties: &armstorage.ContainerProperties{
		PublicAccess: ptr(armstorage.PublicAccessContainer)}}, nil); code(err) != "PublicAccessNotPermitted" {
		t.Fatalf("public container on a closed account: %v", err)
	}
	// Deleting the account deletes its containers (and their files).
	_, err = dc.CreateContainer(ctx, "last", nil)
	must(t, err)
	_, err = dc.UploadBuffer(ctx, "last", "big", make([]byte, 300<<10), nil)
	must(t, err)
	st, _ := e.ARM(e.Admin, http.MethodDelete, e.AccountPath("twoplanes"), testenv.StorageAPIVersion, nil)
	testenv.MustStatus(t, "delete account", st, http.StatusOK, nil)
	if acct, err := e.S.Storage.Account(ctx, "twoplanes"); err == nil {
		t.Fatalf("account still resolvable: %+v", acct)
	}
	e.CreateAccount("twoplanes", nil)
	pager = bc.NewListPager(e.RG, "twoplanes", nil)
	page, err := pager.NextPage(ctx)
	must(t, err)
	if len(page.Value) != 0 {
		t.Fatalf("a recreated account has old containers: %d", len(page.Value))
	}
	_ = context.Background
}
