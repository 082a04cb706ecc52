package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// splitCommand splits a fix command as a shell would (double quotes only:
// that is how amlid writes role names).
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	inQ, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ, has = !inQ, true
		case r == ' ' && !inQ:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

type analyzeReport struct {
	Resources []struct {
		ID       string `json:"id"`
		Findings []struct {
			Rule     string `json:"rule"`
			Kind     string `json:"kind"`
			Role     string `json:"role"`
			Met      bool   `json:"met"`
			Optional bool   `json:"optional"`
			Fix      string `json:"fix"`
			Identity struct {
				PrincipalID string `json:"principalId"`
			} `json:"identity"`
		} `json:"findings"`
	} `json:"resources"`
	Excess []struct {
		Role string `json:"role"`
		Fix  string `json:"fix"`
	} `json:"excessGrants"`
	Unmet int `json:"unmet"`
}

// The access analyzer end to end (issue 14): a broken graph built through
// the CLI — a user-assigned workspace that lost Key Vault Administrator
// (RBAC model), another whose identity lost access-policy permissions, an
// endpoint identity lacking AcrPull and Storage Blob Data Reader and holding
// Owner where a data reader suffices — is reported by `amlid analyze` with
// each rule and fix; the printed fixes make it exit 0, and the deployment
// then succeeds. What-if on the deployment YAML predicts the same.
func TestAccessAnalyzerEndToEnd(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "an-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=an-rg", "workspace=an-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "an-rg", "--query", "id", "-o", "tsv"))
	grant := func(pid, role, scope string) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal", "--role", role, "--scope", scope)
	}
	uai := func(name string) map[string]any {
		return mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", name))
	}

	// A user-assigned workspace under the RBAC vault model, then its Key
	// Vault Administrator role removed.
	st := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "anstore", "-l", "eastus"))["id"].(string)
	kvR := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "an-kv-rbac", "--enable-rbac-authorization", "true"))["id"].(string)
	kvP := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "an-kv-policy"))["id"].(string)
	u1, u2 := uai("ws-rbac-id"), uai("ws-policy-id")
	p1, p2 := u1["principalId"].(string), u2["principalId"].(string)
	grant(p1, "Contributor", rgID)
	grant(p1, "Key Vault Administrator", kvR)
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ws-rbac", "--storage-account", st, "--key-vault", kvR,
		"--identity-type", "user_assigned", "--user-assigned-identities", u1["id"].(string), "--primary-user-assigned-identity", u1["id"].(string))
	in.mustCLI(cfg, "role", "assignment", "delete", "--assignee", p1, "--role", "Key Vault Administrator", "--scope", kvR)
	// The same under the access-policy model, then its permissions narrowed.
	grant(p2, "Contributor", rgID)
	in.mustCLI(cfg, "keyvault", "set-policy", "-n", "an-kv-policy", "--object-id", p2, "--secret-permissions", "get,list,set,delete,backup,restore,recover")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ws-policy", "--storage-account", st, "--key-vault", kvP,
		"--identity-type", "user_assigned", "--user-assigned-identities", u2["id"].(string), "--primary-user-assigned-identity", u2["id"].(string))
	in.mustCLI(cfg, "keyvault", "delete-policy", "-n", "an-kv-policy", "--object-id", p2)
	in.mustCLI(cfg, "keyvault", "set-policy", "-n", "an-kv-policy", "--object-id", p2, "--secret-permissions", "get,list")

	// A system-assigned workspace with its own registry, and a user-assigned
	// endpoint whose identity has Owner on the storage and nothing else.
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "anreg", "--sku", "Basic"))["id"].(string)
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "an-ws", "--container-registry", reg))
	wsStorage := ws["storage_account"].(string)
	epID := uai("ep-id")
	pe := epID["principalId"].(string)
	grant(pe, "Owner", wsStorage)
	dir := t.TempDir()
	epYAML := filepath.Join(dir, "endpoint.yml")
	os.WriteFile(epYAML, []byte("name: ep-uai\nauth_mode: key\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: "+epID["id"].(string)+"\n"), 0o644)
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", epYAML)
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "ml", "environment", "create", "-f", filepath.Join(echo, "environment.yml"))
	depArgs := []string{"ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"), "--endpoint-name", "ep-uai", "--name", "blue", "--all-traffic", "--set", "instance_count=1", "environment_variables.DEPLOYMENT_COLOR=blue"}

	// What-if on the deployment YAML predicts the refusal before it is submitted.
	so, se, code := in.cli(cfg, "analyze", "-f", filepath.Join(echo, "deployment.yml"), "--endpoint-name", "ep-uai")
	if code != 1 || !strings.Contains(so, `"rule": "EP-3"`) || !strings.Contains(so, "AcrPull") || !strings.Contains(so, "Storage Blob Data Reader") {
		t.Fatalf("what-if before the fixes: exit %d\n%s\n%s", code, so, se)
	}

	so, se, code = in.cli(cfg, "analyze", "-g", "an-rg")
	if code != 1 {
		t.Fatalf("analyze on a broken graph: exit %d\n%s\n%s", code, so, se)
	}
	var rep analyzeReport
	if err := json.Unmarshal([]byte(so), &rep); err != nil {
		t.Fatalf("analyze output: %v\n%s", err, so)
	}
	want := map[string]bool{"WS-5 Key Vault Administrator " + p1: false, "WS-5 accessPolicy " + p2: false, "EP-3 AcrPull " + pe: false, "EP-3 Storage Blob Data Reader " + pe: false}
	var fixes []string
	for _, r := range rep.Resources {
		for _, f := range r.Findings {
			if f.Met || f.Optional {
				continue
			}
			k := f.Rule + " " + f.Role + " " + f.Identity.PrincipalID
			if f.Kind == "accessPolicy" {
				k = f.Rule + " accessPolicy " + f.Identity.PrincipalID
			}
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected gap %s (fix %s)", k, f.Fix)
			}
			want[k] = true
			if f.Fix == "" {
				t.Errorf("gap %s has no fix", k)
			}
			fixes = append(fixes, f.Fix)
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("analyze missed %s", k)
		}
	}
	if len(rep.Excess) != 1 || rep.Excess[0].Role != "Owner" {
		t.Fatalf("excess grants: %+v", rep.Excess)
	}
	fixes = append(fixes, rep.Excess[0].Fix)
	if t.Failed() {
		t.FailNow()
	}
	// SARIF for CI annotations: one result per gap.
	so, _, _ = in.cli(cfg, "analyze", "-g", "an-rg", "--output-format", "sarif")
	var sr struct {
		Runs []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if json.Unmarshal([]byte(so), &sr) != nil || len(sr.Runs) != 1 {
		t.Fatalf("sarif: %s", so)
	}
	failing := 0
	for _, r := range sr.Runs[0].Results {
		if r.Level == "error" || r.Level == "warning" {
			failing++
		}
	}
	if failing != 5 {
		t.Fatalf("sarif: %d failing results, want 5 (4 gaps, 1 excess grant)\n%s", failing, so)
	}
	// least-privilege names the roles the endpoint identity needs, and Owner as wider.
	lp := in.mustCLI(cfg, "access", "least-privilege", "--resource", rgID+"/providers/Microsoft.MachineLearningServices/workspaces/an-ws/onlineEndpoints/ep-uai")
	if !strings.Contains(lp, `"AcrPull"`) || !strings.Contains(lp, `"Storage Blob Data Reader"`) || !strings.Contains(lp, `"Owner"`) {
		t.Fatalf("least-privilege: %s", lp)
	}
	// who-can lists the endpoint identity as a holder of Owner's actions on the storage.
	wc := in.mustCLI(cfg, "access", "who-can", "--scope", wsStorage, "--action", "Microsoft.Storage/storageAccounts/write")
	if !strings.Contains(wc, pe) {
		t.Fatalf("who-can: %s", wc)
	}

	for _, fix := range fixes {
		args := splitCommand(fix)
		if args[0] != "amlid" {
			t.Fatalf("fix %q is not an amlid command", fix)
		}
		in.mustCLI(cfg, args[1:]...)
	}
	if so, se, code := in.cli(cfg, "analyze", "-g", "an-rg"); code != 0 {
		t.Fatalf("analyze after running the printed fixes: exit %d\n%s\n%s", code, so, se)
	}
	if so, se, code := in.cli(cfg, "analyze", "-f", filepath.Join(echo, "deployment.yml"), "--endpoint-name", "ep-uai"); code != 0 {
		t.Fatalf("what-if after the fixes: exit %d\n%s\n%s", code, so, se)
	}
	if d := mustJSON(t, in.mustCLI(cfg, depArgs...)); d["provisioning_state"] != "Succeeded" {
		t.Fatalf("deployment after the fixes: %v", d)
	}

	// Bad input: exit 2 with a clear message, never a panic.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("name: [unclosed\n  identity: {"), 0o644)
	for _, args := range [][]string{
		{"analyze", "-f", bad},
		{"analyze", "--resource", rgID + "/providers/Microsoft.MachineLearningServices/workspaces/no-such-ws"},
		{"analyze", "--resource", "not-an-id"},
		{"access", "who-can", "--scope", rgID, "--action", "read"},
		{"access", "least-privilege", "--resource", "nope"},
	} {
		so, se, code := in.cli(cfg, args...)
		if code != 2 || strings.Contains(se, "panic") || strings.TrimSpace(se) == "" {
			t.Errorf("%v: exit %d\n%s%s", args, code, so, se)
		}
	}
}

