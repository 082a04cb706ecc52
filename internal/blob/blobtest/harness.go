// Package blobtest stands up, inside a test process, what the storage and
// blob packages need to be driven by real clients: a store, a directory with
// tenants and a subscription, the token service and ARM (with RBAC) on one
// HTTPS server, and the Blob data plane on another, both with a local CA.
// Only tests import it.
package blobtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
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
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
	"github.com/amlid/amlid/internal/store/sqlstore"
	"github.com/amlid/amlid/internal/tlsca"
	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
)

// Built-in role GUIDs used by tests (from the access catalog).
var (
	RoleOwner                  = catalog.Owner.ID
	RoleContributor            = catalog.Contributor.ID
	RoleStorageBlobDataReader  = catalog.StorageBlobDataReader.ID
	RoleStorageBlobDataContrib = catalog.StorageBlobDataContributor.ID
	RoleStorageBlobDataOwner   = catalog.StorageBlobDataOwner.ID
)

const (
	ARMAudience                   = "https://management.azure.com/"
	ARMAudienceAz                 = "https://management.core.windows.net/"
	StorageAPIVersion             = "2022-09-01"
	defaultStoreEnv               = "AMLID_TEST_STORE"
	storageScope                  = "https://storage.azure.com/.default"
	armScope                      = "https://management.azure.com/.default"
	tokenLifetimeForTests         = time.Hour
	blobListenerReadHeaderTimeout = 10 * time.Second
)

// Options tune the environment.
type Options struct {
	// Store is "memory" (default), "sqlite", or "memidx" (KindStore).
	Store string
	// LoopbackAs is passed to the blob handler.
	LoopbackAs netip.Addr
	// TrustedService is passed to the blob handler.
	TrustedService func(ctx context.Context, c *token.Claims) bool
	// Quiet drops server logs (benchmarks).
	Quiet bool
	// Wrap, if set, wraps the store every component uses (to count reads).
	Wrap func(store.Store) store.Store
}

// App is a service principal with a secret.
type App struct {
	Name, AppID, ObjectID, Secret, TenantID string
}

// Env is a running amlid slice: Entra + ARM on Front, Blob on BlobSrv.
type Env struct {
	T       testing.TB
	Store   store.Store
	Dir     *directory.Directory
	Tokens  *token.Service
	Authz   *authorization.Service
	Storage *storage.Provider
	Blob    *blob.Handler
	ARM     *arm.Server
	Front   *httptest.Server
	BlobSrv *httptest.Server
	CA      *tlsca.CA
	HTTP    *http.Client
	DataDir string

	Tenant, Tenant2, Sub, RG string
	Admin                    *App // Owner of Sub
	Other                    *App // an app of Tenant2

	logs *syncBuffer
}

