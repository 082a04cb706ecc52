package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// az's argument syntax (issue 16): the user's exact commands. A multi-value
// option takes space-separated values as in az (nargs='+'/'*', list from
// az's command table: internal/cli/aznargs.json), and a command that does
// not exist (ml batch-endpoint) says "unknown command", not "unknown flag".
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
		{"ml", "batch-endpoint", "create", "--name", "my-batch", "--file", "endpoint.yml"},
		{"ml", "batch-endpoint", "list"},
	} {
		so, se, code := in.cli(cfg, args...)
		if code != 2 || !strings.Contains(se, `unknown command "batch-endpoint" for "amlid ml"`) || strings.Contains(se, "unknown flag") {
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
	// Debian's az (amlid registered as its cloud) signs in with the
	// exported name, and with the domain: az resolves both to the ID.
	az := newAz(t, in)
	for _, tn := range []string{"adfs", domain} {
		az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", tn, "-o", "none")
		if got := strings.TrimSpace(az.must(t, "account", "show", "--query", "tenantId", "-o", "tsv")); got != in.State.TenantID {
			t.Fatalf("az login --tenant %s: account tenant %q", tn, got)
		}
		az.must(t, "group", "show", "-n", "tenant-rg")
	}
	// The CLI signs in with --tenant adfs and records the tenant's ID.
	login := in.bash(t, t.TempDir(), `eval "$(amlid env)"
amlid login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
amlid account get-access-token --query tenant -o tsv`)
	if strings.TrimSpace(login) != in.State.TenantID {
		t.Fatalf("amlid login --tenant adfs records tenant %q", login)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Stable identities across restarts (issue 16): a signed-in CLI profile, a
// shell set up by `eval "$(amlid env)"` before the restart, and Debian's az
// with amlid registered as a cloud keep working when `amlid up` comes back
// on another port, with no new login.
func TestRestartOnAnotherPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in1 := start(t, dir, "--port", freePort(t))
	cfg := t.TempDir()
	// Signed in as the bootstrap admin (the profile, not the env's credentials).
	if so, se, code := in1.runCLI(cfg, false, "login", "--service-principal", "-u", in1.Boot.ClientID, "-p", in1.Boot.ClientSecret,
		"--tenant", in1.Boot.TenantID, "-o", "none"); code != 0 {
		t.Fatalf("amlid login: %d %s%s", code, so, se)
	}
	if so, se, code := in1.runCLI(cfg, false, "group", "create", "-n", "before-restart", "-l", "eastus", "-o", "none"); code != 0 {
		t.Fatalf("group create: %d %s%s", code, so, se)
	}
	tok := mustJSON(t, in1.mustCLI(cfg, "account", "get-access-token"))["accessToken"].(string)
	az := newAz(t, in1)
	az.must(t, "login", "--service-principal", "-u", in1.Boot.ClientID, "-p", in1.Boot.ClientSecret, "--tenant", in1.Boot.TenantID)
	az.must(t, "group", "show", "-n", "before-restart")
	oldShell := in1.env()
	if err := in1.stop(); err != nil {
		t.Fatal(err)
	}

	in2 := start(t, dir, "--port", freePort(t))
	if in2.State.ARMURL == in1.State.ARMURL {
		t.Fatalf("the restart kept %s", in2.State.ARMURL)
	}
	// The CLI in the shell that still holds the old exports: its profile and
	// cached token work against the new port.
	in2.envOnce.Do(func() {})
	in2.envVars = oldShell
	if so, se, code := in2.runCLI(cfg, false, "group", "show", "-n", "before-restart", "--query", "name", "-o", "tsv"); code != 0 || strings.TrimSpace(so) != "before-restart" {
		t.Fatalf("amlid group show after the restart, old shell: exit %d\n%s%s", code, so, se)
	}
	// A token issued before the restart is still amlid's.
	req, _ := http.NewRequest(http.MethodGet, in2.State.ARMURL+"/subscriptions/"+in2.State.SubscriptionID+"/resourcegroups?api-version=2021-04-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := in2.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a pre-restart token on the new port: %d %s", resp.StatusCode, body)
	}
	// az: the cloud registration is refreshed with the same command, no new login.
	in2.envVars = in2.readEnv()
	script, err := exec.Command(amlidBin, "env", "--az-cloud", "--data-dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-ec", string(script))
	cmd.Env = az.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("az cloud update: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(az.must(t, "group", "show", "-n", "before-restart", "--query", "name", "-o", "tsv")); got != "before-restart" {
		t.Fatalf("az group show after the restart: %q", got)
	}
}

// `amlid run --as` workloads reach Azure's host names by default (issue 16):
// code written for Azure — ManagedIdentityCredential and a BlobClient on
// https://{account}.blob.core.windows.net — runs unchanged.
func TestRunAsReachesAzureNames(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(cfg, "group", "create", "-n", "runnames-rg", "-l", "eastus")
	id := "/subscriptions/" + sub + "/resourceGroups/runnames-rg/providers/Microsoft.Storage/storageAccounts/runnames"
	res := in.armPut(t, id, "2023-01-01", map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"},
		"identity": map[string]any{"type": "SystemAssigned"}})
	pid := res["identity"].(map[string]any)["principalId"].(string)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", id)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee", in.Boot.ClientID, "--role", "Storage Blob Data Contributor", "--scope", id)
	in.mustCLI(cfg, "storage", "container", "create", "-n", "hello", "--account-name", "runnames", "--auth-mode", "login")
	f := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(f, []byte("Hello from an Azure name"), 0o644)
	in.mustCLI(cfg, "storage", "blob", "upload", "-f", f, "-c", "hello", "-n", "hello.txt", "--account-name", "runnames", "--auth-mode", "login")

	script := `
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient
blob_client = BlobClient(account_url="https://runnames.blob.core.windows.net/", container_name="hello", blob_name="hello.txt",
                         credential=ManagedIdentityCredential())
print(blob_client.download_blob().content_as_text())
`
	cmd := exec.Command(amlidBin, "run", "--as", id, "--", "/usr/bin/python3", "-c", script)
	cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "Hello from an Azure name" {
		t.Fatalf("amlid run --as with an Azure blob name: %v\n%s", err, out)
	}
}
