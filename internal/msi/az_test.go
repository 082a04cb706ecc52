package msi

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
)

// armStub is test scaffolding only: after getting its token from
// MSI_ENDPOINT, `az login --identity` lists subscriptions through ARM over
// TLS (another package's job in amlid). It verifies the bearer token like
// ARM would and records who called.
type armStub struct {
	e    *env
	srv  *httptest.Server
	ca   string
	mu   sync.Mutex
	oids []string
}

func newARMStub(t *testing.T, e *env) *armStub {
	a := &armStub{e: e}
	m := http.NewServeMux()
	m.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := token.BearerToken(r)
		if !ok {
			http.Error(w, `{"error":{"code":"AuthenticationFailed"}}`, http.StatusUnauthorized)
			return
		}
		c, err := e.svc.Verify(r.Context(), raw, armAud, "https://management.azure.com/")
		if err != nil {
			http.Error(w, `{"error":{"code":"InvalidAuthenticationToken"}}`, http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		a.oids = append(a.oids, c.ObjectID)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"value": []any{map[string]any{
			"id": "/subscriptions/" + sub, "subscriptionId": sub, "tenantId": c.TenantID, "displayName": "Contoso sub",
			"state": "Enabled", "managedByTenants": []any{}}}})
	})
	a.srv = httptest.NewTLSServer(m)
	t.Cleanup(a.srv.Close)
	a.ca = filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(a.ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.srv.Certificate().Raw}), 0o600))
	return a
}

func (a *armStub) callers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.oids...)
}

// TestAzLoginIdentity: Debian's az 2.45 `az login --identity` with the
// workload environment. az POSTs (CloudShell form, no secret) to
// $MSI_ENDPOINT, then lists subscriptions through ARM with the token; `az
// account get-access-token` POSTs again.
func TestAzLoginIdentity(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(debianAz); err != nil {
		t.Fatal("az is not installed: apt-get install -y azure-cli (scripts/test.sh does)")
	}
	e := newEnv(t)
	arm := newARMStub(t, e)
	w := e.register(t, resBoth)
	cfgDir := t.TempDir()
	base := cleanEnv()
	base = append(base, "AZURE_CONFIG_DIR="+cfgDir, "REQUESTS_CA_BUNDLE="+arm.ca, "AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=false", "AZURE_CORE_ONLY_SHOW_ERRORS=true")
	for k, v := range EnvFor(w, e.base) {
		base = append(base, k+"="+v)
	}
	az := func(t *testing.T, wantOK bool, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, debianAz, args...)
		cmd.Env = base
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("az %s: err=%v, want ok=%v\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		return out
	}
	getToken := func(t *testing.T, resource string) string {
		t.Helper()
		var v struct {
			AccessToken string `json:"accessToken"`
		}
		out := az(t, true, "account", "get-access-token", "--resource", resource, "-o", "json")
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("az account get-access-token: %v\n%s", err, out)
		}
		e.note(v.AccessToken)
		return v.AccessToken
	}
	cloud := "Emu" + uuid.NewString()[:6]
	az(t, true, "cloud", "register", "-n", cloud,
		"--endpoint-resource-manager", arm.srv.URL+"/",
		"--endpoint-active-directory", arm.srv.URL+"/adfs",
		"--endpoint-active-directory-resource-id", armAud,
		"--endpoint-active-directory-graph-resource-id", "https://graph.windows.net/",
		"--endpoint-management", armAud)
	az(t, true, "cloud", "set", "-n", cloud)

	t.Run("system-assigned", func(t *testing.T) {
		out := az(t, true, "login", "--identity", "-o", "json")
		var accts []struct {
			TenantID string `json:"tenantId"`
			User     struct {
				Name, Type string
			} `json:"user"`
		}
		if err := json.Unmarshal(out, &accts); err != nil || len(accts) != 1 || accts[0].TenantID != e.tenant {
			t.Fatalf("az login --identity: %v\n%s", err, out)
		}
		if c := arm.callers(); len(c) == 0 || c[len(c)-1] != e.sai.ObjectID {
			t.Fatalf("ARM saw %v, want the system-assigned identity %s", c, e.sai.ObjectID)
		}
		e.verify(t, getToken(t, "https://storage.azure.com"), storageAud, e.sai)
		if !strings.Contains(e.logs.String(), "form=cloudshell-post") {
			t.Fatal("az did not use the POST form")
		}
	})
	t.Run("user-assigned by client ID", func(t *testing.T) {
		az(t, true, "login", "--identity", "--username", e.uai1.AppID, "-o", "none")
		if c := arm.callers(); c[len(c)-1] != e.uai1.ObjectID {
			t.Fatalf("ARM saw %v, want uai1 %s", c, e.uai1.ObjectID)
		}
		e.verify(t, getToken(t, "https://vault.azure.net"), "https://vault.azure.net", e.uai1)
	})
	t.Run("user-assigned by resource ID", func(t *testing.T) {
		az(t, true, "login", "--identity", "--username", e.uai1.ResourceID, "-o", "none")
		e.verify(t, getToken(t, "https://storage.azure.com"), storageAud, e.uai1)
	})
	t.Run("identity not held", func(t *testing.T) {
		before := len(arm.callers())
		out := az(t, false, "login", "--identity", "--username", e.uai2.AppID, "-o", "none")
		t.Logf("az refused as expected: %s", strings.TrimSpace(string(out)))
		if !strings.Contains(string(out), "400") {
			t.Fatalf("want az to report the endpoint's 400:\n%s", out)
		}
		if strings.Contains(string(out), "eyJ") {
			t.Fatalf("output carries a token:\n%s", out)
		}
		if c := arm.callers(); len(c) != before {
			t.Fatalf("ARM was called with a token after a refused identity: %v", c[before:])
		}
	})
	t.Run("after the workload ended", func(t *testing.T) {
		az(t, true, "login", "--identity", "-o", "none")
		e.reg.Unregister(w.ID)
		az(t, false, "account", "get-access-token", "--resource", "https://storage.azure.com", "-o", "json")
	})
}
