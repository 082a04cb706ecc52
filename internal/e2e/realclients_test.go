package e2e

import (
	"sort"
	"strings"
	"testing"
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
