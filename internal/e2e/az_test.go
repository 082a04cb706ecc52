package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// azCLI is Debian's az 2.45 with its own config dir, registered against
// one amlid as a custom cloud with `amlid env --az-cloud`.
type azCLI struct {
	in  *instance
	dir string
	env []string
}

func newAz(t *testing.T, in *instance) *azCLI {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatal("az not found: install Debian's azure-cli (scripts/test.sh does)")
	}
	a := &azCLI{in: in, dir: t.TempDir()}
	shim, _ := filepath.Abs("../../scripts/az-compat")
	a.env = append(append(cleanEnv(), in.env()...), "AZURE_CONFIG_DIR="+a.dir, "AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_NO_COLOR=true", "AZURE_CORE_ONLY_SHOW_ERRORS=true",
		// Debian's az role commands crash client-side without it; see the file.
		"PYTHONPATH="+shim)
	script, err := exec.Command(amlidBin, "env", "--az-cloud", "--data-dir", in.DataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-ec", string(script))
	cmd.Env = a.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("az cloud register: %v\n%s", err, out)
	}
	return a
}

func (a *azCLI) run(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "az", args...)
	cmd.Env = a.env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return so.String(), se.String(), err
}

func (a *azCLI) must(t *testing.T, args ...string) string {
	t.Helper()
	so, se, err := a.run(args...)
	if err != nil {
		t.Fatalf("az %s: %v\n%s%s", strings.Join(args, " "), err, so, se)
	}
	return so
}

// Debian's az logs in as a service principal and as a user against amlid,
// gets tokens and calls ARM (issue 3), and manages role assignments the way
// the docs do (issue 4).
func TestAzCLI(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	admin := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(admin, "group", "create", "-n", "azrg", "-l", "eastus")
	in.mustCLI(admin, "ad", "user", "create", "--display-name", "Bo", "--user-principal-name", "bo@amlid.onmicrosoft.com", "--password", "Another-pass1")
	worker := mustJSON(t, in.mustCLI(admin, "ad", "sp", "create-for-rbac", "-n", "az-worker"))
	workerOID := strings.TrimSpace(in.mustCLI(admin, "ad", "sp", "show", "--id", worker["appId"].(string), "--query", "id", "-o", "tsv"))

	az := newAz(t, in)
	az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", in.Boot.TenantID)
	var groups []map[string]any
	if err := json.Unmarshal([]byte(az.must(t, "group", "list")), &groups); err != nil || len(groups) != 1 || groups[0]["name"] != "azrg" {
		t.Fatalf("az group list: %v %v", err, groups)
	}
	tok := map[string]any{}
	json.Unmarshal([]byte(az.must(t, "account", "get-access-token")), &tok)
	if tok["tenant"] != in.Boot.TenantID || tok["subscription"] != sub || len(tok["accessToken"].(string)) < 100 {
		t.Fatalf("az account get-access-token: %v", tok)
	}
	// Role assignments as the docs write them.
	scope := "/subscriptions/" + sub + "/resourceGroups/azrg"
	ra := map[string]any{}
	json.Unmarshal([]byte(az.must(t, "role", "assignment", "create", "--assignee-object-id", workerOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", scope)), &ra)
	if ra["principalId"] != workerOID || !strings.HasSuffix(ra["roleDefinitionId"].(string), "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1") {
		t.Fatalf("az role assignment create: %v", ra)
	}
	az.must(t, "role", "assignment", "create", "--assignee", worker["appId"].(string), "--role", "acrpull", "--scope", scope)
	var list []map[string]any
	json.Unmarshal([]byte(az.must(t, "role", "assignment", "list", "--scope", scope)), &list)
	names := map[string]bool{}
	for _, l := range list {
		names[l["roleDefinitionName"].(string)] = true
	}
	if !names["Storage Blob Data Reader"] || !names["AcrPull"] || len(list) != 2 {
		t.Fatalf("az role assignment list: %v", list)
	}
	// Creating it again answers 409 RoleAssignmentExists, which az turns
	// into "already exists" handling; no second assignment appears.
	if _, se, err := az.run("role", "assignment", "create", "--assignee-object-id", workerOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", scope); err != nil && !strings.Contains(strings.ToLower(se), "already exists") {
		t.Fatalf("duplicate create: %v %s", err, se)
	}
	list = nil
	json.Unmarshal([]byte(az.must(t, "role", "assignment", "list", "--scope", scope)), &list)
	if len(list) != 2 {
		t.Fatalf("a duplicate must not add an assignment: %v", list)
	}

	// A user logs in with a password (ROPC) and is refused by RBAC.
	user := newAz(t, in)
	user.must(t, "login", "-u", "bo@amlid.onmicrosoft.com", "-p", "Another-pass1", "--tenant", in.Boot.TenantID)
	if _, se, err := user.run("group", "show", "-n", "azrg"); err == nil || !strings.Contains(se, "AuthorizationFailed") {
		t.Fatalf("user without a role: %v %s", err, se)
	}
	utok := map[string]any{}
	json.Unmarshal([]byte(user.must(t, "account", "get-access-token", "--resource", "https://storage.azure.com")), &utok)
	if utok["tenant"] != in.Boot.TenantID {
		t.Fatalf("user token: %v", utok)
	}
}
