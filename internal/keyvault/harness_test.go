package keyvault_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// Role GUIDs used by the tests (Azure's).
const (
	roleContributor   = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleKVAdmin       = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleSecretsOffice = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	roleSecretsUser   = "4633458b-17de-408a-b874-0445c86b69e6"
)

// env is a whole amlid, in process, on free ports: the same assembly as
// `amlid up` (front door, token service, RBAC, ARM, vault ports, proxy).
type env struct {
	t     testing.TB
	s     *server.Server
	admin *app
	rg    string
	http  *http.Client
}

type app struct {
	Name, AppID, ObjectID, Secret, TenantID string
}

func newEnv(t testing.TB, storeURL string) *env {
	t.Helper()
	dir := t.TempDir()
	switch storeURL {
	case "":
		storeURL = "memory:"
	case "sqlite":
		storeURL = "" // amlid up's default: SQLite in the data dir
	}
	s, err := server.Start(context.Background(), server.Options{DataDir: dir, Store: storeURL, Port: -1, MSIPort: -1, BlobPort: -1,
		ResourcePortBase: -1, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	e := &env{t: t, s: s, rg: "rg1"}
	e.admin = &app{Name: "admin", AppID: s.Bootstrap.ClientID, ObjectID: s.Bootstrap.ObjectID, Secret: s.Bootstrap.ClientSecret, TenantID: s.Bootstrap.TenantID}
	e.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourcegroups/"+e.rg, "2021-04-01", map[string]any{"location": "eastus"}, 201)
	return e
}

func (e *env) sub() string    { return e.s.Bootstrap.SubscriptionID }
func (e *env) tenant() string { return e.s.Bootstrap.TenantID }

// newApp creates a service principal with a secret in tenant (default: the
// bootstrap tenant).
func (e *env) newApp(name, tenant string) *app {
	if tenant == "" {
		tenant = e.tenant()
	}
	secret := directory.NewSecret()
	p := &directory.Principal{TenantID: tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: name, AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
			StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(24 * time.Hour)}}}
	if err := e.s.Directory.CreatePrincipal(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return &app{Name: name, AppID: p.AppID, ObjectID: p.ObjectID, Secret: secret, TenantID: tenant}
}

func (e *env) grant(principalID, role, scope string) {
	err := e.s.Store.Tx(context.Background(), func(tx store.Tx) error {
		return e.s.Authz.Grant(context.Background(), tx, principalID, directory.TypeServicePrincipal, role, scope)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: e.http, Retry: policy.RetryOptions{MaxRetries: -1},
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.s.State.AuthorityHost + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: e.s.State.ARMURL, Audience: "https://management.azure.com/"}}}}
}

// cred is the credential `amlid env` sets up: tenant "adfs" for the
// default tenant (no instance discovery), the tenant ID otherwise.
func (e *env) cred(a *app) azcore.TokenCredential {
	tenant := "adfs"
	if a.TenantID != e.tenant() {
		tenant = a.TenantID
	}
	c, err := azidentity.NewClientSecretCredential(tenant, a.AppID, a.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

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
	tok, err := e.cred(a).GetToken(e.t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.s.State.ARMURL+path+"?api-version="+url.QueryEscape(apiVersion), rd)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
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
