package token

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Debian's Python SDK and az live under /usr/bin; the test skips when they
// are missing (apt-get install -y python3-azure azure-cli).
const (
	debianPython = "/usr/bin/python3"
	debianAz     = "/usr/bin/az"
)

// pyScript obtains tokens with azure-identity 1.13 (MSAL Python 1.21).
// Secrets come through the environment, tokens go out as JSON lines.
const pyScript = `
import json, os
from azure.identity import ClientSecretCredential, UsernamePasswordCredential
host, tid = os.environ["AMLID_HOST"], os.environ["AMLID_TENANT"]
cid, sec = os.environ["AMLID_CLIENT_ID"], os.environ["AMLID_CLIENT_SECRET"]
out = {}
# A tenant ID needs instance discovery off (it would go to login.microsoftonline.com).
c = ClientSecretCredential(tenant_id=tid, client_id=cid, client_secret=sec, authority=host, instance_discovery=False)
out["secret_tenant"] = c.get_token("https://storage.azure.com/.default").token
# The adfs authority needs nothing else.
c = ClientSecretCredential(tenant_id="adfs", client_id=cid, client_secret=sec, authority=host)
out["secret_adfs"] = c.get_token("https://vault.azure.net/.default").token
# ROPC: MSAL Python's user-realm call drops the port, so use adfs.
u = UsernamePasswordCredential(client_id="04b07795-8ddb-461a-bbee-02f9e1bf7b46", username=os.environ["AMLID_USER"],
    password=os.environ["AMLID_PASSWORD"], tenant_id="adfs", authority=host)
out["user_adfs"] = u.get_token("https://management.core.windows.net//.default").token
print(json.dumps(out))
`

func TestPythonAzureIdentity(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatal("no /usr/bin/python3")
	}
	if exec.Command(debianPython, "-c", "import azure.identity").Run() != nil {
		t.Fatal("python3-azure is not installed: apt-get install -y python3-azure (scripts/test.sh does)")
	}
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "-c", pyScript)
	cmd.Env = append(os.Environ(),
		"REQUESTS_CA_BUNDLE="+e.caFile,
		"AMLID_HOST="+e.base, "AMLID_TENANT="+e.tenant,
		"AMLID_CLIENT_ID="+e.app.AppID, "AMLID_CLIENT_SECRET="+e.appSecret,
		"AMLID_USER="+e.user.UPN, "AMLID_PASSWORD="+e.userPassword)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	var toks map[string]string
	must(t, json.Unmarshal(out, &toks))
	for _, tc := range []struct{ key, aud, oid, idtyp string }{
		{"secret_tenant", storageAud, e.app.ObjectID, "app"},
		{"secret_adfs", "https://vault.azure.net", e.app.ObjectID, "app"},
		{"user_adfs", armAudience, e.user.ObjectID, "user"},
	} {
		c, err := e.svc.Verify(t.Context(), toks[tc.key], tc.aud)
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		wantClaims(t, c, tc.oid, e.tenant, tc.aud, tc.idtyp)
	}
}

// armStub is test scaffolding only: az login lists subscriptions and
// tenants through ARM, which is another package's job.
func armStub(e *env, h http.Handler) http.Handler {
	m := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) *Claims {
		raw, ok := BearerToken(r)
		if !ok {
			http.Error(w, `{"error":{"code":"AuthenticationFailed"}}`, http.StatusUnauthorized)
			return nil
		}
		c, err := e.svc.Verify(r.Context(), raw, armAudience, "https://management.azure.com/")
		if err != nil {
			http.Error(w, `{"error":{"code":"InvalidAuthenticationToken","message":"`+err.Error()+`"}}`, http.StatusUnauthorized)
			return nil
		}
		return c
	}
	m.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, r *http.Request) {
		c := auth(w, r)
		if c == nil {
			return
		}
		subs, _ := e.dir.Subscriptions(r.Context(), c.TenantID)
		var v []map[string]any
		for _, s := range subs {
			v = append(v, map[string]any{"id": "/subscriptions/" + s.ID, "subscriptionId": s.ID, "tenantId": s.TenantID,
				"displayName": s.DisplayName, "state": s.State, "managedByTenants": []any{}})
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": v})
	})
	m.HandleFunc("GET /tenants", func(w http.ResponseWriter, r *http.Request) {
		c := auth(w, r)
		if c == nil {
			return
		}
		t, _ := e.dir.Tenant(r.Context(), c.TenantID)
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{"id": "/tenants/" + t.ID, "tenantId": t.ID,
			"displayName": t.DisplayName, "defaultDomain": t.DefaultDomain, "tenantCategory": "Home"}}})
	})
	m.Handle("/", h)
	return m
}

// TestAzCLI: Debian's az 2.45 with a custom cloud whose AD endpoint is the
// adfs authority (client-protocols.md §3).
func TestAzCLI(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(debianAz); err != nil {
		t.Fatal("az is not installed: apt-get install -y azure-cli (scripts/test.sh does)")
	}
	e := newEnv(t, armStub)
	cfgDir := t.TempDir()
	az := func(t *testing.T, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, debianAz, args...)
		cmd.Env = append(os.Environ(), "AZURE_CONFIG_DIR="+cfgDir, "REQUESTS_CA_BUNDLE="+e.caFile,
			"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=false")
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("az %s: %v\n%s%s", strings.Join(redact(args), " "), err, out, stderr)
		}
		return out
	}
	accessToken := func(t *testing.T) string {
		var v struct {
			AccessToken string `json:"accessToken"`
			Tenant      string `json:"tenant"`
		}
		must(t, json.Unmarshal(az(t, "account", "get-access-token", "-o", "json"), &v))
		e.note(v.AccessToken)
		return v.AccessToken
	}
	cloud := "Emu" + uuid.NewString()[:6]
	az(t, "cloud", "register", "-n", cloud,
		"--endpoint-resource-manager", e.base+"/",
		"--endpoint-active-directory", e.base+"/adfs",
		"--endpoint-active-directory-resource-id", armAudience,
		"--endpoint-active-directory-graph-resource-id", "https://graph.windows.net/",
		"--endpoint-management", armAudience)
	az(t, "cloud", "set", "-n", cloud)

	t.Run("service principal", func(t *testing.T) {
		az(t, "login", "--service-principal", "-u", e.app.AppID, "-p", e.appSecret, "--tenant", e.tenant, "-o", "none")
		c, err := e.svc.Verify(t.Context(), accessToken(t), armAudience)
		must(t, err)
		wantClaims(t, c, e.app.ObjectID, e.tenant, armAudience, "app")
		az(t, "logout")
	})
	t.Run("user", func(t *testing.T) {
		az(t, "login", "-u", e.user.UPN, "-p", e.userPassword, "-o", "none")
		c, err := e.svc.Verify(t.Context(), accessToken(t), armAudience)
		must(t, err)
		wantClaims(t, c, e.user.ObjectID, e.tenant, armAudience, "user")
		if c.AppID != azCLIClientID {
			t.Fatalf("appid %s, want az's client ID", c.AppID)
		}
	})

}

// redact hides passwords in a failing command line.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && out[i-1] == "-p" {
			out[i] = "***"
		}
	}
	return out
}
