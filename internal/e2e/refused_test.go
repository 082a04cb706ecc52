package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// Issue 15 hole 8: the refused paths of rules ID-4 (on ARM), RBAC-3, EP-1
// and WS-5 (access-policy model), each exercised by a principal that is not
// the bootstrap Owner, through the CLI and the Go SDK.
func TestRefusedPaths(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	admin := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(admin, "group", "create", "-n", "app-rg", "-l", "eastus")
	in.mustCLI(admin, "group", "create", "-n", "id-rg", "-l", "eastus")
	rgID := "/subscriptions/" + sub + "/resourceGroups/app-rg"

	t.Run("ID-4 a token of a second tenant is refused on ARM", func(t *testing.T) {
		tn := mustJSON(t, in.mustCLI(admin, "tenant", "create", "-n", "second"))
		tid, subB := tn["tenantId"].(string), tn["subscriptionId"].(string)
		adm := tn["admin"].(map[string]any)
		if tid == in.State.TenantID || subB == sub || adm["password"] == "" {
			t.Fatalf("tenant create: %v", tn)
		}
		credB := in.credential(t, tid, adm["appId"].(string), adm["password"].(string))
		// The second tenant's admin works in its own subscription…
		rgB, err := armresources.NewResourceGroupsClient(subB, credB, in.armOptions())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rgB.CreateOrUpdate(t.Context(), "b-rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
			t.Fatalf("tenant B's admin in its own subscription: %v", err)
		}
		// …and is refused on the first tenant's, whatever it asks.
		rgA, _ := armresources.NewResourceGroupsClient(sub, credB, in.armOptions())
		_, err = rgA.Get(t.Context(), "app-rg", nil)
		if code, ecode := respCode(err); code != 401 || ecode != "InvalidAuthenticationTokenTenant" || !strings.Contains(err.Error(), "ID-4") {
			t.Fatalf("tenant B's token on tenant A's subscription: %d %s %v", code, ecode, err)
		}
		_, err = rgA.CreateOrUpdate(t.Context(), "evil-rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil)
		if code, _ := respCode(err); code != 401 {
			t.Fatalf("tenant B creating a group in tenant A: %v", err)
		}
		// Through the CLI, signed in as tenant B's admin.
		cfgB := t.TempDir()
		in.mustCLIOnly(cfgB, "login", "--service-principal", "-u", adm["appId"].(string), "-p", adm["password"].(string), "--tenant", tid)
		if _, se, code := in.cliNoEnvCreds(cfgB, "group", "show", "-n", "app-rg", "--subscription", sub); code == 0 || !strings.Contains(se, "ID-4") {
			t.Fatalf("CLI as tenant B on tenant A's group: exit %d\n%s", code, se)
		}
		// Only a directory administrator creates tenants.
		appID, secret, _ := in.newSP(t, admin, "not-admin")
		cfgN := t.TempDir()
		in.mustCLIOnly(cfgN, "login", "--service-principal", "-u", appID, "-p", secret, "--tenant", in.State.TenantID, "--allow-no-subscriptions")
		if _, se, code := in.cliNoEnvCreds(cfgN, "tenant", "create", "-n", "third"); code == 0 || !strings.Contains(se, "directory administrator") {
			t.Fatalf("tenant create by a non-admin: exit %d\n%s", code, se)
		}
	})

	// A developer with Contributor on app-rg: not Owner, no User Access
	// Administrator, no role on the identities of id-rg.
	dev := mustJSON(t, in.mustCLI(admin, "ad", "sp", "create-for-rbac", "-n", "dev", "--role", "Contributor", "--scopes", rgID))
	devOID := mustJSON(t, in.mustCLI(admin, "ad", "sp", "show", "--id", dev["appId"].(string)))["id"].(string)
	devCfg := t.TempDir()
	in.mustCLIOnly(devCfg, "login", "--service-principal", "-u", dev["appId"].(string), "-p", dev["password"].(string), "--tenant", in.State.TenantID)
	in.mustCLIOnly(devCfg, "configure", "--defaults", "group=app-rg", "workspace=app-ws")
	other := mustJSON(t, in.mustCLI(admin, "identity", "create", "-n", "other", "-g", "app-rg"))

	t.Run("RBAC-3 a Contributor cannot create role assignments", func(t *testing.T) {
		_, se, code := in.cliNoEnvCreds(devCfg, "role", "assignment", "create", "--assignee-object-id", other["principalId"].(string),
			"--assignee-principal-type", "ServicePrincipal", "--role", "Reader", "-g", "app-rg")
		for _, want := range []string{"AuthorizationFailed", devOID, "Microsoft.Authorization/roleAssignments/write", "User Access Administrator"} {
			if code == 0 || !strings.Contains(se, want) {
				t.Fatalf("role assignment create by a Contributor: exit %d, stderr lacks %q:\n%s", code, want, se)
			}
		}
		// Not even to itself.
		if _, _, code := in.cliNoEnvCreds(devCfg, "role", "assignment", "create", "--assignee-object-id", devOID,
			"--assignee-principal-type", "ServicePrincipal", "--role", "Owner", "-g", "app-rg"); code == 0 {
			t.Fatal("a Contributor made itself Owner")
		}
	})

	t.Run("RBAC-3 attaching a UAI needs assign/action on it", func(t *testing.T) {
		in.mustCLI(admin, "ml", "workspace", "create", "-n", "app-ws", "-g", "app-rg")
		uai := mustJSON(t, in.mustCLI(admin, "identity", "create", "-n", "scoring", "-g", "id-rg"))
		ep := fillTemplate(t, "endpoints/online/managed/managed-identities/1-uai-create-endpoint.yml",
			map[string]string{"user_identity_ARM_id_place_holder": uai["id"].(string)})
		_, se, code := in.cliNoEnvCreds(devCfg, "ml", "online-endpoint", "create", "-f", ep)
		for _, want := range []string{"AuthorizationFailed", devOID, "assign/action", uai["id"].(string), "Managed Identity Operator"} {
			if code == 0 || !strings.Contains(se, want) {
				t.Fatalf("endpoint with a UAI the developer may not assign: exit %d, stderr lacks %q:\n%s", code, want, se)
			}
		}
		in.mustCLI(admin, "role", "assignment", "create", "--assignee-object-id", devOID, "--assignee-principal-type", "ServicePrincipal",
			"--role", "Managed Identity Operator", "--scope", uai["id"].(string))
		got := mustJSON(t, in.mustCLIOnly(devCfg, "ml", "online-endpoint", "create", "-f", ep))
		if got["identity"].(map[string]any)["type"] != "user_assigned" {
			t.Fatalf("endpoint: %v", got["identity"])
		}
	})

	t.Run("EP-1 refusals", func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, body string) string {
			p := filepath.Join(dir, name)
			os.WriteFile(p, []byte(body), 0o644)
			return p
		}
		missing := "/subscriptions/" + sub + "/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope"
		for _, c := range []struct {
			name, yaml string
			want       []string
		}{
			{"a UAI that does not exist", "name: ep-missing\nauth_mode: key\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: " + missing + "\n", []string{"nope"}},
			{"user_assigned without identities", "name: ep-empty\nauth_mode: key\nidentity:\n  type: user_assigned\n", []string{"userAssignedIdentities"}},
			{"an unknown identity type", "name: ep-bogus\nauth_mode: key\nidentity:\n  type: bogus\n", []string{"bogus"}},
			{"an unknown auth mode", "name: ep-auth\nauth_mode: password\n", []string{"password"}},
		} {
			in.cliFails(t, admin, c.want, "ml", "online-endpoint", "create", "-f", write(c.name+".yml", c.yaml), "-w", "app-ws", "-g", "app-rg")
		}
	})

	t.Run("WS-5 access-policy model", func(t *testing.T) {
		st := mustJSON(t, in.mustCLI(admin, "storage", "account", "create", "-n", "ws5policy", "-g", "app-rg", "-l", "eastus"))["id"].(string)
		kv := mustJSON(t, in.mustCLI(admin, "keyvault", "create", "-n", "ws5policy", "-g", "app-rg", "--enable-rbac-authorization", "false"))
		kvID := kv["id"].(string)
		uai := mustJSON(t, in.mustCLI(admin, "identity", "create", "-n", "ws5-uai", "-g", "app-rg"))
		pid := uai["principalId"].(string)
		in.mustCLI(admin, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
			"--role", "Contributor", "-g", "app-rg")
		f := filepath.Join(t.TempDir(), "ws.yml")
		os.WriteFile(f, []byte("location: eastus\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    '"+uai["id"].(string)+"': {}\n"+
			"primary_user_assigned_identity: "+uai["id"].(string)+"\nstorage_account: "+st+"\nkey_vault: "+kvID+"\n"), 0o644)
		in.cliFails(t, admin, []string{"WS-5", "access policy on key vault " + kvID, "access-policy model",
			"amlid keyvault set-policy --name ws5policy --object-id " + pid}, "ml", "workspace", "create", "-n", "ws5-ws", "-g", "app-rg", "--file", f)
		// Some permissions are not enough: every one but purge.
		in.mustCLI(admin, "keyvault", "set-policy", "-n", "ws5policy", "--object-id", pid, "--secret-permissions", "get,list")
		in.cliFails(t, admin, []string{"WS-5", "set, delete, backup, restore, recover"}, "ml", "workspace", "create", "-n", "ws5-ws", "-g", "app-rg", "--file", f)
		in.mustCLI(admin, "keyvault", "set-policy", "-n", "ws5policy", "--object-id", pid, "--secret-permissions", "get,list,set,delete,backup,restore,recover")
		ws := mustJSON(t, in.mustCLI(admin, "ml", "workspace", "create", "-n", "ws5-ws", "-g", "app-rg", "--file", f))
		if ws["primary_user_assigned_identity"] != uai["id"] {
			t.Fatalf("workspace: %v", ws)
		}
	})
}
