package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pydashStub is the project's stand-in for pydash (scripts/pydash-stub),
// the one dependency of azure-ai-ml that Debian does not package.
func pydashStub(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "pydash-stub"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// python runs Debian's /usr/bin/python3 with amlid's env (plus extra; an
// extra entry without "=" unsets that variable) and the pydash stand-in on
// PYTHONPATH; it returns stdout and fails the test on a non-zero exit.
func (in *instance) python(t *testing.T, extra []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
	env := append(append(cleanEnv(), in.env()...), "PYTHONPATH="+pydashStub(t))
	for _, kv := range extra {
		if !strings.Contains(kv, "=") {
			env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, kv+"=") })
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s: %v\n%s%s", strings.Join(args, " "), err, so.String(), se.String())
	}
	return so.String()
}

// The pydash stand-in behaves as pydash for the calls azure-ai-ml makes.
func TestPydashStub(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/usr/bin/python3", filepath.Join(pydashStub(t), "test_pydash_stub.py"))
	cmd.Env = append(cleanEnv(), "PYTHONPATH="+pydashStub(t))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "pydash stub ok") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// azure-ai-ml 1.4.0 (Debian's python3-azure) as a supported client (issue
// 16): MLClient(DefaultAzureCredential(), sub, rg, ws) with only what
// `amlid env` exports reads workspaces, applies the docs' workspace update
// YAMLs (rules WS-3, WS-4) and creates the walkthrough's online endpoint
// (EP-1) from the seed's YAML.
func TestMLClientPythonSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	sub := in.State.SubscriptionID
	script := filepath.Join("testdata", "ml", "sdk", "mlclient.py")
	in.mustCLI(cfg, "group", "create", "-n", "pysdk-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=pysdk-rg")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pysdk-ws")
	uai := func(name string) map[string]any {
		return mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", name))
	}
	u1, u2 := uai("uai-one"), uai("uai-two")
	id1, id2 := u1["id"].(string), u2["id"].(string)

	// The exact call.
	got := mustJSON(t, in.python(t, nil, "-c", `
import os, json
from azure.ai.ml import MLClient
from azure.identity import DefaultAzureCredential
ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], "pysdk-rg", "pysdk-ws")
ws = ml_client.workspaces.get("pysdk-ws")
print(json.dumps({"name": ws.name, "id": ws.id, "identity": ws.identity.type}))
`))
	if got["name"] != "pysdk-ws" || got["identity"] != "system_assigned" ||
		!strings.EqualFold(got["id"].(string), "/subscriptions/"+sub+"/resourceGroups/pysdk-rg/providers/Microsoft.MachineLearningServices/workspaces/pysdk-ws") {
		t.Fatalf("workspaces.get: %v", got)
	}

	// The docs' "add a UAI to a system-assigned workspace" YAML (WS-3).
	add := fillTemplate(t, "workspace_add_uai.yml", map[string]string{"<TENANT_ID>": in.State.TenantID,
		"<SUBSCRIPTION_ID": sub, "<RESOURCE_GROUP>": "pysdk-rg", "<USER_MANAGED_ID>": "uai-one"})
	upd := mustJSON(t, in.python(t, nil, script, "update", "pysdk-rg", "pysdk-ws", add))
	idm := upd["identity"].(map[string]any)
	if idm["type"] != "system_assigned,user_assigned" || len(idm["user_assigned_identities"].([]any)) != 1 ||
		!strings.EqualFold(idm["user_assigned_identities"].([]any)[0].(string), id1) {
		t.Fatalf("SAI+UAI update through MLClient: %v", upd)
	}

	// The docs' multiple-UAI update YAML on a user-assigned workspace
	// (WS-4: the set is replaced; the new primary holds the WS-5 roles).
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "show", "-n", "pysdk-ws"))
	rgID := "/subscriptions/" + sub + "/resourceGroups/pysdk-rg"
	for _, p := range []string{u1["principalId"].(string), u2["principalId"].(string)} {
		for _, g := range [][2]string{{"Contributor", rgID}, {"Key Vault Administrator", ws["key_vault"].(string)}} {
			in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", p, "--assignee-principal-type", "ServicePrincipal",
				"--role", g[0], "--scope", g[1])
		}
	}
	create := fillTemplate(t, "workspace_creation_with_multiple_UAIs.yml", map[string]string{"<region name>": "eastus",
		"<UAI resource ID 1>": id1, "<UAI resource ID 2>": id2, "<storage acccount resource ID>": ws["storage_account"].(string),
		"<key vault resource ID>": ws["key_vault"].(string), "<compute(virtual machine) resource ID>": "cpu-cluster",
		"<one of the UAI resource IDs in the above list>": id1})
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pysdk-uai", "--file", create)
	u3 := uai("uai-three")
	update := fillTemplate(t, "workspace_update_with_multiple_UAIs.yml", map[string]string{"<UAI resource ID 1>": id2,
		"<UAI resource ID 2>": u3["id"].(string), "<one of the UAI resource IDs in the above list>": id2})
	upd = mustJSON(t, in.python(t, nil, script, "update", "pysdk-rg", "pysdk-uai", update))
	set := upd["identity"].(map[string]any)["user_assigned_identities"].([]any)
	if upd["identity"].(map[string]any)["type"] != "user_assigned" || len(set) != 2 || !strings.EqualFold(upd["primary_user_assigned_identity"].(string), id2) {
		t.Fatalf("multiple-UAI update through MLClient: %v", upd)
	}
	got = mustJSON(t, in.python(t, nil, script, "get", "pysdk-rg", "pysdk-uai"))
	if n := len(got["identity"].(map[string]any)["user_assigned_identities"].([]any)); n != 2 {
		t.Fatalf("after the update, workspaces.get shows %d UAIs: %v", n, got)
	}

	// The walkthrough's endpoint YAML (seed 002) through MLClient: a
	// system-assigned identity by default (EP-1).
	ep := mustJSON(t, in.python(t, nil, script, "endpoint", "pysdk-rg", "pysdk-ws",
		filepath.Join("testdata", "ml", "endpoints", "online", "managed", "managed-identities", "1-sai-create-endpoint.yml")))
	if ep["name"] != "my-sai-endpoint" || ep["auth_mode"] != "key" || ep["identity"].(map[string]any)["type"] != "system_assigned" ||
		ep["identity"].(map[string]any)["principal_id"] == nil || !strings.HasPrefix(ep["scoring_uri"].(string), "https://") {
		t.Fatalf("online endpoint through MLClient: %v", ep)
	}
	if l := ep["listed"].([]any); len(l) != 1 || l[0] != "my-sai-endpoint" {
		t.Fatalf("online_endpoints.list: %v", l)
	}
	shown := strings.TrimSpace(in.mustCLI(cfg, "ml", "online-endpoint", "show", "-n", "my-sai-endpoint", "-w", "pysdk-ws", "--query", "identity.principal_id", "-o", "tsv"))
	if shown != ep["identity"].(map[string]any)["principal_id"] {
		t.Fatalf("the CLI sees principal %q, MLClient %v", shown, ep["identity"])
	}
}
