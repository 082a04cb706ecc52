package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// The CLI mirrors az for groups, identities, defaults and accounts
// (issue 2): same commands, -o formats and --query.
func TestCLIGroupsIdentitiesAccounts(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	sub := in.State.SubscriptionID

	rg := mustJSON(t, in.mustCLI(cfg, "group", "create", "-n", "cli-rg", "-l", "eastus", "--tags", "team=ml"))
	if rg["id"] != "/subscriptions/"+sub+"/resourceGroups/cli-rg" || rg["managedBy"] != nil || rg["type"] != "Microsoft.Resources/resourceGroups" {
		t.Fatalf("group create: %v", rg)
	}
	if out := in.mustCLI(cfg, "group", "show", "-n", "cli-rg", "--query", "id", "-o", "tsv"); out != "/subscriptions/"+sub+"/resourceGroups/cli-rg\n" {
		t.Fatalf("--query id -o tsv: %q", out)
	}
	if out := in.mustCLI(cfg, "group", "exists", "-n", "cli-rg"); strings.TrimSpace(out) != "true" {
		t.Fatalf("exists: %q", out)
	}
	if out := in.mustCLI(cfg, "group", "exists", "-n", "nope"); strings.TrimSpace(out) != "false" {
		t.Fatalf("exists (missing): %q", out)
	}
	_, se, code := in.cli(cfg, "group", "show", "-n", "nope")
	if code != 3 || !strings.Contains(se, "ResourceGroupNotFound") {
		t.Fatalf("show missing: exit %d %s", code, se)
	}

	id := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-g", "cli-rg", "-n", "trainer"))
	for _, k := range []string{"principalId", "clientId", "tenantId"} {
		if s, _ := id[k].(string); len(s) != 36 {
			t.Fatalf("identity create must flatten %s like az: %v", k, id)
		}
	}
	if id["resourceGroup"] != "cli-rg" || id["location"] != "eastus" {
		t.Fatalf("identity create: %v", id)
	}
	pid := in.mustCLI(cfg, "identity", "show", "-g", "cli-rg", "-n", "trainer", "--query", "principalId", "-o", "tsv")
	if strings.TrimSpace(pid) != id["principalId"] {
		t.Fatalf("show --query principalId: %q", pid)
	}
	// Defaults: no -g needed afterwards.
	in.mustCLI(cfg, "configure", "--defaults", "group=cli-rg")
	var list []map[string]any
	if err := json.Unmarshal([]byte(in.mustCLI(cfg, "identity", "list")), &list); err != nil || len(list) != 1 || list[0]["name"] != "trainer" {
		t.Fatalf("identity list with default group: %v %v", err, list)
	}
	table := in.mustCLI(cfg, "identity", "list", "-o", "table")
	if !strings.Contains(table, "trainer") || !strings.Contains(table, "Location") {
		t.Fatalf("table: %q", table)
	}
	yaml := in.mustCLI(cfg, "identity", "show", "-n", "trainer", "-o", "yaml")
	if !strings.Contains(yaml, "name: trainer") {
		t.Fatalf("yaml: %q", yaml)
	}
	if out := in.mustCLI(cfg, "identity", "list", "--query", "[].name", "-o", "tsv"); out != "trainer\n" {
		t.Fatalf("[].name tsv: %q", out)
	}

	acct := mustJSON(t, in.mustCLI(cfg, "account", "show"))
	if acct["id"] != sub || acct["tenantId"] != in.State.TenantID || acct["isDefault"] != true {
		t.Fatalf("account show: %v", acct)
	}
	if out := in.mustCLI(cfg, "account", "list", "--query", "[0].id", "-o", "tsv"); strings.TrimSpace(out) != sub {
		t.Fatalf("account list: %q", out)
	}
	if out := in.mustCLI(cfg, "group", "list", "--query", "length(@)"); strings.TrimSpace(out) != "1" {
		t.Fatalf("group list: %q", out)
	}
	in.mustCLI(cfg, "identity", "delete", "-n", "trainer")
	in.mustCLI(cfg, "group", "delete", "-n", "cli-rg", "--yes")
	if out := in.mustCLI(cfg, "group", "exists", "-n", "cli-rg"); strings.TrimSpace(out) != "false" {
		t.Fatalf("after delete: %q", out)
	}
	// Bad output format is a usage error, like az.
	if _, _, code := in.cli(cfg, "group", "list", "-o", "xml"); code != 2 {
		t.Fatalf("-o xml: exit %d", code)
	}
}

