package registry_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/identity"
	"github.com/amlid/amlid/internal/registry"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
	"github.com/amlid/amlid/internal/store/sqlstore"
	"github.com/amlid/amlid/internal/tlsca"
	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
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

// env is an in-process amlid slice: Entra + ARM (with RBAC and the
// registry type) on one HTTPS server, registries on their own ports.
type env struct {
	t        testing.TB
	store    store.Store
	dir      *directory.Directory
	tokens   *token.Service
	authz    *authorization.Service
	provider *registry.Provider
	pool     *hostport.Pool
	front    *httptest.Server
	ca       *tlsca.CA
	http     *http.Client
	dataDir  string
	logs     *syncBuffer

	tenant, tenant2, sub, rg string
	admin, other             *app
}

type app struct{ name, appID, objectID, secret, tenant string }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type armAuth struct{ tokens *token.Service }

func (a armAuth) Authenticate(r *http.Request) (*arm.Caller, error) {
	raw, ok := token.BearerToken(r)
	if !ok {
		return nil, arm.Errorf(http.StatusUnauthorized, "AuthenticationFailed", "missing token")
	}
	c, err := a.tokens.Verify(r.Context(), raw, armAudience, "https://management.core.windows.net/")
	if err != nil {
		var ve *token.VerifyError
		if errors.As(err, &ve) {
			return nil, arm.Errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "%s", ve.Msg)
		}
		return nil, err
	}
	return &arm.Caller{ObjectID: c.ObjectID, TenantID: c.TenantID, AppID: c.AppID, Type: "ServicePrincipal", Name: c.AppID}, nil
}

func newEnv(t testing.TB, quiet bool) *env { return newEnvStore(t, quiet, "") }

// newEnvStore picks the store: "" (memory) or "sqlite".
func newEnvStore(t testing.TB, quiet bool, kind string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logs: &syncBuffer{}, dataDir: t.TempDir()}
	var err error
	e.ca, err = tlsca.LoadOrCreate(t.TempDir())
	must(t, err)
	e.store = memory.New()
	if kind == "sqlite" {
		st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "amlid.db"))
		must(t, err)
		t.Cleanup(func() { st.Close() })
		e.store = st
	}
	var logW io.Writer = e.logs
	if quiet {
		logW = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.dir = directory.New(e.store)
	e.tenant, e.tenant2, e.sub, e.rg = uuid.NewString(), uuid.NewString(), uuid.NewString(), "rg1"
	must(t, e.dir.PutTenant(ctx, directory.Tenant{ID: e.tenant, DisplayName: "Contoso", DefaultDomain: "contoso.test"}))
	must(t, e.dir.PutTenant(ctx, directory.Tenant{ID: e.tenant2, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.test"}))
	must(t, e.dir.PutSubscription(ctx, directory.Subscription{ID: e.sub, TenantID: e.tenant, DisplayName: "Contoso sub", State: "Enabled"}))
	var front atomic.Value
	e.front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		front.Load().(http.Handler).ServeHTTP(w, r)
	}))
	e.front.TLS = e.ca.TLSConfig()
	e.front.StartTLS()
	t.Cleanup(e.front.Close)
	e.tokens, err = token.New(ctx, token.Config{BaseURL: e.front.URL, Store: e.store, Directory: e.dir, Logger: log, DefaultTenant: e.tenant, TokenLifetime: time.Hour})
	must(t, err)
	t.Cleanup(func() { e.tokens.Close() })
	e.authz, err = authorization.New(ctx, e.store, e.dir, authorization.ModeEnforce, log)
	must(t, err)
	e.pool = hostport.New(hostport.Config{TLS: e.ca.TLSConfig(), Logger: log})
	t.Cleanup(func() { e.pool.Shutdown(context.Background()) })
	e.provider, err = registry.New(ctx, registry.Config{Store: e.store, Directory: e.dir, Tokens: e.tokens, Authz: e.authz, Ports: e.pool,
		DataDir: filepath.Join(e.dataDir, "registry"), Logger: log})
	must(t, err)
	reg := arm.NewRegistry()
	(&identity.Provider{Cleanup: []identity.PrincipalCleanup{authorization.DeleteAssignmentsOf}}).Register(reg)
	e.provider.Register(reg)
	armSrv := arm.New(arm.Config{Store: e.store, Directory: e.dir, Registry: reg, Logger: log, DefaultTenant: e.tenant,
		Authenticator: armAuth{e.tokens}, Authorizer: e.authz, PrincipalCleanup: authorization.DeleteAssignmentsOf})
	armSrv.RegisterExtension("Microsoft.Authorization", e.authz)
	tokens := e.tokens.Handler()
	front.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch strings.ToLower(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]) {
		case "subscriptions", "tenants", "providers", "metadata":
			armSrv.ServeHTTP(w, r)
		default:
			tokens.ServeHTTP(w, r)
		}
	}))
	e.http = &http.Client{Timeout: 5 * time.Minute, Transport: e.transport()}
	e.admin = e.newApp("admin", e.tenant)
	e.grant(e.admin.objectID, roleOwner, "/subscriptions/"+e.sub)
	e.other = e.newApp("other", e.tenant2)
	if st, body := e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub+"/resourcegroups/"+e.rg, "2021-04-01", map[string]any{"location": "eastus"}); st >= 300 {
		t.Fatalf("create resource group: %d %v", st, body)
	}
	t.Cleanup(func() {
		if t.Failed() && !quiet {
			l := e.logs.String()
			if len(l) > 6000 {
				l = l[len(l)-6000:]
			}
			t.Logf("server log (tail):\n%s", l)
		}
	})
	return e
}

func (e *env) transport() *http.Transport {
	return &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig(), MaxIdleConnsPerHost: 32,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
}

func (e *env) newApp(name, tenant string) *app {
	secret := directory.NewSecret()
	p := &directory.Principal{TenantID: tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: name, AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
			StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(24 * time.Hour)}}}
	must(e.t, e.dir.CreatePrincipal(context.Background(), p))
	return &app{name: name, appID: p.AppID, objectID: p.ObjectID, secret: secret, tenant: tenant}
}

func (e *env) grant(principalID, roleGUID, scope string) {
	ctx := context.Background()
	must(e.t, e.store.Tx(ctx, func(tx store.Tx) error {
		return e.authz.Grant(ctx, tx, principalID, directory.TypeServicePrincipal, roleGUID, scope)
	}))
}

func (e *env) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.front.URL + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: e.front.URL, Audience: armAudience},
		}},
		Transport: e.http,
	}
}

// token gets an Entra access token for app through azidentity.
func (e *env) token(a *app, scope string) string {
	e.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(a.tenant, a.appID, a.secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	must(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	must(e.t, err)
	return tok.Token
}

func (e *env) armDo(a *app, method, path, apiVersion string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := e.front.URL + path
	if apiVersion != "" {
		u += "?api-version=" + apiVersion
	}
	req, err := http.NewRequest(method, u, rd)
	must(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if a != nil {
		req.Header.Set("Authorization", "Bearer "+e.token(a, armScope))
	}
	resp, err := e.http.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil && len(raw) > 0 {
		m = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, m
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