type syncBuffer struct {
	b  bytes.Buffer
	mu sync.Mutex
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

func policyScopes(scope string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{scope}}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// armAuth verifies ARM bearer tokens (what internal/server does).
type armAuth struct{ tokens *token.Service }

func (a armAuth) Authenticate(r *http.Request) (*arm.Caller, error) {
	raw, ok := token.BearerToken(r)
	if !ok {
		return nil, arm.Errorf(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	c, err := a.tokens.Verify(r.Context(), raw, ARMAudience, ARMAudienceAz)
	if err != nil {
		var ve *token.VerifyError
		if errors.As(err, &ve) {
			return nil, arm.Errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid: %s", ve.Msg)
		}
		return nil, err
	}
	caller := &arm.Caller{ObjectID: c.ObjectID, TenantID: c.TenantID, AppID: c.AppID, Groups: c.Groups, Type: "ServicePrincipal", Name: c.AppID}
	if c.IDType == "user" {
		caller.Type, caller.Name = "User", c.UPN
	}
	return caller, nil
}

// New starts an environment; everything stops with the test.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	e := &Env{T: t, logs: &syncBuffer{}}
	var err error
	e.CA, err = tlsca.LoadOrCreate(t.TempDir())
	must(t, err)
	if o.Store == "" {
		o.Store = os.Getenv(defaultStoreEnv)
	}
	switch o.Store {
	case "", "memory":
		e.Store = memory.New()
	case "memidx":
		e.Store = NewKindStore()
	case "sqlite":
		st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "amlid.db"))
		must(t, err)
		e.Store = st
		t.Cleanup(func() { st.Close() })
	default:
		t.Fatalf("blobtest: unknown store %q", o.Store)
	}
	if o.Wrap != nil {
		e.Store = o.Wrap(e.Store)
	}
	var logW io.Writer = e.logs
	if o.Quiet {
		logW = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.Dir = directory.New(e.Store)
	e.Tenant, e.Tenant2, e.Sub, e.RG = uuid.NewString(), uuid.NewString(), uuid.NewString(), "rg1"
	must(t, e.Dir.PutTenant(ctx, directory.Tenant{ID: e.Tenant, DisplayName: "Contoso", DefaultDomain: "contoso.test"}))
	must(t, e.Dir.PutTenant(ctx, directory.Tenant{ID: e.Tenant2, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.test"}))
	must(t, e.Dir.PutSubscription(ctx, directory.Subscription{ID: e.Sub, TenantID: e.Tenant, DisplayName: "Contoso sub", State: "Enabled"}))

	// Front door: ARM + Entra. The handler is installed once the token
	// service knows its own URL.
	var front atomic.Value
	e.Front = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		front.Load().(http.Handler).ServeHTTP(w, r)
	}))
	e.Front.TLS = e.CA.TLSConfig()
	e.Front.StartTLS()
	t.Cleanup(e.Front.Close)
	e.Tokens, err = token.New(ctx, token.Config{BaseURL: e.Front.URL, Store: e.Store, Directory: e.Dir, Logger: log, DefaultTenant: e.Tenant,
		TokenLifetime: tokenLifetimeForTests})
	must(t, err)
	t.Cleanup(func() { e.Tokens.Close() })
	e.Authz, err = authorization.New(ctx, e.Store, e.Dir, authorization.ModeEnforce, log)
	must(t, err)

	var blobH atomic.Value
	e.BlobSrv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blobH.Load().(http.Handler).ServeHTTP(w, r)
	}))
	e.BlobSrv.TLS = e.CA.TLSConfig()
	e.BlobSrv.Config.MaxHeaderBytes = 64 << 10
	e.BlobSrv.Config.ReadHeaderTimeout = blobListenerReadHeaderTimeout
	e.BlobSrv.StartTLS()
	t.Cleanup(e.BlobSrv.Close)

	e.Storage = &storage.Provider{Store: e.Store, BlobBaseURL: e.BlobSrv.URL}
	reg := arm.NewRegistry()
	e.Storage.Register(reg)
	e.ARM = arm.New(arm.Config{Store: e.Store, Directory: e.Dir, Registry: reg, Logger: log, DefaultTenant: e.Tenant,
		Authenticator: armAuth{e.Tokens}, Authorizer: e.Authz, PrincipalCleanup: authorization.DeleteAssignmentsOf,
		Endpoints: func(base string) any {
			return map[string]any{"resourceManager": base + "/", "authentication": map[string]any{"loginEndpoint": base + "/adfs",
				"audiences": []string{ARMAudienceAz, ARMAudience}}, "graphEndpoint": base + "/", "name": "amlid",
				"suffixes": map[string]any{"storage": "core.windows.net"}}
		}})
	e.ARM.RegisterExtension("Microsoft.Authorization", e.Authz)
	tokens := e.Tokens.Handler()
	front.Store(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := strings.ToLower(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0])
		switch first {
		case "subscriptions", "tenants", "providers", "metadata":
			e.ARM.ServeHTTP(w, r)
		default:
			tokens.ServeHTTP(w, r)
		}
	}))

	e.DataDir = filepath.Join(t.TempDir(), "blobs")
	e.Blob, err = blob.New(blob.Config{Storage: e.Storage, Tokens: e.Tokens, Authz: e.Authz, DataDir: e.DataDir, Logger: log,
		AuthorityHost: e.Front.URL, LoopbackAs: o.LoopbackAs, TrustedService: o.TrustedService})
	must(t, err)
	blobH.Store(e.Blob)

	e.HTTP = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: e.CA.ClientTLSConfig(), MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}

	// The resource group and the admin.
	e.Admin = e.NewApp("admin", e.Tenant)
	e.Grant(e.Admin.ObjectID, RoleOwner, "/subscriptions/"+e.Sub)
	e.Other = e.NewApp("other", e.Tenant2)
	if st, body := e.ARMDo(e.Admin, http.MethodPut, "/subscriptions/"+e.Sub+"/resourcegroups/"+e.RG, "2021-04-01", map[string]any{"location": "eastus"}); st >= 300 {
		t.Fatalf("create resource group: %d %v", st, body)
	}
	t.Cleanup(func() {
		if t.Failed() && !o.Quiet {
			t.Logf("server log (tail):\n%s", tail(e.logs.String(), 6000))
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// NewApp registers a service principal with a secret in tenant.
func (e *Env) NewApp(name, tenant string) *App {
	secret := directory.NewSecret()
	p := &directory.Principal{TenantID: tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: name, AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
			StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(24 * time.Hour)}}}
	must(e.T, e.Dir.CreatePrincipal(context.Background(), p))
	return &App{Name: name, AppID: p.AppID, ObjectID: p.ObjectID, Secret: secret, TenantID: tenant}
}

// Grant assigns a built-in role.
func (e *Env) Grant(principalID, roleGUID, scope string) {
	ctx := context.Background()
	must(e.T, e.Store.Tx(ctx, func(tx store.Tx) error {
		return e.Authz.Grant(ctx, tx, principalID, directory.TypeServicePrincipal, roleGUID, scope)
	}))
}

// ClientOptions point azcore clients at the test servers.
func (e *Env) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.Front.URL + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: e.Front.URL, Audience: ARMAudience},
		}},
		Transport: e.HTTP,
	}
}