// Login flows of the CLI (issue 3): service principal, user with password,
// tokens for other resources, logout; a user with no role is refused by
// RBAC until granted one (issue 4).
func TestCLILoginUsersAndRoles(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	admin := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(admin, "group", "create", "-n", "team", "-l", "eastus")
	in.mustCLI(admin, "ad", "user", "create", "--display-name", "Ada", "--user-principal-name", "ada@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	users := in.mustCLI(admin, "ad", "user", "list", "--query", "[].userPrincipalName", "-o", "tsv")
	if !strings.Contains(users, "ada@amlid.onmicrosoft.com") {
		t.Fatalf("ad user list: %q", users)
	}

	// The user signs in with its own config dir and holds no role yet.
	ada := t.TempDir()
	so, se, code := in.cliNoEnvCreds(ada, "login", "-u", "ada@amlid.onmicrosoft.com", "-p", "Secr3t-pass!")
	if code != 0 {
		t.Fatalf("user login: %s %s", so, se)
	}
	_, se, code = in.cliNoEnvCreds(ada, "group", "show", "-n", "team")
	if code == 0 || !strings.Contains(se, "AuthorizationFailed") || !strings.Contains(se, "Reader") {
		t.Fatalf("a user with no role must get AuthorizationFailed naming a granting role: %d %s", code, se)
	}
	// explain says why, and how to fix it.
	ex := mustJSON(t, in.mustCLI(admin, "explain", "--assignee", "ada@amlid.onmicrosoft.com", "--action", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"--scope", "/subscriptions/"+sub+"/resourceGroups/team"))
	if ex["allowed"] != false || !strings.Contains(ex["fix"].(string), "amlid role assignment create") {
		t.Fatalf("explain (denied): %v", ex)
	}
	in.mustCLI(admin, "role", "assignment", "create", "--assignee", "ada@amlid.onmicrosoft.com", "--role", "Reader", "-g", "team")
	if _, se, code := in.cliNoEnvCreds(ada, "group", "show", "-n", "team"); code != 0 {
		t.Fatalf("reader must read the group: %s", se)
	}
	if _, se, code := in.cliNoEnvCreds(ada, "identity", "create", "-g", "team", "-n", "nope-id", "-l", "eastus"); code == 0 || !strings.Contains(se, "AuthorizationFailed") {
		t.Fatalf("reader must not write: %s", se)
	}
	ex = mustJSON(t, in.mustCLI(admin, "explain", "--assignee", "ada@amlid.onmicrosoft.com", "--action", "Microsoft.Resources/subscriptions/resourceGroups/read",
		"--scope", "/subscriptions/"+sub+"/resourceGroups/team"))
	if ex["allowed"] != true || ex["role"] != "Reader" {
		t.Fatalf("explain (allowed): %v", ex)
	}
	if _, _, code := in.cli(admin, "check", "--assignee", "ada@amlid.onmicrosoft.com", "--action", "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
		"--scope", "/subscriptions/"+sub+"/resourceGroups/team"); code != 1 {
		t.Fatalf("check of a data action Reader lacks must exit 1, got %d", code)
	}
	// A token for another resource, shown like az.
	tok := mustJSON(t, in.mustCLIOnly(ada, "account", "get-access-token", "--resource", "https://storage.azure.com"))
	if tok["tokenType"] != "Bearer" || len(tok["accessToken"].(string)) < 100 || tok["tenant"] != in.State.TenantID {
		t.Fatalf("get-access-token: %v", tok)
	}
	// Assignments list with az's flags.
	var as []map[string]any
	json.Unmarshal([]byte(in.mustCLI(admin, "role", "assignment", "list", "-g", "team")), &as)
	if len(as) != 1 || as[0]["roleDefinitionName"] != "Reader" || as[0]["principalType"] != "User" {
		t.Fatalf("role assignment list: %v", as)
	}
	in.mustCLI(admin, "role", "assignment", "delete", "--assignee", "ada@amlid.onmicrosoft.com", "--role", "Reader", "-g", "team")
	if _, _, code := in.cliNoEnvCreds(ada, "group", "show", "-n", "team"); code == 0 {
		t.Fatal("after the assignment is deleted the user must be refused again")
	}
	in.mustCLIOnly(ada, "logout")
	if _, se, code := in.cliNoEnvCreds(ada, "group", "list"); code == 0 || !strings.Contains(se, "amlid login") {
		t.Fatalf("after logout: %s", se)
	}
	// A group's members inherit its assignments.
	grp := mustJSON(t, in.mustCLI(admin, "ad", "group", "create", "--display-name", "readers", "--mail-nickname", "readers"))
	adaID := strings.TrimSpace(in.mustCLI(admin, "ad", "user", "show", "--id", "ada@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(admin, "ad", "group", "member", "add", "--group", "readers", "--member-id", adaID)
	if out := in.mustCLI(admin, "ad", "group", "member", "list", "--group", "readers", "--query", "[].id", "-o", "tsv"); strings.TrimSpace(out) != adaID {
		t.Fatalf("member list: %q", out)
	}
	in.mustCLI(admin, "role", "assignment", "create", "--assignee-object-id", grp["id"].(string), "--assignee-principal-type", "Group", "--role", "Reader", "-g", "team")
	in.cliNoEnvCreds(ada, "login", "-u", "ada@amlid.onmicrosoft.com", "-p", "Secr3t-pass!")
	if _, se, code := in.cliNoEnvCreds(ada, "group", "show", "-n", "team"); code != 0 {
		t.Fatalf("group member must inherit Reader: %s", se)
	}
}

// cliNoEnvCreds runs the CLI with amlid's endpoints and CA but without the
// bootstrap admin's credentials in the environment (a user's shell).
func (in *instance) cliNoEnvCreds(cfgDir string, args ...string) (string, string, int) {
	in.t.Helper()
	return in.runCLI(cfgDir, false, args...)
}

func (in *instance) mustCLIOnly(cfgDir string, args ...string) string {
	in.t.Helper()
	so, se, code := in.runCLI(cfgDir, false, args...)
	if code != 0 {
		in.t.Fatalf("amlid %s: exit %d\n%s%s", strings.Join(args, " "), code, so, se)
	}
	return so
}
