package token

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store/memory"
	"github.com/amlid/amlid/internal/testutil"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

const (
	azCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	armAudience   = "https://management.core.windows.net/"
	storageAud    = "https://storage.azure.com"
)

// clock is real time plus an adjustable offset, so real clients (which
// check id_token times against their own clock) keep working while tests
// move the server's time.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time           { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration)  { c.off.Add(int64(d)) }
func (c *clock) Set(offset time.Duration) { c.off.Store(int64(offset)) }

// env is a running token service over TLS with a small directory:
// tenant (contoso.test) with an app (secret + certificate), a user alice
// in group "data" (nested in group "all"), a user-assigned identity; and a
// second tenant (fabrikam.test) with its own app.
type env struct {
	t      testing.TB
	dir    *directory.Directory
	svc    *Service
	srv    *httptest.Server
	base   string
	caFile string
	logs   *testutil.Buffer
	clock  *clock

	tenant, tenant2 string
	app, app2       *directory.Principal
	appSecret       string
	app2Secret      string
	certKey         *rsa.PrivateKey
	cert            *x509.Certificate
	user            *directory.Principal
	userPassword    string
	group, group2   *directory.Principal
	mi              *directory.Principal

	secrets testutil.Secrets // every secret/password/token the tests saw, for the log scan
}

type envOpt func(*Config)

// newEnv starts the service. wrap may put scaffolding (the ARM stub) in
// front of Handler.
func newEnv(t testing.TB, wrap func(e *env, h http.Handler) http.Handler, opts ...envOpt) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, logs: &testutil.Buffer{}, clock: &clock{}}
	st := memory.New()
	e.dir = directory.New(st)

	e.tenant, e.tenant2 = uuid.NewString(), uuid.NewString()
	must(t, e.dir.PutTenant(ctx, directory.Tenant{ID: e.tenant, DisplayName: "Contoso", DefaultDomain: "contoso.test"}))
	must(t, e.dir.PutTenant(ctx, directory.Tenant{ID: e.tenant2, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.test"}))
	must(t, e.dir.PutSubscription(ctx, directory.Subscription{ID: uuid.NewString(), TenantID: e.tenant, DisplayName: "Contoso sub", State: "Enabled"}))

	e.appSecret = directory.NewSecret()
	e.certKey, e.cert = selfSignedCert(t)
	e.app = &directory.Principal{TenantID: e.tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: "ci-app", AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{
			{KeyID: uuid.NewString(), Hint: directory.SecretHint(e.appSecret), Hash: directory.HashSecret(e.appSecret)},
		},
		Certificates: []directory.CertificateCredential{{
			KeyID: uuid.NewString(), Thumbprint: thumbprintHex(e.cert),
			CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.cert.Raw})),
		}},
	}
	must(t, e.dir.CreatePrincipal(ctx, e.app))
	e.app2Secret = directory.NewSecret()
	e.app2 = &directory.Principal{TenantID: e.tenant2, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: "fab-app", AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hash: directory.HashSecret(e.app2Secret)}}}
	must(t, e.dir.CreatePrincipal(ctx, e.app2))

	e.userPassword = "Pa55w0rd-" + uuid.NewString()[:8]
	e.user = &directory.Principal{TenantID: e.tenant, Type: directory.TypeUser, DisplayName: "Alice", UPN: "alice@contoso.test",
		Password: &directory.SecretCredential{KeyID: uuid.NewString(), Hash: directory.HashPasswordWithIterations(e.userPassword, 1000)}}
	must(t, e.dir.CreatePrincipal(ctx, e.user))
	e.group = &directory.Principal{TenantID: e.tenant, Type: directory.TypeGroup, DisplayName: "data", Members: []string{e.user.ObjectID}}
	must(t, e.dir.CreatePrincipal(ctx, e.group))
	e.group2 = &directory.Principal{TenantID: e.tenant, Type: directory.TypeGroup, DisplayName: "all", Members: []string{e.group.ObjectID}}
	must(t, e.dir.CreatePrincipal(ctx, e.group2))
	e.mi = &directory.Principal{TenantID: e.tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity,
		DisplayName: "uai", AppID: uuid.NewString(),
		ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai"}
	must(t, e.dir.CreatePrincipal(ctx, e.mi))
	e.note(e.appSecret, e.app2Secret, e.userPassword)

	var h atomic.Value
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL

	cfg := Config{
		BaseURL:       e.base,
		Store:         st,
		Directory:     e.dir,
		Logger:        slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           e.clock.Now,
		DefaultTenant: e.tenant,
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(ctx, cfg)
	must(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	e.svc = svc
	var handler http.Handler = svc.Handler()
	if wrap != nil {
		handler = wrap(e, handler)
	}
	h.Store(handler)

	e.caFile = filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(e.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("token service log:\n%s", e.logs.String())
		}
	})
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// note records a sensitive value for the log scan.
func (e *env) note(vals ...string) { e.secrets.Note(vals...) }

// clientOptions points azidentity at the test server.
func (e *env) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.base + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: e.srv.Client(),
	}
}

// post sends a form to the service and decodes the JSON answer.
func (e *env) post(path string, form url.Values) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.srv.Client().PostForm(e.base+path, form)
	must(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("POST %s: %d, body %q is not JSON", path, resp.StatusCode, b)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "device_code"} {
		if s, ok := m[k].(string); ok {
			e.note(s)
		}
	}
	return resp.StatusCode, m
}

func (e *env) get(path string) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.base + path)
	must(e.t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// clientCredentials gets an app token with a secret through the v2 endpoint.
func (e *env) clientCredentials(tenant, clientID, secret, scope string) (int, map[string]any) {
	return e.post("/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope},
	})
}

func selfSignedCert(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ci-app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return key, cert
}

func thumbprintHex(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// wantClaims checks the common claims of a verified token.
func wantClaims(t testing.TB, c *Claims, oid, tid, aud, idtyp string) {
	t.Helper()
	if c.ObjectID != oid || c.TenantID != tid || c.Audience != aud || c.IDType != idtyp {
		t.Fatalf("claims oid=%s tid=%s aud=%q idtyp=%s; want oid=%s tid=%s aud=%q idtyp=%s",
			c.ObjectID, c.TenantID, c.Audience, c.IDType, oid, tid, aud, idtyp)
	}
}

type joseKey = jose.JSONWebKey

func newFormRequest(u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func kidOf(t testing.TB, raw string) string {
	t.Helper()
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	must(t, err)
	var h struct {
		Kid string `json:"kid"`
	}
	must(t, json.Unmarshal(hb, &h))
	return h.Kid
}
