package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// computeCLI is the CLI set up for the compute tests: a group and a
// workspace as defaults (the seed's scripts name neither).
func computeSetup(t *testing.T, in *instance, rg, ws string, wsArgs ...string) string {
	t.Helper()
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", rg, "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group="+rg, "workspace="+ws)
	in.mustCLI(cfg, append([]string{"ml", "workspace", "create", "-n", ws}, wsArgs...)...)
	return cfg
}

// seedScript runs one of seed 003's shell scripts as written, with `az`
// replaced by `amlid` (on PATH) and its `sleep 15` (waiting for Azure)
// made instant through BASH_ENV.
func (in *instance) seedScript(t *testing.T, cfg, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ml", "compute", name))
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`(^|[(\s])az (ml|identity) `).ReplaceAllString(string(b), "${1}amlid ${2} ")
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	benv := filepath.Join(dir, "bashenv")
	os.WriteFile(benv, []byte("sleep() { :; }\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", p)
	cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg, "BASH_ENV="+benv,
		"PATH="+filepath.Dir(amlidBin)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return string(out)
}

func cliFails(t *testing.T, in *instance, cfg string, want []string, args ...string) {
	t.Helper()
	so, se, code := in.cli(cfg, args...)
	if code == 0 {
		t.Fatalf("amlid %s succeeded, want a refusal:\n%s", strings.Join(args, " "), so)
	}
	for _, w := range want {
		if !strings.Contains(se, w) {
			t.Fatalf("amlid %s: the error does not say %q:\n%s", strings.Join(args, " "), w, se)
		}
	}
}

