package e2e

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// az's argument syntax (issue 16): the user's exact commands. A multi-value
// option takes space-separated values as in az (nargs='+'/'*', list from
// az's command table: internal/cli/aznargs.json), and a command that does
// not exist says "unknown command", not "unknown flag".
func TestAzArgumentSyntax(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "syntax-rg", "-l", "eastus", "--tags", "team=ml", "env=dev")
	in.mustCLI(cfg, "keyvault", "create", "-n", "kvsyntax", "-g", "syntax-rg")
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-g", "syntax-rg", "-n", "syntax-uai"))
	oid := uai["principalId"].(string)

	in.mustCLI(cfg, "keyvault", "set-policy", "-n", "kvsyntax", "--object-id", oid, "--secret-permissions", "get", "list", "set", "delete")
	v := mustJSON(t, in.mustCLI(cfg, "keyvault", "show", "-n", "kvsyntax"))
	var got []string
	for _, p := range v["properties"].(map[string]any)["accessPolicies"].([]any) {
		p := p.(map[string]any)
		if p["objectId"] == oid {
			for _, s := range p["permissions"].(map[string]any)["secrets"].([]any) {
				got = append(got, strings.ToLower(s.(string)))
			}
		}
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "delete get list set" {
		t.Fatalf("set-policy --secret-permissions get list set delete: the policy holds %q\n%v", got, v["properties"])
	}
	g := mustJSON(t, in.mustCLI(cfg, "group", "show", "-n", "syntax-rg"))
	if tags := g["tags"].(map[string]any); tags["team"] != "ml" || tags["env"] != "dev" {
		t.Fatalf("group create --tags team=ml env=dev: %v", tags)
	}

	for _, args := range [][]string{
		{"ml", "compute", "create", "--name", "cpu-cluster", "--size", "Standard_DS3_v2", "--min-instances", "0"},
		{"ml", "compute", "list"},
	} {
		so, se, code := in.cli(cfg, args...)
		if code != 2 || !strings.Contains(se, `unknown command "compute" for "amlid ml"`) || strings.Contains(se, "unknown flag") {
			t.Fatalf("amlid %s: exit %d\n%s%s", strings.Join(args, " "), code, so, se)
		}
	}
}

// bash runs a shell script the way a user does after `eval "$(amlid env)"`,
// with the amlid binary first on PATH; it returns stdout and fails the test
// on a non-zero exit.
func (in *instance) bash(t *testing.T, cfgDir, script string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	env := []string{"PATH=" + filepath.Dir(amlidBin) + ":" + os.Getenv("PATH"), "AMLID_CONFIG_DIR=" + cfgDir}
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, "AMLID_DATA_DIR="+in.DataDir), extra...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("script failed: %v\n%s\nstdout:\n%s\nstderr:\n%s", err, script, so.String(), se.String())
	}
	return so.String()
}

// One tenant vocabulary (issue 16): what `amlid env` exports as
// AZURE_TENANT_ID ("adfs"), the tenant ID and the tenant's domain are
// accepted by every API that takes a tenant. The user's script: the ACR
// token exchange with tenant=$AZURE_TENANT_ID.
func TestTenantVocabulary(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "tenant-rg", "-l", "eastus")
	in.mustCLI(cfg, "acr", "create", "-n", "tenantreg", "-g", "tenant-rg")
	out := in.bash(t, cfg, `
eval "$(amlid env)"
LOGIN_SERVER=$(amlid acr show -n tenantreg --query loginServer -o tsv)
AAD_TOKEN=$(amlid account get-access-token --query accessToken -o tsv)
curl -sS --fail-with-body -X POST "https://$LOGIN_SERVER/oauth2/exchange" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=access_token" --data-urlencode "service=$LOGIN_SERVER" \
  --data-urlencode "tenant=$AZURE_TENANT_ID" --data-urlencode "access_token=$AAD_TOKEN"
`)
	if rt := mustJSON(t, out)["refresh_token"]; rt == nil {
		t.Fatalf("exchange with tenant=$AZURE_TENANT_ID: %s", out)
	}
	if !strings.Contains(strings.Join(in.env(), "\n"), "AZURE_TENANT_ID=adfs") {
		t.Fatalf("amlid env no longer exports adfs: update this test's premise\n%v", in.env())
	}
	exchange := func(tenant string) (int, string) {
		t.Helper()
		ls := strings.TrimSpace(in.mustCLI(cfg, "acr", "show", "-n", "tenantreg", "--query", "loginServer", "-o", "tsv"))
		aad := strings.TrimSpace(in.mustCLI(cfg, "account", "get-access-token", "--query", "accessToken", "-o", "tsv"))
		resp, err := in.httpClient().PostForm("https://"+ls+"/oauth2/exchange", url.Values{"grant_type": {"access_token"},
			"service": {ls}, "tenant": {tenant}, "access_token": {aad}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const domain = "amlid.onmicrosoft.com" // the default tenant's domain (GET /tenants)
	for _, tn := range []string{in.State.TenantID, strings.ToUpper(in.State.TenantID), "ADFS", domain} {
		if st, body := exchange(tn); st != 200 {
			t.Errorf("exchange with tenant=%s: %d %s", tn, st, body)
		}
	}
	if st, body := exchange("no-such-tenant.example"); st != 401 || !strings.Contains(body, "not found") {
		t.Errorf("exchange with an unknown tenant: %d %s", st, body)
	}
	// Key Vault: properties.tenantId may be the exported name too.
	sub := in.State.SubscriptionID
	v := in.armPut(t, "/subscriptions/"+sub+"/resourceGroups/tenant-rg/providers/Microsoft.KeyVault/vaults/kvtenant", "2022-07-01",
		map[string]any{"location": "eastus", "properties": map[string]any{"tenantId": "adfs", "sku": map[string]any{"family": "A", "name": "standard"},
			"enableRbacAuthorization": true}})
	if tid := v["properties"].(map[string]any)["tenantId"]; tid != in.State.TenantID {
		t.Fatalf("vault with tenantId adfs: %v", v["properties"])
	}
	// The CLI signs in with --tenant adfs and records the tenant's ID.
	login := in.bash(t, t.TempDir(), `eval "$(amlid env)"
amlid login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
amlid account get-access-token --query tenant -o tsv`)
	if strings.TrimSpace(login) != in.State.TenantID {
		t.Fatalf("amlid login --tenant adfs records tenant %q", login)
	}
}
