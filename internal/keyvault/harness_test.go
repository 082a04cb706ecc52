package keyvault_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/testenv"
)

// Role GUIDs used by the tests (Azure's).
const (
	roleContributor   = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleKVAdmin       = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleSecretsOffice = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	roleSecretsUser   = "4633458b-17de-408a-b874-0445c86b69e6"
)

// env is a whole amlid, in process, on free ports (testenv: the same
// assembly as `amlid up`), with a resource group.
type env struct {
	*testenv.Env
	t     testing.TB
	s     *server.Server
	admin *app
	rg    string
	http  *http.Client
}

type app = testenv.App

func newEnv(t testing.TB, storeURL string) *env {
	t.Helper()
	te := testenv.New(t, testenv.Options{Store: storeURL})
	e := &env{Env: te, t: t, s: te.S, admin: te.Admin, rg: "rg1", http: te.HTTP}
	e.CreateGroup(e.rg)
	return e
}

func (e *env) sub() string    { return e.Sub() }
func (e *env) tenant() string { return e.Tenant() }

func (e *env) newApp(name, tenant string) *app       { return e.NewApp(name, tenant) }
func (e *env) grant(principalID, role, scope string) { e.Grant(principalID, role, scope) }
func (e *env) clientOptions() azcore.ClientOptions   { return e.ClientOptions() }
func (e *env) cred(a *app) azcore.TokenCredential    { return e.Cred(a) }

func (e *env) vaults(a *app) *armkeyvault.VaultsClient {
	c, err := armkeyvault.NewVaultsClient(e.sub(), e.cred(a), &arm.ClientOptions{ClientOptions: e.clientOptions()})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) vaultID(name string) string {
	return "/subscriptions/" + e.sub() + "/resourceGroups/" + e.rg + "/providers/Microsoft.KeyVault/vaults/" + name
}

// createVault creates a vault through armkeyvault and returns its vaultUri.
func (e *env) createVault(name string, rbac bool, policies ...*armkeyvault.AccessPolicyEntry) string {
	e.t.Helper()
	if policies == nil {
		policies = []*armkeyvault.AccessPolicyEntry{}
	}
	tid := e.tenant()
	poller, err := e.vaults(e.admin).BeginCreateOrUpdate(e.t.Context(), e.rg, name, armkeyvault.VaultCreateOrUpdateParameters{
		Location: to("eastus"),
		Properties: &armkeyvault.VaultProperties{TenantID: &tid, SKU: &armkeyvault.SKU{Family: to(armkeyvault.SKUFamilyA), Name: to(armkeyvault.SKUNameStandard)},
			EnableRbacAuthorization: &rbac, AccessPolicies: policies},
	}, nil)
	if err != nil {
		e.t.Fatalf("create vault %s: %v", name, err)
	}
	res, err := poller.PollUntilDone(e.t.Context(), nil)
	if err != nil {
		e.t.Fatalf("create vault %s: %v", name, err)
	}
	return *res.Properties.VaultURI
}

// secrets is an azsecrets client for a localhost vault: the one option a
// vault on 127.0.0.1 needs (README, "Key vaults").
func (e *env) secrets(vaultURI string, a *app) *azsecrets.Client {
	c, err := azsecrets.NewClient(vaultURI, e.cred(a), &azsecrets.ClientOptions{ClientOptions: e.clientOptions(), DisableChallengeResourceVerification: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// policy is an access-policy entry with these secret permissions.
func (e *env) policy(objectID string, perms ...string) *armkeyvault.AccessPolicyEntry {
	var ps []*armkeyvault.SecretPermissions
	for _, p := range perms {
		ps = append(ps, to(armkeyvault.SecretPermissions(p)))
	}
	tid := e.tenant()
	return &armkeyvault.AccessPolicyEntry{TenantID: &tid, ObjectID: &objectID, Permissions: &armkeyvault.Permissions{Secrets: ps}}
}

func to[T any](v T) *T { return &v }

// armDo sends a raw ARM request as a and checks the status.
func (e *env) armDo(a *app, method, path, apiVersion string, body any, want int) map[string]any {
	e.t.Helper()
	st, out := e.ARM(a, method, path, apiVersion, body)
	if st != want {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

// kvError asserts err is a Key Vault error response with status and
// innererror code, and returns its message.
func kvError(t *testing.T, err error, status int, inner string) string {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want a %d response error, got %v", status, err)
	}
	if re.StatusCode != status {
		t.Fatalf("status %d, want %d: %v", re.StatusCode, status, err)
	}
	if inner != "" && !strings.Contains(err.Error(), `"code": "`+inner+`"`) && !strings.Contains(err.Error(), `"code":"`+inner+`"`) {
		t.Fatalf("want innererror %s: %v", inner, err)
	}
	return err.Error()
}
