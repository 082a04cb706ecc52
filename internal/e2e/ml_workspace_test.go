package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fillTemplate copies a docs YAML from testdata/ml with its placeholders
// replaced, and returns the copy's path.
func fillTemplate(t *testing.T, name string, repl map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ml", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range repl {
		s = strings.ReplaceAll(s, k, v)
	}
	if strings.Contains(s, "<") {
		t.Fatalf("%s still has a placeholder:\n%s", name, s)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cliFails runs the CLI expecting a failure whose stderr contains every want.
func (in *instance) cliFails(t *testing.T, cfg string, want []string, args ...string) {
	t.Helper()
	_, se, code := in.cli(cfg, args...)
	if code == 0 {
		t.Fatalf("%v succeeded; want a refusal with %q", args, want)
	}
	for _, w := range want {
		if !strings.Contains(se, w) {
			t.Fatalf("%v: stderr lacks %q:\n%s", args, w, se)
		}
	}
}

func roleNamesOf(t *testing.T, in *instance, cfg, pid, scope string) map[string]bool {
	t.Helper()
	var ras []map[string]any
	out := in.mustCLI(cfg, "role", "assignment", "list", "--assignee", pid, "--scope", scope)
	if err := json.Unmarshal([]byte(out), &ras); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	names := map[string]bool{}
	for _, ra := range ras {
		names[ra["roleDefinitionName"].(string)] = true
	}
	return names
}

// Rules WS-1..WS-6 through the CLI, with the docs' YAML files.
func TestMLWorkspaceIdentityRules(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(cfg, "group", "create", "-n", "ml-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=ml-rg")
	rgID := "/subscriptions/" + sub + "/resourceGroups/ml-rg"
	uai := func(n string) map[string]any {
		return mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", n))
	}
	uai1, uai2, uaiCMK := uai("uai-one"), uai("uai-two"), uai("uai-cmk")
	id1, id2, idCMK := uai1["id"].(string), uai2["id"].(string), uaiCMK["id"].(string)

	t.Run("WS-1 system-assigned by default, with associated resources", func(t *testing.T) {
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ws-sai"))
		idm := ws["identity"].(map[string]any)
		if idm["type"] != "system_assigned" || len(idm["principal_id"].(string)) != 36 {
			t.Fatalf("identity: %v", idm)
		}
		for _, k := range []string{"storage_account", "key_vault", "application_insights"} {
			if s, _ := ws[k].(string); !strings.HasPrefix(s, rgID+"/providers/") {
				t.Fatalf("%s not created: %v", k, ws)
			}
		}
		if ws["container_registry"] != nil {
			t.Fatalf("the registry must come on first need (WS-7), not at creation: %v", ws["container_registry"])
		}
		pid := idm["principal_id"].(string)
		if got := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-w", "ws-sai", "--query", "identityPrincipalId", "-o", "tsv")); got != pid {
			t.Fatalf("v1 --query identityPrincipalId = %q, want %s", got, pid)
		}
		if got := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "ws-sai", "--query", "identity.principal_id", "-o", "tsv")); got != pid {
			t.Fatalf("--query identity.principal_id = %q", got)
		}
		roles := roleNamesOf(t, in, cfg, pid, ws["storage_account"].(string))
		if !roles["Contributor"] || !roles["Storage Blob Data Contributor"] {
			t.Fatalf("the workspace SAI's roles on its storage: %v", roles)
		}
		roles = roleNamesOf(t, in, cfg, pid, ws["key_vault"].(string))
		if !roles["Key Vault Administrator"] {
			t.Fatalf("the workspace SAI's roles on its key vault: %v", roles)
		}
		// Refused: a workspace without an identity.
		none := filepath.Join(t.TempDir(), "none.yml")
		os.WriteFile(none, []byte("location: eastus\nidentity:\n  type: none\n"), 0o644)
		in.cliFails(t, cfg, []string{"WS-1"}, "ml", "workspace", "create", "-n", "ws-none", "--file", none)
		keys := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "list-keys", "-n", "ws-sai"))
		if s, _ := keys["user_storage_key"].(string); s == "" {
			t.Fatalf("list-keys: %v", keys)
		}
	})

	t.Run("WS-3 SAI to SAI+UAI allowed, never back", func(t *testing.T) {
		f := fillTemplate(t, "workspace_add_uai.yml", map[string]string{"<TENANT_ID>": in.State.TenantID,
			"<SUBSCRIPTION_ID": sub, "<RESOURCE_GROUP>": "ml-rg", "<USER_MANAGED_ID>": "uai-one"})
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "update", "-n", "ws-sai", "--file", f))
		idm := ws["identity"].(map[string]any)
		if idm["type"] != "system_assigned,user_assigned" || len(idm["user_assigned_identities"].(map[string]any)) != 1 {
			t.Fatalf("after adding a UAI: %v", idm)
		}
		back := filepath.Join(t.TempDir(), "back.yml")
		os.WriteFile(back, []byte("identity:\n  type: system_assigned\n"), 0o644)
		in.cliFails(t, cfg, []string{"WS-3"}, "ml", "workspace", "update", "-n", "ws-sai", "--file", back)
	})

	t.Run("WS-2 WS-5 user-assigned workspace from the docs' YAML", func(t *testing.T) {
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "show", "-n", "ws-sai"))
		// Bring-your-own storage and key vault: the ones of ws-sai.
		repl := map[string]string{"<region name>": "eastus", "<UAI resource ID 1>": id1, "<UAI resource ID 2>": id2,
			"<storage acccount resource ID>": ws["storage_account"].(string), "<key vault resource ID>": ws["key_vault"].(string),
			"<compute(virtual machine) resource ID>": "cpu-cluster", "<one of the UAI resource IDs in the above list>": id1}
		f := fillTemplate(t, "workspace_creation_with_multiple_UAIs.yml", repl)
		// WS-5: every missing role is listed with the command that grants it.
		in.cliFails(t, cfg, []string{"WS-5", "Contributor on " + rgID + "/providers/Microsoft.MachineLearningServices/workspaces/ws-uai",
			"Contributor on " + ws["storage_account"].(string), "Key Vault Administrator on " + ws["key_vault"].(string),
			"amlid role assignment create --assignee-object-id " + uai1["principalId"].(string)},
			"ml", "workspace", "create", "-n", "ws-uai", "--file", f)
		pid1 := uai1["principalId"].(string)
		for _, g := range [][2]string{{"Contributor", rgID}, {"Key Vault Administrator", ws["key_vault"].(string)}} {
			in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid1, "--assignee-principal-type", "ServicePrincipal",
				"--role", g[0], "--scope", g[1])
		}
		created := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ws-uai", "--file", f))
		if created["primary_user_assigned_identity"] != id1 || created["identity"].(map[string]any)["type"] != "user_assigned" {
			t.Fatalf("created: %v", created)
		}
		if so, _, code := in.cli(cfg, "check", "--rule", "WS-5", "-w", "ws-uai"); code != 0 || !strings.Contains(so, "Rule WS-5 holds") {
			t.Fatalf("check --rule WS-5: exit %d\n%s", code, so)
		}
		// WS-2: a user-assigned workspace must name its primary, from the set.
		noPrimary := filepath.Join(t.TempDir(), "np.yml")
		os.WriteFile(noPrimary, []byte("location: eastus\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    '"+id1+"': {}\nstorage_account: "+
			ws["storage_account"].(string)+"\nkey_vault: "+ws["key_vault"].(string)+"\n"), 0o644)
		in.cliFails(t, cfg, []string{"WS-2", "primary"}, "ml", "workspace", "create", "-n", "ws-np", "--file", noPrimary)
		in.cliFails(t, cfg, []string{"WS-2", "must be one of"}, "ml", "workspace", "create", "-n", "ws-np", "--file", noPrimary,
			"--primary-user-assigned-identity", id2)

		// WS-4: the update's set is the whole new set; the primary stays.
		upd := fillTemplate(t, "workspace_update_with_multiple_UAIs.yml", map[string]string{"<UAI resource ID 1>": id2, "<UAI resource ID 2>": idCMK,
			"<one of the UAI resource IDs in the above list>": id2})
		// uai-two becomes primary: it needs the WS-5 roles too.
		pid2 := uai2["principalId"].(string)
		for _, g := range [][2]string{{"Contributor", rgID}, {"Key Vault Administrator", ws["key_vault"].(string)}} {
			in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid2, "--assignee-principal-type", "ServicePrincipal",
				"--role", g[0], "--scope", g[1])
		}
		after := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "update", "-n", "ws-uai", "--file", upd))
		set := after["identity"].(map[string]any)["user_assigned_identities"].(map[string]any)
		if len(set) != 2 || set[id1] != nil || set[id2] == nil || set[idCMK] == nil || after["primary_user_assigned_identity"] != id2 {
			t.Fatalf("WS-4 set semantics: %v primary %v", set, after["primary_user_assigned_identity"])
		}
		dropPrimary := filepath.Join(t.TempDir(), "drop.yml")
		os.WriteFile(dropPrimary, []byte("identity:\n  type: user_assigned\n  user_assigned_identities:\n    '"+idCMK+"': {}\n"), 0o644)
		in.cliFails(t, cfg, []string{"WS-4", id2}, "ml", "workspace", "update", "-n", "ws-uai", "--file", dropPrimary)
	})

	t.Run("WS-6 CMK identity may differ from the primary but must be attached", func(t *testing.T) {
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "show", "-n", "ws-sai"))
		y := filepath.Join(t.TempDir(), "cmk.yml")
		os.WriteFile(y, []byte("location: eastus\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    '"+id1+"': {}\nprimary_user_assigned_identity: "+id1+
			"\nstorage_account: "+ws["storage_account"].(string)+"\nkey_vault: "+ws["key_vault"].(string)+"\n"), 0o644)
		in.cliFails(t, cfg, []string{"WS-6"}, "ml", "workspace", "create", "-n", "ws-cmk", "--file", y, "--user-assigned-identity-for-cmk-encryption", idCMK)
		y2 := filepath.Join(t.TempDir(), "cmk2.yml")
		os.WriteFile(y2, []byte("location: eastus\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    '"+id1+"': {}\n    '"+idCMK+"': {}\nprimary_user_assigned_identity: "+id1+
			"\nstorage_account: "+ws["storage_account"].(string)+"\nkey_vault: "+ws["key_vault"].(string)+"\n"), 0o644)
		got := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ws-cmk", "--file", y2, "--user-assigned-identity-for-cmk-encryption", idCMK))
		if got["user_assigned_identity_for_cmk_encryption"] != idCMK || got["primary_user_assigned_identity"] != id1 {
			t.Fatalf("WS-6: %v", got)
		}
	})

	t.Run("WS-7 bring your own registry at creation or by update", func(t *testing.T) {
		r1 := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "byoregone", "--sku", "Basic"))["id"].(string)
		r2 := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "byoregtwo", "--sku", "Basic"))["id"].(string)
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-w", "ws-byo", "-l", "eastus", "--container-registry", r1))
		if ws["containerRegistry"] != r1 {
			t.Fatalf("v1 create --container-registry: %v", ws)
		}
		in.cliFails(t, cfg, []string{"--update-dependent-resources"}, "ml", "workspace", "update", "-n", "ws-byo", "--container-registry", r2)
		got := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "update", "-n", "ws-byo", "--update-dependent-resources", "--container-registry", r2))
		if got["container_registry"] != r2 {
			t.Fatalf("update --update-dependent-resources: %v", got["container_registry"])
		}
		pid := got["identity"].(map[string]any)["principal_id"].(string)
		if !roleNamesOf(t, in, cfg, pid, r2)["Contributor"] {
			t.Fatalf("the workspace SAI needs Contributor on its registry")
		}
		in.mustCLI(cfg, "ml", "workspace", "delete", "-n", "ws-byo", "--yes", "--all-resources")
		in.cliFails(t, cfg, []string{"not found"}, "storage", "account", "show", "-n", strings.TrimPrefix(ws["storageAccount"].(string)[strings.LastIndex(ws["storageAccount"].(string), "/"):], "/"))
	})

	t.Run("deleting a workspace removes its SAI and that identity's role assignments", func(t *testing.T) {
		ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "show", "-n", "ws-sai"))
		pid := ws["identity"].(map[string]any)["principal_id"].(string)
		in.mustCLI(cfg, "ml", "workspace", "delete", "-n", "ws-sai", "--yes")
		var ras []any
		json.Unmarshal([]byte(in.mustCLI(cfg, "role", "assignment", "list", "--all", "--assignee-object-id", pid)), &ras)
		if len(ras) != 0 {
			t.Fatalf("the deleted workspace's SAI still has %d role assignments", len(ras))
		}
		in.cliFails(t, cfg, []string{"ResourceNotFound"}, "ml", "workspace", "show", "-n", "ws-sai")
	})
}