// Computes through the CLI with the seed's files and scripts (issue 17):
// the two YAML files, the two does_compute_exist scripts (create, then the
// "already exists" path), CMP-4 switches with the old SAI deleted with its
// role assignments, CMP-5's display name, nodes and `amlid run --as` with
// the seed's token snippet (CMP-3, ID-3), CLI v1's computetarget verbs,
// and every bad input refused in Azure's shape with the rule.
func TestComputeCLISeeds(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := computeSetup(t, in, "cmp-rg", "cmp-ws")
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "my-cluster-identity"))
	uaiID := uai["id"].(string)

	// The seed's YAML files.
	f := fillTemplate(t, "compute/create-cluster.yml", map[string]string{"identity_resource_id": uaiID})
	c := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-f", f))
	idm := c["identity"].(map[string]any)
	if c["name"] != "basic-example" || c["type"] != "amlcompute" || c["min_instances"] != 0.0 || c["max_instances"] != 2.0 ||
		c["idle_time_before_scale_down"] != 120.0 || idm["type"] != "user_assigned" ||
		!strings.EqualFold(idm["user_assigned_identities"].([]any)[0].(map[string]any)["resource_id"].(string), uaiID) {
		t.Fatalf("create -f create-cluster.yml: %v", c)
	}
	in.mustCLI(cfg, "ml", "compute", "delete", "-n", "basic-example", "--yes")
	c = mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-f", filepath.Join("testdata", "ml", "compute", "create-cluster-sai.yml")))
	sai := c["identity"].(map[string]any)["principal_id"].(string)
	if c["identity"].(map[string]any)["type"] != "system_assigned" || sai == "" {
		t.Fatalf("create -f (system-assigned): %v", c)
	}
	// CMP-5: the SAI's display name.
	sp := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "show", "--id", sai))
	if sp["displayName"] != "/cmp-ws/computes/basic-example" {
		t.Fatalf("rule CMP-5: the compute SAI is named %v", sp["displayName"])
	}

	// The seed's user-assigned script, twice: create, then "exists".
	out := in.seedScript(t, cfg, "compute-uai.sh")
	if !strings.Contains(out, "Provisioning compute: mycluster-msi") {
		t.Fatalf("first run of the UAI script:\n%s", out)
	}
	out = in.seedScript(t, cfg, "compute-uai.sh")
	if !strings.Contains(out, "Skipping, compute: mycluster-msi exists") {
		t.Fatalf("second run of the UAI script:\n%s", out)
	}
	msi := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "mycluster-msi"))
	if msi["identity"].(map[string]any)["type"] != "user_assigned" {
		t.Fatalf("mycluster-msi: %v", msi)
	}
	// The system-assigned script: created without identity, then switched.
	out = in.seedScript(t, cfg, "compute-sai.sh")
	if !strings.Contains(out, "Provisioning compute: mycluster-sa") {
		t.Fatalf("SAI script:\n%s", out)
	}
	sa := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "mycluster-sa"))
	if sa["identity"].(map[string]any)["type"] != "system_assigned" {
		t.Fatalf("mycluster-sa after the script: %v", sa)
	}

	// CMP-4: SAI → UAI deletes the SAI and its role assignments; UAI → SAI
	// creates a new one.
	saPID := sa["identity"].(map[string]any)["principal_id"].(string)
	wsID := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "cmp-ws", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", saPID, "--assignee-principal-type", "ServicePrincipal", "--role", "Reader", "--scope", wsID)
	sw := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "update", "-n", "mycluster-sa", "--identity-type", "user_assigned", "--user-assigned-identities", uaiID))
	if sw["identity"].(map[string]any)["type"] != "user_assigned" {
		t.Fatalf("CMP-4 switch to UAI: %v", sw)
	}
	if _, _, code := in.cli(cfg, "ad", "sp", "show", "--id", saPID); code == 0 {
		t.Fatalf("rule CMP-4: the old SAI %s still exists after the switch", saPID)
	}
	if l := strings.TrimSpace(in.mustCLI(cfg, "role", "assignment", "list", "--all", "--query", "length([?principalId=='"+saPID+"'])")); l != "0" {
		t.Fatalf("rule CMP-4: the old SAI keeps %s role assignments", l)
	}
	back := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "update", "-n", "mycluster-sa", "--identity-type", "systemassigned"))
	if p := back["identity"].(map[string]any)["principal_id"]; back["identity"].(map[string]any)["type"] != "system_assigned" || p == nil || p == saPID {
		t.Fatalf("CMP-4 switch back to SAI: %v", back)
	}

	// Nodes: min_instances 1 keeps one; `amlid run --as` runs the seed's
	// snippet on a node with the compute's UAI as default (CMP-3); a client
	// ID the compute does not hold is refused (ID-3).
	in.mustCLI(cfg, "ml", "compute", "update", "-n", "mycluster-msi", "--min-instances", "1", "--max-instances", "2")
	var nodes []map[string]any
	json.Unmarshal([]byte(in.mustCLI(cfg, "ml", "compute", "list-nodes", "-n", "mycluster-msi")), &nodes)
	if len(nodes) != 1 || nodes[0]["node_state"] != "idle" {
		t.Fatalf("list-nodes with min_instances 1: %v", nodes)
	}
	other := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "not-on-the-compute"))
	cid := msi["id"].(string)
	py, _ := filepath.Abs(filepath.Join("testdata", "ml", "compute", "node_token.py"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, amlidBin, "run", "--as", cid, "--", "/usr/bin/python3", py)
	run.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg, "OTHER_CLIENT_ID="+other["clientId"].(string))
	raw, err := run.Output()
	if err != nil {
		t.Fatalf("amlid run --as %s: %v\n%s", cid, err, raw)
	}
	got := mustJSON(t, string(raw))
	written, _ := os.ReadFile(filepath.Join(got["node_dir"].(string), "output.txt"))
	if got["default_client_id"] != uai["clientId"] || got["node_dir"] != nodes[0]["working_directory"] || string(written) != "written on the node" ||
		!strings.Contains(got["refused"].(string), "rule ID-3") {
		t.Fatalf("on the node: %v", got)
	}
	claims := claimsOf(t, got["token"].(string))
	if claims["oid"] != uai["principalId"] || claims["aud"] != "https://storage.azure.com" && claims["aud"] != "https://storage.azure.com/" {
		t.Fatalf("the node's token is for %v (aud %v), want the compute's UAI %v", claims["oid"], claims["aud"], uai["principalId"])
	}

	// CLI v1: computetarget create with '[system]', identity show|assign|remove.
	v1 := mustJSON(t, in.mustCLI(cfg, "ml", "computetarget", "create", "amlcompute", "-n", "v1-cluster", "--vm-size", "STANDARD_D2_V2",
		"--assign-identity", "[system]", "-w", "cmp-ws", "-g", "cmp-rg"))
	if v1["identity"].(map[string]any)["type"] != "SystemAssigned" {
		t.Fatalf("v1 create --assign-identity '[system]': %v", v1)
	}
	shown := mustJSON(t, in.mustCLI(cfg, "ml", "computetarget", "amlcompute", "identity", "show", "--name", "v1-cluster", "-w", "cmp-ws", "-g", "cmp-rg"))
	if shown["principalId"] == nil {
		t.Fatalf("v1 identity show: %v", shown)
	}
	as := mustJSON(t, in.mustCLI(cfg, "ml", "computetarget", "amlcompute", "identity", "assign", "--name", "v1-cluster", "-w", "cmp-ws", "-g", "cmp-rg", "--identities", uaiID))
	if as["type"] != "UserAssigned" || len(as["userAssignedIdentities"].(map[string]any)) != 1 {
		t.Fatalf("v1 identity assign: %v", as)
	}
	rm := mustJSON(t, in.mustCLI(cfg, "ml", "computetarget", "amlcompute", "identity", "remove", "--name", "v1-cluster", "-w", "cmp-ws", "-g", "cmp-rg", "--identities", uaiID))
	if rm["type"] != "None" {
		t.Fatalf("v1 identity remove: %v", rm)
	}

	// Bad input: 4xx in Azure's shape, naming the rule where one applies.
	cliFails(t, in, cfg, []string{"BadRequest", "computeType 'gpu-farm' is not supported"}, "ml", "compute", "create", "-n", "bad1", "--type", "gpu-farm")
	cliFails(t, in, cfg, []string{"BadRequest", "max_instances = 1", "min_instances = 3"}, "ml", "compute", "create", "-n", "bad2", "--type", "amlcompute", "--min-instances", "3", "--max-instances", "1")
	cliFails(t, in, cfg, []string{"FailedIdentityOperation", "Rule CMP-1", "was not found"}, "ml", "compute", "create", "-n", "bad3", "--type", "amlcompute",
		"--identity-type", "user_assigned", "--user-assigned-identities", strings.Replace(uaiID, "my-cluster-identity", "nobody", 1))
	cliFails(t, in, cfg, []string{"InvalidResourceName"}, "ml", "compute", "create", "-n", "9-starts-with-digit", "--type", "amlcompute")
	cliFails(t, in, cfg, []string{"InvalidResourceName", "2 to 16"}, "ml", "compute", "create", "-n", "a-very-long-cluster-name", "--type", "amlcompute")
	both := filepath.Join(t.TempDir(), "both.yml")
	os.WriteFile(both, []byte("name: bad5\ntype: amlcompute\nidentity:\n  type: system_assigned,user_assigned\n  user_assigned_identities:\n    - resource_id: "+uaiID+"\n"), 0o644)
	cliFails(t, in, cfg, []string{"InvalidIdentityType", "Rule CMP-1", "never both"}, "ml", "compute", "create", "-f", both)
	if !strings.Contains(in.Log.String(), "compute") || strings.Contains(in.Log.String(), "panic") {
		t.Fatalf("server log:\n%s", in.Log.String())
	}
}

