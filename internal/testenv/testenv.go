// Package testenv is amlid's one in-process test harness: a whole amlid
// (server.Start, the same assembly as `amlid up`) on free loopback ports,
// with helpers to create principals and tenants, grant roles, make storage
// accounts, and talk to it with the real Azure SDK for Go. Package tests
// build on it; end-to-end tests (internal/e2e) drive a real `amlid up`
// process instead. Where a test needs what no flag offers (a loopback
// caller counted as another address, a trusted service of its own, a
// store that counts reads), Options pass hooks to server.TestHooks.
package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/storetest"
	"github.com/amlid/amlid/internal/testutil"
	"github.com/google/uuid"
)

// ARM audiences and scope.
const (
	ARMAudience = "https://management.azure.com/"
	ARMScope    = "https://management.azure.com/.default"
)

// Options choose the store and the logging, and pass test hooks to the
// assembly.
type Options struct {
	// Store is "memory" (in memory), "sqlite" (amlid up's default, in the
	// data dir), "memidx" (storetest.KindStore, a store measured by the
	// blob benchmark), or a store URL (postgres://…). "" is
	// $AMLID_TEST_STORE, else memory.
	Store string
	// Quiet discards the server log; otherwise it is kept and printed (its
	// tail) when the test fails.
	Quiet bool
	// WrapStore wraps the store every component uses (to count reads).
	WrapStore func(store.Store) store.Store
	// Blob edits the Blob data plane's configuration (LoopbackAs,
	// TrustedService…) before it starts.
	Blob func(*blob.Config)
}

// StoreEnv names the store of tests that do not choose one.
const StoreEnv = "AMLID_TEST_STORE"

// hooks turns the options into the server's store URL and test hooks.
func (o Options) hooks() (string, *server.TestHooks) {
	h := &server.TestHooks{WrapStore: o.WrapStore, Blob: o.Blob}
	storeURL := o.Store
	if storeURL == "" {
		storeURL = os.Getenv(StoreEnv)
	}
	switch storeURL {
	case "", "memory":
		storeURL = "memory:"
	case "sqlite":
		storeURL = ""
	case "memidx":
		storeURL = "memory:"
		h.WrapStore = func(st store.Store) store.Store {
			var ks store.Store = storetest.NewKindStore()
			if o.WrapStore != nil {
				ks = o.WrapStore(ks)
			}
			return ks
		}
	}
	return storeURL, h
}

// App is a service principal with a client secret.
type App struct {
	Name, AppID, ObjectID, Secret, TenantID string
}

// Env is a running in-process amlid.
type Env struct {
	T    testing.TB
	S    *server.Server
	HTTP *http.Client
	// Admin is the bootstrap admin: Owner of the default subscription.
	Admin *App
	// RG is the resource group of the storage helpers (NewStorage).
	RG   string
	logs *Buffer
}

// Buffer is a goroutine-safe log buffer (testutil's).
type Buffer = testutil.Buffer

// New starts amlid for one test; it stops when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	storeURL, hooks := o.hooks()
	e := &Env{T: t, logs: &Buffer{}}
	var w io.Writer = e.logs
	if o.Quiet {
		w = io.Discard
	}
	s, err := server.Start(context.Background(), server.Options{DataDir: t.TempDir(), Store: storeURL, Port: -1, MSIPort: -1, BlobPort: -1,
		ResourcePortBase: -1, Testing: hooks, Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	e.S = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		if t.Failed() && !o.Quiet {
			l := e.logs.String()
			if len(l) > 6000 {
				l = l[len(l)-6000:]
			}
			t.Logf("server log (tail):\n%s", l)
		}
	})
	e.Admin = &App{Name: "admin", AppID: s.Bootstrap.ClientID, ObjectID: s.Bootstrap.ObjectID, Secret: s.Bootstrap.ClientSecret, TenantID: s.Bootstrap.TenantID}
	e.HTTP = &http.Client{Timeout: 5 * time.Minute, Transport: e.Transport()}
	return e
}

