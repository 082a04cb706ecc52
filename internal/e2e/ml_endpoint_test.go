package e2e

import (
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walkthroughTree copies testdata/ml/endpoints (the azureml-examples layout
// the seed uses) to a temp dir as is — the scoring script is the seed's,
// byte for byte, building https://{account}.blob.core.chinacloudapi.cn/,
// which the deployment reaches through amlid's proxy (HTTPS_PROXY) — and
// trains the tiny regression model the script loads, with Debian's
// scikit-learn and joblib.
func walkthroughTree(t *testing.T, in *instance) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("testdata", "ml", "endpoints")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, "endpoints", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(root, "endpoints", "online", "model-1", "model")
	os.MkdirAll(modelDir, 0o755)
	train := exec.Command("/usr/bin/python3", "-c", `
import sys, numpy, joblib
from sklearn.linear_model import LinearRegression
X = numpy.arange(100).reshape(10, 10)
y = X.sum(axis=1)
joblib.dump(LinearRegression().fit(X, y), sys.argv[1])
`, filepath.Join(modelDir, "sklearn_regression_model.pkl"))
	if out, err := train.CombinedOutput(); err != nil {
		t.Fatalf("train the model: %v\n%s", err, out)
	}
	return filepath.Join(root, "endpoints")
}

// The seed walkthrough (../shared/seeds/002_*.txt) end to end, with its own
// commands and files: a system-assigned endpoint whose scoring code reads a
// blob through MSI_ENDPOINT (REST) and through azure-identity +
// azure-storage-blob (SDK); then the refusals of rules EP-2, EP-3 and EP-5.
func TestOnlineEndpointWalkthroughSAI(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	tree := walkthroughTree(t, in)
	mi := filepath.Join(tree, "online", "managed", "managed-identities")
	// The seed's scoring script, unedited: it builds China-cloud blob URLs.
	if b, _ := os.ReadFile(filepath.Join(tree, "online", "model-1", "onlinescoring", "score_managedidentity.py")); strings.Count(string(b), ".blob.core.chinacloudapi.cn/") != 2 {
		t.Fatalf("score_managedidentity.py is not the seed's:\n%s", b)
	}
	in.mustCLI(cfg, "group", "create", "-n", "ep-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=ep-rg", "workspace=ep-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ep-ws")

	// Storage account, container and the file the scoring code reads.
	const acct, cont, file = "epwalkthrough", "hello", "hello.txt"
	storageID := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "--name", acct, "--location", "eastus"))["id"].(string)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", acct, "--name", cont)
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", acct, "--container-name", cont, "--name", file, "--file", filepath.Join(mi, "hello.txt"))

	ep := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "create", "--name", "my-sai-endpoint", "-f", filepath.Join(mi, "1-sai-create-endpoint.yml")))
	if ep["identity"].(map[string]any)["type"] != "system_assigned" { // rule EP-1
		t.Fatalf("endpoint identity: %v", ep["identity"])
	}
	pid := strings.TrimSpace(in.mustCLI(cfg, "ml", "online-endpoint", "show", "--name", "my-sai-endpoint", "--query", "identity.principal_id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", storageID)

	dep := mustJSON(t, in.mustCLI(cfg, "ml", "online-deployment", "create", "--endpoint-name", "my-sai-endpoint", "--all-traffic", "--name", "blue",
		"--file", filepath.Join(mi, "2-sai-deployment.yml"), "--set", "environment_variables.STORAGE_ACCOUNT_NAME="+acct,
		"environment_variables.STORAGE_CONTAINER_NAME="+cont, "environment_variables.FILE_NAME="+file))
	if dep["provisioning_state"] != "Succeeded" {
		t.Fatalf("deployment: %v", dep)
	}
	// Rule WS-7: the first deployment created the workspace registry.
	reg := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "ep-ws", "--query", "container_registry", "-o", "tsv"))
	if !strings.Contains(reg, "/providers/Microsoft.ContainerRegistry/registries/") {
		t.Fatalf("container_registry after the first deployment: %q", reg)
	}
	// The seed's status check of the deployment.
	if d := mustJSON(t, in.mustCLI(cfg, "ml", "online-deployment", "show", "--endpoint-name", "my-sai-endpoint", "--name", "blue")); d["provisioning_state"] != "Succeeded" || d["endpoint_name"] != "my-sai-endpoint" {
		t.Fatalf("online-deployment show: %v", d)
	}
	// init() read the blob twice: REST through MSI_ENDPOINT, then the SDK.
	logs := in.mustCLI(cfg, "ml", "online-deployment", "get-logs", "--endpoint-name", "my-sai-endpoint", "--name", "blue")
	if n := strings.Count(logs, "Blob contains: Hello from blob storage"); n != 2 {
		t.Fatalf("get-logs shows the blob %d times, want 2 (REST and SDK):\n%s", n, logs)
	}
	out := in.mustCLI(cfg, "ml", "online-endpoint", "invoke", "--name", "my-sai-endpoint", "--request-file",
		filepath.Join(tree, "online", "model-1", "sample-request.json"))
	if !strings.Contains(out, "[") || !strings.Contains(out, "55") {
		t.Fatalf("invoke: %q", out)
	}

	t.Run("WS-7 ACR-1 the auto-created registry has the admin user on, until turned off", func(t *testing.T) {
		regName := reg[strings.LastIndex(reg, "/")+1:]
		acr := mustJSON(t, in.mustCLI(cfg, "acr", "show", "--name", regName))
		if acr["adminUserEnabled"] != true {
			t.Fatalf("the workspace-created registry must have the admin user on: %v", acr)
		}
		creds := mustJSON(t, in.mustCLI(cfg, "acr", "credential", "show", "--name", regName))
		user := creds["username"].(string)
		pass := creds["passwords"].([]any)[0].(map[string]any)["value"].(string)
		basic := func() int {
			req, _ := http.NewRequest(http.MethodGet, "https://"+acr["loginServer"].(string)+"/v2/_catalog", nil)
			req.SetBasicAuth(user, pass)
			resp, err := in.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := basic(); code != http.StatusOK {
			t.Fatalf("admin Basic auth while enabled: %d", code)
		}
		in.mustCLI(cfg, "acr", "update", "--name", regName, "--admin-enabled", "false")
		if code := basic(); code != http.StatusUnauthorized {
			t.Fatalf("admin Basic auth after --admin-enabled false: %d, want 401", code)
		}
		in.cliFails(t, cfg, []string{"UnAuthorizedForCredentialOperations"}, "acr", "credential", "show", "--name", regName)
	})
	t.Run("EP-5 a wrong key gets 401", func(t *testing.T) {
		uri := strings.TrimSpace(in.mustCLI(cfg, "ml", "online-endpoint", "show", "--name", "my-sai-endpoint", "--query", "scoring_uri", "-o", "tsv"))
		req, _ := http.NewRequest(http.MethodPost, uri, strings.NewReader(`{"data": [[1,2,3,4,5,6,7,8,9,10]]}`))
		req.Header.Set("Authorization", "Bearer not-the-key")
		resp, err := in.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong key: %d", resp.StatusCode)
		}
		// regenerate-keys: the old primary key stops working, the new one works.
		call := func(key string) int {
			req, _ := http.NewRequest(http.MethodPost, uri, strings.NewReader(`{"data": [[1,2,3,4,5,6,7,8,9,10]]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := in.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		old := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "--name", "my-sai-endpoint"))
		in.mustCLI(cfg, "ml", "online-endpoint", "regenerate-keys", "--name", "my-sai-endpoint", "--key-type", "primary")
		nu := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "--name", "my-sai-endpoint"))
		if nu["primaryKey"] == old["primaryKey"] || nu["secondaryKey"] != old["secondaryKey"] {
			t.Fatalf("regenerate-keys primary changed the wrong key: %v → %v", old, nu)
		}
		if code := call(old["primaryKey"].(string)); code != http.StatusUnauthorized {
			t.Fatalf("the old primary key still scores: %d", code)
		}
		if code := call(nu["primaryKey"].(string)); code != http.StatusOK {
			t.Fatalf("the new primary key: %d", code)
		}
	})
	t.Run("EP-2 the identity cannot change", func(t *testing.T) {
		y := filepath.Join(t.TempDir(), "uai.yml")
		uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "ep-uai"))
		os.WriteFile(y, []byte("name: my-sai-endpoint\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: "+uai["id"].(string)+"\n"), 0o644)
		in.cliFails(t, cfg, []string{"EP-2"}, "ml", "online-endpoint", "update", "-f", y)
	})
	t.Run("without the storage role get-logs shows the 403", func(t *testing.T) {
		in.mustCLI(cfg, "ml", "online-endpoint", "create", "--name", "no-blob-role", "-f", filepath.Join(mi, "1-sai-create-endpoint.yml"))
		_, se, code := in.cli(cfg, "ml", "online-deployment", "create", "--endpoint-name", "no-blob-role", "--name", "blue",
			"--file", filepath.Join(mi, "2-sai-deployment.yml"), "--set", "environment_variables.STORAGE_ACCOUNT_NAME="+acct,
			"environment_variables.STORAGE_CONTAINER_NAME="+cont, "environment_variables.FILE_NAME="+file)
		if code == 0 || !strings.Contains(se, "Deployment failed") {
			t.Fatalf("a deployment whose init() cannot read the blob must fail: exit %d\n%s", code, se)
		}
		logs := in.mustCLI(cfg, "ml", "online-deployment", "get-logs", "--endpoint-name", "no-blob-role", "--name", "blue")
		if !strings.Contains(logs, "403") || !strings.Contains(logs, "AuthorizationPermissionMismatch") {
			t.Fatalf("get-logs must show the blob service's 403 AuthorizationPermissionMismatch:\n%s", logs)
		}
	})
	t.Run("EP-5 deleting the endpoint deletes its deployments", func(t *testing.T) {
		uri := strings.TrimSpace(in.mustCLI(cfg, "ml", "online-endpoint", "show", "--name", "my-sai-endpoint", "--query", "scoring_uri", "-o", "tsv"))
		in.mustCLI(cfg, "ml", "online-endpoint", "delete", "--name", "my-sai-endpoint", "--yes")
		in.cliFails(t, cfg, []string{"NotFound"}, "ml", "online-deployment", "show", "--endpoint-name", "my-sai-endpoint", "--name", "blue")
		if resp, err := in.httpClient().Post(uri, "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			t.Fatalf("the deleted endpoint still answers at %s: %d", uri, resp.StatusCode)
		}
		// The seed's last command.
		in.mustCLI(cfg, "storage", "account", "delete", "--name", acct, "--yes")
		in.cliFails(t, cfg, []string{"not found"}, "storage", "account", "show", "--name", acct)
	})
}

// The same walkthrough with a user-assigned identity (UAI_CLIENT_ID in
// environment_variables); without AcrPull the deployment fails naming
// rule EP-3.
func TestOnlineEndpointWalkthroughUAI(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	tree := walkthroughTree(t, in)
	mi := filepath.Join(tree, "online", "managed", "managed-identities")
	in.mustCLI(cfg, "group", "create", "-n", "uai-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=uai-rg", "workspace=uai-ws")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "uai-ws"))
	const acct, cont, file = "epuaiwalk", "hello", "hello.txt"
	storageID := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "--name", acct, "--location", "eastus"))["id"].(string)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", acct, "--name", cont)
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", acct, "--container-name", cont, "--name", file, "--file", filepath.Join(mi, "hello.txt"))
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "scoring-uai"))
	uaiPID := uai["principalId"].(string)

	epYAML := fillTemplate(t, "endpoints/online/managed/managed-identities/1-uai-create-endpoint.yml", map[string]string{"user_identity_ARM_id_place_holder": uai["id"].(string)})
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", epYAML)
	for _, g := range [][2]string{{"Storage Blob Data Reader", storageID}, {"Storage Blob Data Reader", ws["storage_account"].(string)}} {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uaiPID, "--assignee-principal-type", "ServicePrincipal", "--role", g[0], "--scope", g[1])
	}
	depYAML := filepath.Join(mi, "2-uai-deployment.yml")
	args := []string{"ml", "online-deployment", "create", "--endpoint-name", "my-uai-endpoint", "--all-traffic", "--name", "blue", "--file", depYAML,
		"--set", "environment_variables.STORAGE_ACCOUNT_NAME=" + acct, "environment_variables.STORAGE_CONTAINER_NAME=" + cont,
		"environment_variables.FILE_NAME=" + file, "environment_variables.UAI_CLIENT_ID=" + uai["clientId"].(string)}
	// Rule EP-3: a user-assigned endpoint identity needs AcrPull on the
	// workspace registry (created by this first deployment, WS-7).
	in.cliFails(t, cfg, []string{"EP-3", "AcrPull", "amlid role assignment create --assignee-object-id " + uaiPID}, args...)
	reg := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "uai-ws", "--query", "container_registry", "-o", "tsv"))
	// explain/check report rule EP-3 offline, with the fix.
	so, _, code := in.cli(cfg, "check", "--rule", "EP-3", "--endpoint-name", "my-uai-endpoint")
	if code != 1 || !strings.Contains(so, "lacks AcrPull") || !strings.Contains(so, `--role \"AcrPull\" --scope `+reg) {
		t.Fatalf("check --rule EP-3 before the grant: exit %d\n%s", code, so)
	}
	in.mustCLI(cfg, "ml", "online-deployment", "delete", "--endpoint-name", "my-uai-endpoint", "--name", "blue", "--yes")
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uaiPID, "--assignee-principal-type", "ServicePrincipal", "--role", "AcrPull", "--scope", reg)
	if so, _, code := in.cli(cfg, "check", "--rule", "EP-3", "--endpoint-name", "my-uai-endpoint"); code != 0 || !strings.Contains(so, "Rule EP-3 holds") {
		t.Fatalf("check --rule EP-3 after the grant: exit %d\n%s", code, so)
	}
	dep := mustJSON(t, in.mustCLI(cfg, args...))
	if dep["provisioning_state"] != "Succeeded" {
		t.Fatalf("deployment: %v", dep)
	}
	logs := in.mustCLI(cfg, "ml", "online-deployment", "get-logs", "--endpoint-name", "my-uai-endpoint", "--name", "blue")
	if n := strings.Count(logs, "Blob contains: Hello from blob storage"); n != 2 {
		t.Fatalf("get-logs shows the blob %d times, want 2:\n%s", n, logs)
	}
	out := in.mustCLI(cfg, "ml", "online-endpoint", "invoke", "--name", "my-uai-endpoint", "--request-file",
		filepath.Join(tree, "online", "model-1", "sample-request.json"))
	if !strings.Contains(out, "55") {
		t.Fatalf("invoke: %q", out)
	}
}

// Traffic split between two deployments, aml_token auth, an environment
// from the docs' YAML, and deployments that come back after a restart.
func TestOnlineEndpointTrafficTokensRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := start(t, dir)
	cfg := t.TempDir()
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "group", "create", "-n", "echo-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=echo-rg", "workspace=echo-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "echo-ws")
	env := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "create", "-f", filepath.Join(echo, "environment.yml")))
	if env["name"] != "echo-env" || !strings.Contains(env["conda_file"].(string), "python=3.10") {
		t.Fatalf("environment: %v", env)
	}
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", filepath.Join(echo, "endpoint.yml"))
	for _, color := range []string{"blue", "green"} {
		args := []string{"ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"), "--name", color,
			"--set", "environment_variables.DEPLOYMENT_COLOR=" + color}
		if color == "blue" {
			args = append(args, "--all-traffic")
		}
		if d := mustJSON(t, in.mustCLI(cfg, args...)); d["provisioning_state"] != "Succeeded" || d["instance_count"] != float64(2) {
			t.Fatalf("deployment %s: %v", color, d)
		}
	}
	ep := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "update", "-n", "echo-endpoint", "--traffic", "blue=50 green=50"))
	if tr := ep["traffic"].(map[string]any); tr["blue"] != float64(50) || tr["green"] != float64(50) {
		t.Fatalf("traffic: %v", ep["traffic"])
	}
	in.cliFails(t, cfg, []string{"add up to 0 or 100"}, "ml", "online-endpoint", "update", "-n", "echo-endpoint", "--traffic", "blue=50 green=20")
	uri := ep["scoring_uri"].(string)
	score := func(token, deployment string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, uri, strings.NewReader(`{"x": 1}`))
		req.Header.Set("Authorization", "Bearer "+token)
		if deployment != "" {
			req.Header.Set("azureml-model-deployment", deployment)
		}
		resp, err := in.httpClient().Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	tok := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "-n", "echo-endpoint"))["accessToken"].(string)
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		code, body := score(tok, "")
		if code != http.StatusOK {
			t.Fatalf("score: %d %s", code, body)
		}
		seen[map[bool]string{true: "blue", false: "green"}[strings.Contains(body, `"blue"`)]] = true
	}
	if !seen["blue"] || !seen["green"] {
		t.Fatalf("a 50/50 split reached only %v in 40 calls", seen)
	}
	if code, body := score(tok, "green"); code != http.StatusOK || !strings.Contains(body, `"green"`) {
		t.Fatalf("azureml-model-deployment: green → %d %s", code, body)
	}
	if code, _ := score(tok[:len(tok)-4]+"AAAA", ""); code != http.StatusUnauthorized {
		t.Fatalf("a forged aml_token: %d, want 401", code)
	}
	out := in.mustCLI(cfg, "ml", "online-endpoint", "invoke", "-n", "echo-endpoint", "--deployment-name", "blue",
		"--request-file", filepath.Join("testdata", "ml", "endpoints", "online", "model-1", "sample-request.json"))
	if !strings.Contains(out, `\"color\": \"blue\"`) {
		t.Fatalf("invoke prints the answer as a JSON string, as az does: %s", out)
	}

	if v := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "show", "-n", "echo-env", "-v", "1")); v["image"] != "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest" {
		t.Fatalf("environment show: %v", v)
	}
	if l := in.mustCLI(cfg, "ml", "environment", "list", "--query", "[].name", "-o", "tsv"); !strings.Contains(l, "echo-env") {
		t.Fatalf("environment list: %q", l)
	}
	// --no-wait returns as soon as the deployment is accepted.
	if d := mustJSON(t, in.mustCLI(cfg, "ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"), "--name", "red",
		"--no-wait", "--set", "environment_variables.DEPLOYMENT_COLOR=red")); d["provisioning_state"] != "Creating" {
		t.Fatalf("--no-wait: %v", d["provisioning_state"])
	}
	in.mustCLI(cfg, "ml", "online-deployment", "delete", "-e", "echo-endpoint", "-n", "red", "--yes")
	// update restarts the deployment with the new settings.
	if d := mustJSON(t, in.mustCLI(cfg, "ml", "online-deployment", "update", "-e", "echo-endpoint", "-n", "green", "--set", "instance_count=1")); d["instance_count"] != float64(1) || d["provisioning_state"] != "Succeeded" {
		t.Fatalf("deployment update: %v", d)
	}
	if code, body := score(tok, "green"); code != http.StatusOK || !strings.Contains(body, `"green"`) {
		t.Fatalf("after update: %d %s", code, body)
	}

	// A restart brings the deployments back on the same scoring URI.
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	in2 := start(t, dir)
	cfg = t.TempDir() // the restart picked new front-door ports (--port -1): no cached tokens
	in2.mustCLI(cfg, "configure", "--defaults", "group=echo-rg", "workspace=echo-ws")
	tok = mustJSON(t, in2.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "-n", "echo-endpoint"))["accessToken"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := score(tok, "blue")
		if code == http.StatusOK && strings.Contains(body, `"blue"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart the deployment does not score: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs := in2.mustCLI(cfg, "ml", "online-deployment", "get-logs", "-e", "echo-endpoint", "-n", "green")
	if !strings.Contains(logs, "init: deployment green") {
		t.Fatalf("get-logs after restart:\n%s", logs)
	}
}
