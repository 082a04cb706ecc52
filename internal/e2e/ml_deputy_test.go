package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Deployments are no confused deputy (issue 15, hole 1): a workspace
// Contributor with no access to storage account victimst registers a model
// whose modelUri names victimst's blob and deploys it. amlid reads assets
// with the endpoint's identity, which may not read victimst: the deployment
// fails with the blob service's 403 naming the identity, the account and
// the role that fixes it, and the victim's blob is never copied. A modelUri
// naming a host amlid does not serve is refused before anything is sent.
func TestDeploymentCannotReadOthersStorage(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	admin := t.TempDir()
	sub := in.State.SubscriptionID
	const loot = "VICTIM-DATA-4f1c9e"
	in.mustCLI(admin, "group", "create", "-n", "victim-rg", "-l", "eastus")
	in.mustCLI(admin, "storage", "account", "create", "-n", "victimst", "-g", "victim-rg", "-l", "eastus")
	in.mustCLI(admin, "storage", "container", "create", "--account-name", "victimst", "-n", "secret")
	f := filepath.Join(t.TempDir(), "weights.txt")
	os.WriteFile(f, []byte(loot), 0o644)
	in.mustCLI(admin, "storage", "blob", "upload", "--account-name", "victimst", "-c", "secret", "-n", "model/weights.txt", "-f", f)

	rg := mustJSON(t, in.mustCLI(admin, "group", "create", "-n", "att-rg", "-l", "eastus"))
	in.mustCLI(admin, "ml", "workspace", "create", "-n", "att-ws", "-g", "att-rg")
	sp := mustJSON(t, in.mustCLI(admin, "ad", "sp", "create-for-rbac", "-n", "attacker", "--role", "Contributor", "--scopes", rg["id"].(string)))
	appID, secret := sp["appId"].(string), sp["password"].(string)

	att := t.TempDir()
	in.mustCLIOnly(att, "login", "--service-principal", "-u", appID, "-p", secret, "--tenant", in.Boot.TenantID)
	in.mustCLIOnly(att, "configure", "--defaults", "group=att-rg", "workspace=att-ws")
	// The attacker cannot read victimst itself.
	if _, se, code := in.cliNoEnvCreds(att, "storage", "account", "keys", "list", "-n", "victimst", "-g", "victim-rg"); code == 0 {
		t.Fatalf("the attacker must not list victimst's keys: %s", se)
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "code"), 0o755)
	os.WriteFile(filepath.Join(dir, "code", "score.py"), []byte(`import os
def init():
    pass
def run(raw):
    out = {}
    for root, _, files in os.walk(os.environ["AZUREML_MODEL_DIR"]):
        for f in files:
            out[f] = open(os.path.join(root, f)).read()
    return out
`), 0o644)
	os.WriteFile(filepath.Join(dir, "endpoint.yml"), []byte("name: att-ep\nauth_mode: key\n"), 0o644)
	in.mustCLIOnly(att, "ml", "online-endpoint", "create", "-f", filepath.Join(dir, "endpoint.yml"))
	pid := strings.TrimSpace(in.mustCLIOnly(att, "ml", "online-endpoint", "show", "-n", "att-ep", "--query", "identity.principal_id", "-o", "tsv"))

	// The attacker registers models pointing elsewhere (ARM accepts any
	// https URL at registration, as Azure does).
	cred := in.credential(t, in.Boot.TenantID, appID, secret)
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	ws := "/subscriptions/" + sub + "/resourceGroups/att-rg/providers/Microsoft.MachineLearningServices/workspaces/att-ws"
	register := func(name, uri string) {
		b, _ := json.Marshal(map[string]any{"properties": map[string]any{"modelUri": uri}})
		req, _ := http.NewRequest(http.MethodPut, in.State.ARMURL+ws+"/models/"+name+"/versions/1?api-version=2023-04-01", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := in.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("register %s: %d", name, resp.StatusCode)
		}
	}
	register("stolen", in.State.BlobURL+"/victimst/secret/model")
	register("elsewhere", "https://attacker.example/victimst/secret/model")

	deploy := func(name, model string) string {
		y := filepath.Join(dir, name+".yml")
		os.WriteFile(y, []byte("name: "+name+"\nmodel: azureml:"+model+":1\ncode_configuration:\n  code: ./code/\n  scoring_script: score.py\n"+
			"environment:\n  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n"), 0o644)
		_, se, code := in.cliNoEnvCreds(att, "ml", "online-deployment", "create", "--endpoint-name", "att-ep", "-f", y)
		if code == 0 {
			out, _, _ := in.cliNoEnvCreds(att, "ml", "online-endpoint", "invoke", "-n", "att-ep", "--deployment-name", name, "--request-file", filepath.Join(dir, "endpoint.yml"))
			t.Fatalf("deploying %s must fail; scoring answered %s", model, out)
		}
		return se
	}
	se := deploy("blue", "stolen")
	for _, want := range []string{"EP-3", pid, "victimst", "403", "AuthorizationPermissionMismatch", "Storage Blob Data Reader", "/resourceGroups/victim-rg/providers/Microsoft.Storage/storageAccounts/victimst"} {
		if !strings.Contains(se, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, se)
		}
	}
	se = deploy("green", "elsewhere")
	if !strings.Contains(se, "attacker.example") || !strings.Contains(se, "not storage amlid serves") {
		t.Errorf("a model on a host amlid does not serve must be refused before sending:\n%s", se)
	}
	// Nothing of the victim's was copied anywhere in amlid's data dir.
	filepath.WalkDir(filepath.Join(in.DataDir, "ml"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(loot)) {
				t.Errorf("%s holds the victim's blob", p)
			}
		}
		return nil
	})
}
