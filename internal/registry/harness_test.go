package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/registry"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/testenv"
	"github.com/amlid/amlid/internal/tlsca"
	"github.com/amlid/amlid/internal/token"
)

// Built-in role GUIDs.
const (
	roleOwner       = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	roleContributor = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleAcrPull     = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	roleAcrPush     = "8311e382-0749-4cb8-b61a-304f252e45ec"
	armAudience     = "https://management.azure.com/"
	armScope        = "https://management.azure.com/.default"
	apiACR          = "2023-07-01"
)

// env is a whole amlid in process (testenv: the same assembly as `amlid
// up`), with a second tenant and an app in it, and a resource group.
type env struct {
	*testenv.Env
	t        testing.TB
	store    store.Store
	dir      *directory.Directory
	tokens   *token.Service
	authz    *authorization.Service
	provider *registry.Provider
	pool     *hostport.Pool
	front    struct{ URL string }
	ca       *tlsca.CA
	http     *http.Client
	dataDir  string
	logs     fmt.Stringer

	tenant, tenant2, sub, rg string
	admin, other             *app
}

type app struct{ name, appID, objectID, secret, tenant string }

func fromTestenv(a *testenv.App) *app {
	return &app{name: a.Name, appID: a.AppID, objectID: a.ObjectID, secret: a.Secret, tenant: a.TenantID}
}

func (a *app) testenv() *testenv.App {
	return &testenv.App{Name: a.name, AppID: a.appID, ObjectID: a.objectID, Secret: a.secret, TenantID: a.tenant}
}

type logView struct{ e *testenv.Env }

func (l logView) String() string { return l.e.Logs() }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEnv(t testing.TB, quiet bool) *env { return newEnvStore(t, quiet, "") }

// newEnvStore picks the store: "" (memory) or "sqlite".
func newEnvStore(t testing.TB, quiet bool, kind string) *env {
	t.Helper()
	te := testenv.New(t, testenv.Options{Store: kind, Quiet: quiet})
	s := te.S
	e := &env{Env: te, t: t, store: s.Store, dir: s.Directory, tokens: s.Tokens, authz: s.Authz, provider: s.Registries(), pool: s.Hosts,
		ca: s.CA, http: te.HTTP, dataDir: s.Opts.DataDir, logs: logView{te},
		tenant: te.Tenant(), sub: te.Sub(), rg: "rg1", admin: fromTestenv(te.Admin)}
	e.front.URL = te.URL()
	e.tenant2 = te.NewTenant("fabrikam")
	e.other = fromTestenv(te.NewApp("other", e.tenant2))
	te.CreateGroup(e.rg)
	return e
}

func (e *env) transport() *http.Transport { return e.Transport() }

func (e *env) newApp(name, tenant string) *app { return fromTestenv(e.NewApp(name, tenant)) }

func (e *env) grant(principalID, roleGUID, scope string) { e.Grant(principalID, roleGUID, scope) }

func (e *env) clientOptions() azcore.ClientOptions { return e.ClientOptions() }

// token gets an Entra access token for app through azidentity.
func (e *env) token(a *app, scope string) string { return e.Token(a.testenv(), scope) }

func (e *env) armDo(a *app, method, path, apiVersion string, body any) (int, map[string]any) {
	e.t.Helper()
	if a == nil {
		return e.ARM(nil, method, path, apiVersion, body)
	}
	return e.ARM(a.testenv(), method, path, apiVersion, body)
}

func (e *env) registryPath(name string) string {
	return "/subscriptions/" + e.sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.ContainerRegistry/registries/" + name
}

// createRegistry creates a registry and returns its login server.
func (e *env) createRegistry(name string, admin bool) string {
	e.t.Helper()
	st, out := e.armDo(e.admin, http.MethodPut, e.registryPath(name), apiACR,
		map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}, "properties": map[string]any{"adminUserEnabled": admin}})
	if st != http.StatusOK {
		e.t.Fatalf("create registry %s: %d %v", name, st, out)
	}
	return out["properties"].(map[string]any)["loginServer"].(string)
}

// adminPassword returns the admin user's first password.
func (e *env) adminPassword(name string) string {
	e.t.Helper()
	st, out := e.armDo(e.admin, http.MethodPost, e.registryPath(name)+"/listCredentials", apiACR, nil)
	if st != http.StatusOK {
		e.t.Fatalf("listCredentials %s: %d %v", name, st, out)
	}
	return out["passwords"].([]any)[0].(map[string]any)["value"].(string)
}

// form posts a form to a registry endpoint and decodes the JSON answer.
func (e *env) form(u string, vals url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.http.PostForm(u, vals)
	must(e.t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// exchange trades app's Entra ARM token for a registry refresh token, as
// az acr login does.
func (e *env) exchange(ls string, a *app) string {
	e.t.Helper()
	st, out := e.form("https://"+ls+"/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {ls},
		"tenant": {a.tenant}, "access_token": {e.token(a, armScope)}})
	if st != http.StatusOK {
		e.t.Fatalf("exchange: %d %v", st, out)
	}
	return out["refresh_token"].(string)
}

// accessToken trades a refresh token for an access token.
func (e *env) accessToken(ls, refresh string, scopes ...string) (int, map[string]any) {
	e.t.Helper()
	return e.form("https://"+ls+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {ls},
		"scope": {strings.Join(scopes, " ")}, "refresh_token": {refresh}})
}