// analyzeFinding finds a finding of rule for a resource in `amlid analyze`:
// resource is its ID or the end of it ("/datastores/x").
func analyzeFinding(t *testing.T, rep analyzeReport, resource, rule string) (met, found bool, fix string) {
	t.Helper()
	for _, r := range rep.Resources {
		if !strings.HasSuffix(strings.ToLower(r.ID), strings.ToLower(resource)) {
			continue
		}
		for _, f := range r.Findings {
			if f.Rule == rule {
				return f.Met, true, f.Fix
			}
		}
	}
	return false, false, ""
}

// analyze runs `amlid analyze -o json` with args (a scope such as -w) and
// decodes its report, whatever its exit code.
func (in *instance) analyze(t *testing.T, cfg string, args ...string) analyzeReport {
	t.Helper()
	so, _, _ := in.cli(cfg, append([]string{"analyze", "-o", "json"}, args...)...)
	var rep analyzeReport
	if err := json.Unmarshal([]byte(so), &rep); err != nil {
		t.Fatalf("analyze: %v\n%s", err, so)
	}
	return rep
}

// waitFor polls cond until it holds (the idle clock runs in the server).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The compute rules on their allowed and refused paths (issue 17), with the
// idle clock accelerated (--compute-minute): ACR-2 (a SAI compute created
// while the registry exists gets AcrPull; one created before does not, and
// show and analyze say so with the fix), CMP-6 (an idle instance without
// Contributor stays up and says why; with it, it stops itself), ACR-3 (a
// service-principal cluster attaches and its SP gets AcrPull; a
// managed-identity cluster is refused).
func TestComputeRules(t *testing.T) {
	t.Parallel()
	in := start(t, "", "--compute-minute", "20ms")
	cfg := computeSetup(t, in, "rules-rg", "rules-ws")
	grant := func(pid, role, scope string) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal", "--role", role, "--scope", scope)
	}
	hasRole := func(pid, role, scope string) bool {
		q := "length([?principalId=='" + pid + "' && roleDefinitionName=='" + role + "' && scope=='" + scope + "'])"
		return strings.TrimSpace(in.mustCLI(cfg, "role", "assignment", "list", "--all", "--query", q)) != "0"
	}

	// ACR-2, before the registry exists: no grant; show and analyze note it.
	early := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "early", "--type", "amlcompute", "--identity-type", "system_assigned"))
	if !strings.Contains(strings.Join(toStrings(early["access_notes"]), "\n"), "no container registry yet") {
		t.Fatalf("ACR-2 note before the registry exists: %v", early)
	}
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "rulesreg", "--sku", "Basic"))["id"].(string)
	in.mustCLI(cfg, "ml", "workspace", "update", "-n", "rules-ws", "--update-dependent-resources", "--container-registry", reg)
	late := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "late", "--type", "amlcompute", "--identity-type", "system_assigned"))
	latePID := late["identity"].(map[string]any)["principal_id"].(string)
	if !hasRole(latePID, "AcrPull", reg) || late["access_notes"] != nil {
		t.Fatalf("ACR-2: a SAI compute created while the registry exists lacks AcrPull on it: %v", late)
	}
	early = mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "early"))
	earlyPID := early["identity"].(map[string]any)["principal_id"].(string)
	notes := strings.Join(toStrings(early["access_notes"]), "\n")
	if hasRole(earlyPID, "AcrPull", reg) || !strings.Contains(notes, "Rule ACR-2") || !strings.Contains(notes, "--role \"AcrPull\" --scope "+reg) {
		t.Fatalf("ACR-2: the compute created before the registry: %v", early)
	}
	met, found, fix := analyzeFinding(t, in.analyze(t, cfg), early["id"].(string), "ACR-2")
	if !found || met || fix == "" {
		t.Fatalf("analyze does not report ACR-2 unmet for %s (found %v met %v)", early["id"], found, met)
	}
	in.mustCLI(cfg, splitCommand(strings.TrimPrefix(fix, "amlid "))...)
	if met, _, _ := analyzeFinding(t, in.analyze(t, cfg), early["id"].(string), "ACR-2"); !met {
		t.Fatalf("ACR-2 still unmet after its fix %q", fix)
	}

	// CMP-6 refused: the instance's identity has no Contributor on the
	// workspace; its self-stop is refused by RBAC; it keeps running and says why.
	wsID := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "rules-ws", "--query", "id", "-o", "tsv"))
	ci := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "idle-ci", "--type", "computeinstance", "--identity-type", "system_assigned",
		"--idle-time-before-shutdown-minutes", "15"))
	ciPID := ci["identity"].(map[string]any)["principal_id"].(string)
	var shown map[string]any
	waitFor(t, "the refused idle shutdown", func() bool {
		shown = mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "idle-ci"))
		lo, _ := shown["last_operation"].(map[string]any)
		return lo["operationStatus"] == "Failed"
	})
	notes = strings.Join(toStrings(shown["access_notes"]), "\n")
	if shown["state"] != "Running" || shown["last_operation"].(map[string]any)["operationTrigger"] != "IdleShutdown" ||
		!strings.Contains(notes, "Rule CMP-6") || !strings.Contains(notes, "AuthorizationFailed") ||
		!strings.Contains(notes, "--role \"Contributor\" --scope "+wsID) {
		t.Fatalf("CMP-6 refused: %v", shown)
	}
	met, found, _ = analyzeFinding(t, in.analyze(t, cfg), ci["id"].(string), "CMP-6")
	if !found || met {
		t.Fatalf("analyze does not report CMP-6 unmet (found %v met %v)", found, met)
	}
	if so, _, code := in.cli(cfg, "check", "--rule", "CMP-6", "--compute-name", "idle-ci"); code != 1 || !strings.Contains(so, "Contributor") {
		t.Fatalf("check --rule CMP-6 before the grant: exit %d\n%s", code, so)
	}
	// CMP-6 allowed: with Contributor the instance stops itself.
	grant(ciPID, "Contributor", wsID)
	in.mustCLI(cfg, "check", "--rule", "CMP-6", "--compute-name", "idle-ci")
	waitFor(t, "the idle instance to stop itself", func() bool {
		shown = mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "idle-ci"))
		return shown["state"] == "Stopped"
	})
	if lo := shown["last_operation"].(map[string]any); lo["operationName"] != "Stop" || lo["operationStatus"] != "Succeeded" || lo["operationTrigger"] != "IdleShutdown" || shown["access_notes"] != nil {
		t.Fatalf("CMP-6 allowed: %v", shown)
	}
	if met, _, _ := analyzeFinding(t, in.analyze(t, cfg), ci["id"].(string), "CMP-6"); !met {
		t.Fatal("analyze: CMP-6 unmet after Contributor was granted")
	}
	var nodes []any
	json.Unmarshal([]byte(in.mustCLI(cfg, "ml", "compute", "list-nodes", "-n", "idle-ci")), &nodes)
	if len(nodes) != 0 {
		t.Fatalf("a stopped instance has nodes: %v", nodes)
	}
	in.mustCLI(cfg, "ml", "compute", "start", "-n", "idle-ci")
	if s := strings.TrimSpace(in.mustCLI(cfg, "ml", "compute", "show", "-n", "idle-ci", "--query", "state", "-o", "tsv")); s != "Running" && s != "Stopped" {
		t.Fatalf("after start: %s", s)
	}
	cliFails(t, in, cfg, []string{"only compute instances"}, "ml", "compute", "stop", "-n", "late")

	// ACR-3: a service-principal cluster attaches and its SP gets AcrPull on
	// the workspace registry; a managed-identity cluster is refused.
	sp := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "aks-sp"))
	spAKS := mustJSON(t, in.mustCLI(cfg, "aks", "create", "-n", "sp-aks", "--service-principal", sp["appId"].(string), "--client-secret", sp["password"].(string)))
	miAKS := mustJSON(t, in.mustCLI(cfg, "aks", "create", "-n", "mi-aks"))
	if miAKS["identity"].(map[string]any)["type"] != "SystemAssigned" {
		t.Fatalf("aks create default: %v", miAKS)
	}
	cliFails(t, in, cfg, []string{"Rule ACR-3", "uses a managed identity", "service principal"},
		"ml", "compute", "attach", "--type", "Kubernetes", "--resource-id", miAKS["id"].(string), "-n", "mi-k8s")
	k := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "attach", "--type", "Kubernetes", "--resource-id", spAKS["id"].(string), "-n", "sp-k8s"))
	if k["type"] != "kubernetes" || !strings.EqualFold(k["resource_id"].(string), spAKS["id"].(string)) {
		t.Fatalf("attach: %v", k)
	}
	spObj := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "show", "--id", sp["appId"].(string)))["id"].(string)
	if !hasRole(spObj, "AcrPull", reg) {
		t.Fatal("ACR-3: the attached cluster's service principal has no AcrPull on the workspace registry")
	}
	in.mustCLI(cfg, "ml", "compute", "detach", "-n", "sp-k8s")
	in.mustCLI(cfg, "aks", "delete", "-n", "sp-aks", "--yes")

	// Nodes: a cluster with min_instances 0 gets a node for a run, refuses a
	// second run beyond max_instances 1, and scales back to none once idle.
	burst := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "burst", "--type", "amlcompute", "--min-instances", "0", "--max-instances", "1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	long := exec.CommandContext(ctx, amlidBin, "run", "--as", burst["id"].(string), "--", "/bin/sleep", "30")
	long.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer long.Process.Kill()
	listNodes := func(name string) []map[string]any {
		var nodes []map[string]any
		json.Unmarshal([]byte(in.mustCLI(cfg, "ml", "compute", "list-nodes", "-n", name)), &nodes)
		return nodes
	}
	waitFor(t, "a running node for the first run", func() bool {
		n := listNodes("burst")
		return len(n) == 1 && n[0]["node_state"] == "running"
	})
	cliFails(t, in, cfg, []string{"ComputeAtCapacity"}, "run", "--as", burst["id"].(string), "--", "/bin/true")
	long.Process.Kill()
	long.Wait()
	waitFor(t, "the idle node to scale down (min_instances 0)", func() bool { return len(listNodes("burst")) == 0 })

	// CMP-1 with RBAC-3: an AzureML Compute Operator may create computes,
	// but attaching a UAI needs its assign action (Managed Identity Operator).
	op := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "compute-operator"))
	opObj := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "show", "--id", op["appId"].(string)))["id"].(string)
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "rules-rg", "--query", "id", "-o", "tsv"))
	grant(opObj, "Reader", rgID)
	grant(opObj, "AzureML Compute Operator", wsID)
	u := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "op-identity"))
	opCfg := t.TempDir()
	in.mustCLIOnly(opCfg, "login", "--service-principal", "-u", op["appId"].(string), "-p", op["password"].(string), "--tenant", op["tenant"].(string))
	in.mustCLIOnly(opCfg, "configure", "--defaults", "group=rules-rg", "workspace=rules-ws")
	create := []string{"ml", "compute", "create", "-n", "op-cluster", "--type", "amlcompute", "--identity-type", "user_assigned", "--user-assigned-identities", u["id"].(string)}
	if _, se, code := in.cliNoEnvCreds(opCfg, create...); code == 0 || !strings.Contains(se, "AuthorizationFailed") ||
		!strings.Contains(se, "userAssignedIdentities/*/assign/action") {
		t.Fatalf("RBAC-3: a compute operator attached a UAI without its assign action (exit %d): %s", code, se)
	}
	grant(opObj, "Managed Identity Operator", u["id"].(string))
	if c := mustJSON(t, in.mustCLIOnly(opCfg, create...)); c["identity"].(map[string]any)["type"] != "user_assigned" {
		t.Fatalf("with Managed Identity Operator: %v", c)
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// Rule ACR-4 through CLI v1's `ml model deploy --compute-type aci`: refused
// while the workspace registry's admin user is off (naming the rule and the
// fix); with it on, the service runs and scores like an online deployment.
func TestACIDeployNeedsAdminUser(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "aci-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=aci-rg", "workspace=aci-ws")
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "acireg", "--sku", "Basic"))
	if reg["adminUserEnabled"] != false {
		t.Fatalf("acr create: %v", reg)
	}
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "aci-ws", "--container-registry", reg["id"].(string))
	dir := filepath.Join("testdata", "ml", "compute", "aci")
	m := mustJSON(t, in.mustCLI(cfg, "ml", "model", "register", "-n", "aci-model", "-p", filepath.Join(dir, "model.txt"), "-w", "aci-ws", "-g", "aci-rg"))
	deploy := []string{"ml", "model", "deploy", "-n", "aci-svc", "-m", m["id"].(string), "--ic", filepath.Join(dir, "inferenceconfig.json"),
		"--dc", filepath.Join(dir, "deploymentconfig.json"), "--compute-type", "aci", "-w", "aci-ws", "-g", "aci-rg"}
	cliFails(t, in, cfg, []string{"Rule ACR-4", "admin user of registry", "amlid acr update -n acireg --admin-enabled true"}, deploy...)
	if _, _, code := in.cli(cfg, "ml", "online-endpoint", "show", "-n", "aci-svc"); code == 0 {
		t.Fatal("ACR-4: the refused deployment left a service behind")
	}
	in.mustCLI(cfg, "acr", "update", "-n", "acireg", "--admin-enabled", "true")
	svc := mustJSON(t, in.mustCLI(cfg, deploy...))
	if svc["computeType"] != "ACI" || svc["state"] != "Healthy" || !strings.HasPrefix(svc["scoringUri"].(string), "https://") {
		t.Fatalf("deploy with the admin user on: %v", svc)
	}
	out := in.mustCLI(cfg, "ml", "online-endpoint", "invoke", "-n", "aci-svc", "--request-file", filepath.Join(dir, "request.json"))
	if !strings.Contains(out, `\"model\": \"linear-model-v1\"`) {
		t.Fatalf("scoring: %v", out)
	}
}