// Cred is an azidentity client-secret credential for app.
func (e *Env) Cred(app *App) azcore.TokenCredential {
	c, err := azidentity.NewClientSecretCredential(app.TenantID, app.AppID, app.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.ClientOptions(), DisableInstanceDiscovery: true})
	must(e.T, err)
	return c
}

// Token gets a raw access token for app and scope.
func (e *Env) Token(app *App, scope string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := e.Cred(app).GetToken(ctx, policyScopes(scope))
	must(e.T, err)
	return tok.Token
}

// ARMDo sends one ARM request as app (nil: anonymous).
func (e *Env) ARMDo(app *App, method, path, apiVersion string, body any) (int, map[string]any) {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := e.Front.URL + path
	if apiVersion != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + apiVersion
	}
	req, err := http.NewRequest(method, u, rd)
	must(e.T, err)
	req.Header.Set("Content-Type", "application/json")
	if app != nil {
		req.Header.Set("Authorization", "Bearer "+e.Token(app, armScope))
	}
	resp, err := e.HTTP.Do(req)
	must(e.T, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil && len(raw) > 0 {
		m = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, m
}

// AccountPath is the ARM path of an account in the test resource group.
func (e *Env) AccountPath(name string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/" + e.RG + "/providers/Microsoft.Storage/storageAccounts/" + name
}

// AccountID is the account's resource ID.
func (e *Env) AccountID(name string) string { return e.AccountPath(name) }

// CreateAccount creates a StorageV2 account (extra properties merged in).
func (e *Env) CreateAccount(name string, props map[string]any) map[string]any {
	e.T.Helper()
	body := map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}, "properties": props}
	st, out := e.ARMDo(e.Admin, http.MethodPut, e.AccountPath(name), StorageAPIVersion, body)
	if st != http.StatusOK {
		e.T.Fatalf("create storage account %s: %d %v", name, st, out)
	}
	return out
}

// AccountKey returns key1 through listKeys.
func (e *Env) AccountKey(name string) string {
	e.T.Helper()
	st, out := e.ARMDo(e.Admin, http.MethodPost, e.AccountPath(name)+"/listKeys", StorageAPIVersion, nil)
	if st != http.StatusOK {
		e.T.Fatalf("listKeys %s: %d %v", name, st, out)
	}
	keys, _ := out["keys"].([]any)
	if len(keys) != 2 {
		e.T.Fatalf("listKeys %s: %v", name, out)
	}
	return keys[0].(map[string]any)["value"].(string)
}

// AccountURL is the account's blob endpoint (path-style, trailing slash).
func (e *Env) AccountURL(name string) string { return e.BlobSrv.URL + "/" + name + "/" }

// CAFile is the PEM file of the test CA.
func (e *Env) CAFile() string { return e.CA.CAPath() }

// Logs returns the server log so far.
func (e *Env) Logs() string { return e.logs.String() }

// MustStatus fails unless status is want.
func MustStatus(t testing.TB, what string, got, want int, body any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %v", what, got, want, body)
	}
}

// Fmt is fmt.Sprintf (keeps fmt imported for helpers).
var Fmt = fmt.Sprintf