// Logs is what the server logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// URL is the front door (ARM, Entra, Graph).
func (e *Env) URL() string { return e.S.State.ARMURL }

// Sub and Tenant are the default subscription and tenant.
func (e *Env) Sub() string    { return e.S.Bootstrap.SubscriptionID }
func (e *Env) Tenant() string { return e.S.Bootstrap.TenantID }

// Transport trusts amlid's CA (HTTP/1.1 only, as the SDKs' tests see it).
func (e *Env) Transport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.S.CertPool()}, MaxIdleConnsPerHost: 32,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
}

// NewTenant adds a tenant to the directory and returns its ID.
func (e *Env) NewTenant(name string) string {
	id := uuid.NewString()
	if err := e.S.Directory.PutTenant(context.Background(), directory.Tenant{ID: id, DisplayName: name, DefaultDomain: name + ".test"}); err != nil {
		e.T.Fatal(err)
	}
	return id
}

// NewApp creates a service principal with a secret in tenant ("" = the
// default tenant).
func (e *Env) NewApp(name, tenant string) *App {
	if tenant == "" {
		tenant = e.Tenant()
	}
	secret := directory.NewSecret()
	p := &directory.Principal{TenantID: tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: name, AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
			StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(24 * time.Hour)}}}
	if err := e.S.Directory.CreatePrincipal(context.Background(), p); err != nil {
		e.T.Fatal(err)
	}
	return &App{Name: name, AppID: p.AppID, ObjectID: p.ObjectID, Secret: secret, TenantID: tenant}
}

// Grant assigns a built-in role (GUID) to a service principal over scope.
func (e *Env) Grant(principalID, roleGUID, scope string) {
	err := e.S.Store.Tx(context.Background(), func(tx store.Tx) error {
		return e.S.Authz.Grant(context.Background(), tx, principalID, directory.TypeServicePrincipal, roleGUID, scope)
	})
	if err != nil {
		e.T.Fatal(err)
	}
}

// ClientOptions point an SDK client at amlid (no retries: a test wants the
// first answer).
func (e *Env) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: e.HTTP, Retry: policy.RetryOptions{MaxRetries: -1},
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.S.State.AuthorityHost + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: e.S.State.ARMURL, Audience: ARMAudience}}}}
}

// Cred is the credential `amlid env` sets up: tenant "adfs" for the
// default tenant (no instance discovery), the tenant ID otherwise.
func (e *Env) Cred(a *App) azcore.TokenCredential {
	tenant := "adfs"
	if a.TenantID != e.Tenant() {
		tenant = a.TenantID
	}
	return e.CredIn(a, tenant)
}

// CredIn is a client-secret credential naming the tenant as given: "adfs",
// or a tenant ID (what `amlid env --azure-hostnames` exports).
func (e *Env) CredIn(a *App, tenant string) azcore.TokenCredential {
	c, err := azidentity.NewClientSecretCredential(tenant, a.AppID, a.Secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.ClientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// Token gets an Entra access token for a through azidentity.
func (e *Env) Token(a *App, scope string) string {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := e.Cred(a).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		e.T.Fatal(err)
	}
	return tok.Token
}

// ARM sends a raw ARM request as a (nil: anonymous) and returns the status
// and the decoded JSON body ({"_raw": text} when it is not JSON).
func (e *Env) ARM(a *App, method, path, apiVersion string, body any) (int, map[string]any) {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := e.URL() + path
	if apiVersion != "" {
		u += "?api-version=" + url.QueryEscape(apiVersion)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a != nil {
		req.Header.Set("Authorization", "Bearer "+e.Token(a, ARMScope))
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil && len(raw) > 0 {
		m = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, m
}

// CreateGroup creates a resource group as the admin.
func (e *Env) CreateGroup(name string) string {
	e.T.Helper()
	p := "/subscriptions/" + e.Sub() + "/resourcegroups/" + name
	if st, body := e.ARM(e.Admin, http.MethodPut, p, "2021-04-01", map[string]any{"location": "eastus"}); st >= 300 {
		e.T.Fatalf("create resource group %s: %d %v", name, st, body)
	}
	return p
}
