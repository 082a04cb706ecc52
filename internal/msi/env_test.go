package msi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store/memory"
	"github.com/amlid/amlid/internal/testutil"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/workload"
	"github.com/google/uuid"
)

const (
	storageAud = "https://storage.azure.com"
	armAud     = "https://management.core.windows.net/"
	sub        = "00000000-0000-0000-0000-0000000000aa"
	rg         = "/subscriptions/" + sub + "/resourceGroups/rg"
	// resBoth holds a system-assigned identity (default) and uai1.
	resBoth = rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/cpu"
	// resUAI holds uai1 (default) and uai2.
	resUAI = rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep"
	// resNone holds no identity.
	resNone = rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/plain"
)

// fakeResolver is the test's stand-in for ARM state (the integrator's
// Resolver): resource ID → identities, default first.
type fakeResolver struct {
	mu   sync.Mutex
	ids  map[string][]*directory.Principal
	errs map[string]error
}

func (f *fakeResolver) Identities(_ context.Context, resourceID string) ([]*directory.Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := strings.ToLower(resourceID)
	if err := f.errs[k]; err != nil {
		return nil, err
	}
	ps, ok := f.ids[k]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return append([]*directory.Principal(nil), ps...), nil
}

func (f *fakeResolver) set(resourceID string, ps ...*directory.Principal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids[strings.ToLower(resourceID)] = ps
}

func (f *fakeResolver) fail(resourceID string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[strings.ToLower(resourceID)] = err
}

// env is a directory with one tenant, a token service, a workload registry
// and the MSI handler on a loopback httptest server.
type env struct {
	t      testing.TB
	dir    *directory.Directory
	svc    *token.Service
	reg    *workload.Registry
	res    *fakeResolver
	h      *Handler
	srv    *httptest.Server
	base   string
	logs   *testutil.Buffer
	tenant string

	sai, uai1, uai2, stranger *directory.Principal

	secrets testutil.Secrets // workload IDs, secrets and tokens seen, for the log scan
}

type envOptions struct {
	quiet bool // discard logs (benchmarks)
}

func newEnv(t testing.TB, opts ...func(*envOptions)) *env {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	st := memory.New()
	e := &env{t: t, dir: directory.New(st), logs: &testutil.Buffer{},
		res: &fakeResolver{ids: map[string][]*directory.Principal{}, errs: map[string]error{}}}
	e.tenant = uuid.NewString()
	must(t, e.dir.PutTenant(ctx, directory.Tenant{ID: e.tenant, DisplayName: "Contoso", DefaultDomain: "contoso.test"}))
	must(t, e.dir.PutSubscription(ctx, directory.Subscription{ID: sub, TenantID: e.tenant, DisplayName: "Contoso sub", State: "Enabled"}))
	mi := func(name, resourceID string, system bool) *directory.Principal {
		p := &directory.Principal{TenantID: e.tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity,
			DisplayName: name, AppID: uuid.NewString(), ResourceID: resourceID, SystemAssigned: system}
		must(t, e.dir.CreatePrincipal(ctx, p))
		return p
	}
	uaiID := func(n string) string { return rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + n }
	e.sai = mi("cpu", resBoth, true)
	e.uai1 = mi("uai1", uaiID("uai1"), false)
	e.uai2 = mi("uai2", uaiID("uai2"), false)
	e.stranger = mi("stranger", uaiID("stranger"), false)
	e.res.set(resBoth, e.sai, e.uai1)
	e.res.set(resUAI, e.uai1, e.uai2)
	e.res.set(resNone)

	var logger *slog.Logger
	if o.quiet {
		logger = slog.New(slog.DiscardHandler)
	} else {
		logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	svc, err := token.New(ctx, token.Config{BaseURL: "https://127.0.0.1:8443", Store: st, Directory: e.dir,
		Logger: logger, DefaultTenant: e.tenant})
	must(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	e.svc = svc
	e.reg = workload.NewRegistry(e.res)
	e.h, err = New(Config{Registry: e.reg, Tokens: svc, Logger: logger})
	must(t, err)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL
	t.Cleanup(func() {
		if t.Failed() && !o.quiet {
			t.Logf("server log:\n%s", e.logs.String())
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

func (e *env) note(vals ...string) { e.secrets.Note(vals...) }

// register starts a workload for resourceID.
func (e *env) register(t testing.TB, resourceID string) *workload.Workload {
	t.Helper()
	w, err := e.reg.Register(context.Background(), resourceID, workload.WithLabel("test"))
	must(t, err)
	e.note(w.ID, w.Secret)
	return w
}

// verify checks a token as a data plane would and that it belongs to want.
func (e *env) verify(t testing.TB, raw, aud string, want *directory.Principal) {
	t.Helper()
	e.note(raw)
	c, err := e.svc.Verify(context.Background(), raw, aud)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.ObjectID != want.ObjectID {
		t.Fatalf("oid %s, want %s (%s)", c.ObjectID, want.ObjectID, want.DisplayName)
	}
	if c.MIResourceID != want.ResourceID {
		t.Fatalf("xms_mirid %q, want %q", c.MIResourceID, want.ResourceID)
	}
	if c.AppID != want.AppID {
		t.Fatalf("appid %s, want %s", c.AppID, want.AppID)
	}
	if c.TenantID != e.tenant {
		t.Fatalf("tid %s, want %s", c.TenantID, e.tenant)
	}
}

// do sends a request and decodes the JSON answer.
func (e *env) do(t testing.TB, method, url string, hdr map[string]string, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	must(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := e.srv.Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d, body not JSON: %q", method, RedactPath(url), resp.StatusCode, b)
	}
	if tok, _ := m["access_token"].(string); tok != "" {
		e.note(tok)
	}
	return resp.StatusCode, m
}

// raw sends an exact request over TCP (no client-side path cleaning) and
// returns the status and body.
func (e *env) raw(t testing.TB, request string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.srv.Listener.Addr().String(), 5*time.Second)
	must(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(conn, request)
	must(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// noToken fails when an answer carries a token or is a success.
func noToken(t testing.TB, what string, status int, body map[string]any, wantStatus int) {
	t.Helper()
	if _, ok := body["access_token"]; ok || status == http.StatusOK {
		t.Fatalf("%s: got a token (status %d)", what, status)
	}
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %v", what, status, wantStatus, body)
	}
	if body["error"] == nil || body["error_description"] == nil {
		t.Fatalf("%s: want an Azure-like error body, got %v", what, body)
	}
}