// One acting identity everywhere (issue 14): with user-assigned identities
// uaiB and uaia on one endpoint, rule EP-3, `check --rule EP-3` and the
// MSI_ENDPOINT default token all name uaia (the first by lower-cased ID).
func TestActingIdentityIsOneEverywhere(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "act-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=act-rg", "workspace=act-ws")
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "actreg", "--sku", "Basic"))["id"].(string)
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "act-ws", "--container-registry", reg)
	b := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "uaiB"))
	a := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "uaia"))
	pa, pb := a["principalId"].(string), b["principalId"].(string)
	dir := t.TempDir()
	epYAML := filepath.Join(dir, "endpoint.yml")
	os.WriteFile(epYAML, []byte("name: two-uai\nauth_mode: key\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: "+
		b["id"].(string)+"\n    - resource_id: "+a["id"].(string)+"\n"), 0o644)
	ep := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", epYAML))

	// EP-3 on the server: the deployment's refusal names uaia.
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "ml", "environment", "create", "-f", filepath.Join(echo, "environment.yml"))
	in.cliFails(t, cfg, []string{"EP-3", pa}, "ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"),
		"--endpoint-name", "two-uai", "--name", "blue", "--set", "instance_count=1")
	// explain/check --rule EP-3 in the CLI: the same identity.
	so, _, _ := in.cli(cfg, "check", "--rule", "EP-3", "--endpoint-name", "two-uai")
	if rep := mustJSON(t, so); rep["principalId"] != pa {
		t.Fatalf("check --rule EP-3 names %v, want uaia %s (uaiB is %s)\n%s", rep["principalId"], pa, pb, so)
	}
	// MSI_ENDPOINT's default token (no client ID asked) is uaia's.
	script := `import os, json, base64, requests
tok = requests.get(os.environ["MSI_ENDPOINT"] + "?resource=https://storage.azure.com/",
                   headers={"secret": os.environ["MSI_SECRET"], "Metadata": "true"}).json()["access_token"]
p = tok.split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["oid"])`
	cmd := exec.Command(amlidBin, "run", "--as", ep["id"].(string), "--", "/usr/bin/python3", "-c", script)
	cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("amlid run: %v\n%s%s", err, out.String(), errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != pa {
		t.Fatalf("MSI_ENDPOINT default token is for %s, want uaia %s (uaiB is %s)", got, pa, pb)
	}
}
