package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// seedSnippet is one code block of a seed article, as printed there (only
// its <placeholders> are filled in), run by bash with `az` a function
// calling amlid.
type seedSnippet struct {
	where string   // seed and heading
	text  string   // the block, verbatim
	fails []string // the block is refused: stderr has each of these
	want  []string // stdout (or, with fails, stderr) has each of these
	az    *azCLI   // run with Debian's az instead of amlid
}

var placeholderRE = regexp.MustCompile(`<[A-Za-z][^<>]*>`)

// runSeedSnippet writes s.text with ph filled in to a script in dir and
// runs it with bash (`set -e`), `az` being amlid and `sleep` instant.
func (in *instance) runSeedSnippet(t *testing.T, cfg, dir string, ph map[string]string, s seedSnippet) (string, string) {
	t.Helper()
	text := s.text
	for k, v := range ph {
		text = strings.ReplaceAll(text, k, v)
	}
	if p := placeholderRE.FindString(text); p != "" {
		t.Fatalf("%s: placeholder %s left in:\n%s", s.where, p, text)
	}
	script := filepath.Join(dir, "snippet.sh")
	os.WriteFile(script, []byte("set -e\n"+text+"\n"), 0o644)
	benv := filepath.Join(dir, "bashenv")
	prelude := "az() { amlid \"$@\"; }\nsleep() { :; }\n"
	env := append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
	if s.az != nil {
		prelude, env = "sleep() { :; }\n", s.az.env
	}
	os.WriteFile(benv, []byte(prelude), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", script)
	cmd.Dir = dir
	cmd.Env = append(env, "BASH_ENV="+benv, "PATH="+filepath.Dir(amlidBin)+":"+os.Getenv("PATH"))
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if s.fails == nil && err != nil {
		t.Fatalf("%s: %v\n%s\n--- stdout\n%s--- stderr\n%s", s.where, err, text, so.String(), se.String())
	}
	if s.fails != nil {
		if err == nil {
			t.Fatalf("%s: succeeded, want a refusal:\n%s\n%s", s.where, text, so.String())
		}
		for _, w := range s.fails {
			if !strings.Contains(se.String(), w) {
				t.Fatalf("%s: stderr lacks %q:\n%s", s.where, w, se.String())
			}
		}
	}
	for _, w := range s.want {
		if !strings.Contains(so.String()+se.String(), w) {
			t.Fatalf("%s: output lacks %q:\n%s\n--- stdout\n%s--- stderr\n%s", s.where, w, text, so.String(), se.String())
		}
	}
	return so.String(), se.String()
}

// The seeds' CLI blocks that no other test runs as printed (the checklist
// in docs/decisions.md, "Seed snippets", says which test runs each of the
// others): seed 000's v1 workspace commands (bring your own ACR, the
// --query spellings, --primary-user-assigned-identity refused by WS-5 as
// the article warns until the associated resources are brought, v1's
// --keyvault), the --assignee role grants with az's role spellings (acrpull,
// managedidentityoperator); seed 003's workspace commands with
// --subscription/--resource-group, compute create|show|update as printed,
// the environment YAML; seed 002's `az account set` and its misspelt
// `gitworkspace=` default (warned about). Two printed doc slips are run as
// printed and must give an actionable message: `compute show --name
// <cluster> -n <workspace>` (-n is --name) and `gitworkspace=`.
func TestSeedSnippetsAsPrinted(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	dir := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(cfg, "group", "create", "-n", "seed-rg", "-l", "eastus")
	acr := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "seedacr", "-g", "seed-rg", "--sku", "Basic"))["id"].(string)
	acr2 := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "seedacr2", "-g", "seed-rg", "--sku", "Basic"))["id"].(string)
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "seed-uai", "-g", "seed-rg"))
	uai2 := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "seed-uai-two", "-g", "seed-rg"))
	st := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "seedstore", "-g", "seed-rg", "-l", "eastus"))["id"].(string)
	kv := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "seed-kv", "-g", "seed-rg", "--enable-rbac-authorization", "true"))["id"].(string)
	ph := map[string]string{
		"<subscription id>": sub, "<subscription ID>": sub, "<my subscription id>": sub,
		"<workspace resource group>": "seed-rg", "<acr resource group>": "seed-rg", "<my resource group>": "seed-rg",
		"<resource group>": "seed-rg", "<private ACR resource group>": "seed-rg", "<resource group name>": "seed-rg",
		"<RESOURCE_GROUP>": "seed-rg",
		"<region>":         "eastus", "<acr name>": "seedacr", "<ACR instance name>": "seedacr", "<private ACR name>": "seedacr",
		"<user-assigned managed identity resource ID>": uai["id"].(string), "<managed identity ARM ID>": uai["id"].(string),
		"<my-identity-id>": uai["id"].(string),
	}
	run := func(s seedSnippet) (string, string) {
		t.Helper()
		return in.runSeedSnippet(t, cfg, dir, ph, s)
	}

	// Seed 000 (CLI v1), "Bring your own ACR".
	ph["<workspace name>"] = "seed-v1"
	run(seedSnippet{where: "000 bring your own ACR", text: `az ml workspace create -w <workspace name> \
-g <workspace resource group> \
-l <region> \
--container-registry /subscriptions/<subscription id>/resourceGroups/<acr resource group>/providers/Microsoft.ContainerRegistry/registries/<acr name>`,
		want: []string{`"containerRegistry": "` + acr + `"`, `"name": "seed-v1"`}})
	// "Let Azure Machine Learning create the workspace ACR", steps 1, 3, 4.
	// Step 3 as printed lacks the `\` before --query; run with it.
	ph["<my workspace>"] = "seed-v1"
	run(seedSnippet{where: "000 step 1", text: `az ml workspace show -n <my workspace> -g <my resource group>`, want: []string{`"name": "seed-v1"`}})
	run(seedSnippet{where: "000 step 3 (with the missing backslash)", text: `az ml workspace show -w <my workspace> \
-g <my resource group> \
--query containerRegistry`, want: []string{`"` + acr + `"`}})
	run(seedSnippet{where: "000 step 4", text: `az acr update --name <ACR instance name> --admin-enabled false`, want: []string{`"adminUserEnabled": false`}})
	// "Build a managed environment…": the workspace SAI's principal ID,
	// then Managed Identity Operator on the UAI with az's spelling.
	so, _ := run(seedSnippet{where: "000 identityPrincipalId", text: `az ml workspace show -w <workspace name> -g <resource group> --query identityPrincipalId`})
	ph["<principal ID>"] = strings.Trim(strings.TrimSpace(so), `"`)
	if len(ph["<principal ID>"]) != 36 {
		t.Fatalf("identityPrincipalId: %q", so)
	}
	run(seedSnippet{where: "000 managedidentityoperator", text: `az role assignment create --assignee <principal ID> --role managedidentityoperator --scope <user-assigned managed identity resource ID>`,
		want: []string{`"roleDefinitionName": "Managed Identity Operator"`, `"scope": "` + uai["id"].(string) + `"`}})
	// "Pull Docker base image … as is": the cluster's identity, then a UAI
	// assigned ($mlws and $mlrg are the page's own variables, never set).
	in.mustCLI(cfg, "ml", "computetarget", "create", "amlcompute", "-n", "v1-cluster", "--vm-size", "STANDARD_D2_V2",
		"--assign-identity", "[system]", "-w", "seed-v1", "-g", "seed-rg")
	ph["<cluster name>"], ph["<workspace>"] = "v1-cluster", "seed-v1"
	run(seedSnippet{where: "000 computetarget identity show", text: `az ml computetarget amlcompute identity show --name <cluster name> -w <workspace> -g <resource group>`,
		want: []string{`"type": "SystemAssigned"`, `"principalId"`}})
	run(seedSnippet{where: "000 computetarget identity assign", text: `mlws=seed-v1 mlrg=seed-rg
az ml computetarget amlcompute identity assign --name <cluster name> \
-w $mlws -g $mlrg --identities <my-identity-id>`, want: []string{`"type": "UserAssigned"`, uai["id"].(string)}})
	// "Create a workspace with a user-assigned managed identity": refused by
	// WS-5 as the article's Important note says, naming how to bring the
	// resources; with them (v1's --keyvault) and the roles, created.
	ph["<workspace name>"] = "seed-v1-uai"
	v1UAI := `az ml workspace create -w <workspace name> -g <resource group> --primary-user-assigned-identity <managed identity ARM ID>`
	run(seedSnippet{where: "000 --primary-user-assigned-identity alone", text: v1UAI,
		fails: []string{"Rule WS-5", "--storage-account", "--keyvault"}})
	for _, g := range [][2]string{{"Contributor", "/subscriptions/" + sub + "/resourceGroups/seed-rg"}, {"Key Vault Administrator", kv}} {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uai["principalId"].(string), "--assignee-principal-type", "ServicePrincipal", "--role", g[0], "--scope", g[1])
	}
	run(seedSnippet{where: "000 --primary-user-assigned-identity with its resources", text: v1UAI + " --storage-account " + st + " --keyvault " + kv,
		want: []string{`"primaryUserAssignedIdentity": "` + uai["id"].(string) + `"`, `"keyVault": "` + kv + `"`}})

	// Seed 003, "User-assigned managed identity / Workspace": the two YAML
	// files with --subscription and --resource-group.
	repl := map[string]string{"<region name>": "eastus", "<UAI resource ID 1>": uai["id"].(string), "<UAI resource ID 2>": uai2["id"].(string),
		"<storage acccount resource ID>": st, "<key vault resource ID>": kv, "<compute(virtual machine) resource ID>": "cpu-cluster",
		"<one of the UAI resource IDs in the above list>": uai["id"].(string)}
	for _, f := range []string{"workspace_creation_with_multiple_UAIs.yml", "workspace_update_with_multiple_UAIs.yml"} {
		b, _ := os.ReadFile(fillTemplate(t, f, repl))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	ph["<workspace name>"] = "seed-multi"
	run(seedSnippet{where: "003 create with multiple UAIs", text: `az ml workspace create -f workspace_creation_with_multiple_UAIs.yml --subscription <subscription ID> --resource-group <resource group name> --name <workspace name>`,
		want: []string{`"primary_user_assigned_identity": "` + uai["id"].(string) + `"`}})
	run(seedSnippet{where: "003 update with multiple UAIs", text: `az ml workspace update -f workspace_update_with_multiple_UAIs.yml --subscription <subscription ID> --resource-group <resource group name> --name <workspace name>`,
		want: []string{uai2["id"].(string)}})
	// Seed 004 prints the same file without its indentation, and its tip
	// spells the key user_signed_identities: both refused, saying what is
	// wrong.
	os.WriteFile(filepath.Join(dir, "flat.yml"), []byte("identity:\ntype: user_assigned\nuser_assigned_identities:\n'"+uai["id"].(string)+"': {}\n"+
		"primary_user_assigned_identity: "+uai["id"].(string)+"\n"), 0o644)
	run(seedSnippet{where: "004 flat workspace YAML", text: `az ml workspace update -f flat.yml --subscription <subscription ID> --resource-group <resource group name> --name <workspace name>`,
		fails: []string{"unknown field(s)", "indent them under identity:"}})
	os.WriteFile(filepath.Join(dir, "signed.yml"), []byte("identity:\n   type: user_assigned\n   user_signed_identities:\n    '"+uai["id"].(string)+"': {}\n"), 0o644)
	run(seedSnippet{where: "004 user_signed_identities", text: `az ml workspace update -f signed.yml --subscription <subscription ID> --resource-group <resource group name> --name <workspace name>`,
		fails: []string{"identity has unknown field(s): user_signed_identities"}})
	// "Add a user-assigned managed identity … in addition to a system-assigned identity".
	b, _ := os.ReadFile(fillTemplate(t, "workspace_add_uai.yml", map[string]string{"<TENANT_ID>": in.State.TenantID,
		"<SUBSCRIPTION_ID": sub, "<RESOURCE_GROUP>": "seed-rg", "<USER_MANAGED_ID>": "seed-uai-two"}))
	os.WriteFile(filepath.Join(dir, "add-uai.yaml"), b, 0o644)
	ph["<WORKSPACE_NAME>"], ph["<YAML_FILE_NAME>"] = "seed-v1", "add-uai"
	run(seedSnippet{where: "003 add a UAI to a SAI workspace", text: `az ml workspace update --resource-group <RESOURCE_GROUP> --name <WORKSPACE_NAME> --file <YAML_FILE_NAME>.yaml`,
		want: []string{`"type": "system_assigned,user_assigned"`}})
	// "Azure Machine Learning with auto-created ACR instance", step 3, and
	// "Bring your own ACR" (create, then update to another registry).
	ph["<my workspace name>"] = "seed-v1"
	run(seedSnippet{where: "003 --query container_registry", text: `az ml workspace show --name <my workspace name> \
--resource-group <my resource group> \
--subscription <my subscription id> \
--query container_registry`, want: []string{`"` + acr + `"`}})
	ph["<workspace name>"] = "seed-byo"
	run(seedSnippet{where: "003 bring your own ACR", text: `az ml workspace create -n <workspace name> \
-g <workspace resource group> \
-l <region> \
--container-registry /subscriptions/<subscription id>/resourceGroups/<acr resource group>/providers/Microsoft.ContainerRegistry/registries/<acr name>`,
		want: []string{`"container_registry": "` + acr + `"`}})
	ph["<acr name>"] = "seedacr2"
	run(seedSnippet{where: "003 attach an existing ACR", text: `az ml workspace update --update-dependent-resources \
--name <workspace name> \
--resource-group <workspace resource group> \
--container-registry /subscriptions/<subscription id>/resourceGroups/<acr resource group>/providers/Microsoft.ContainerRegistry/registries/<acr name>`,
		want: []string{`"container_registry": "` + acr2 + `"`}})

	// Seed 003 computes, in workspace seed-byo (defaults as the article's
	// prerequisites set them). The printed `--type <cluster name>` is a
	// slip for the compute type.
	in.mustCLI(cfg, "configure", "--defaults", "group=seed-rg", "workspace=seed-byo")
	ph["<cluster name>"], ph["<workspace>"] = "cpu-cluster", "seed-byo"
	run(seedSnippet{where: "003 compute create --identity-type systemassigned", text: strings.Replace(
		`az ml compute create --name cpu-cluster --type <cluster name>  --identity-type systemassigned`, "<cluster name>", "amlcompute", 1),
		want: []string{`"type": "system_assigned"`}})
	// As printed, -n is --name again: a not-found, with a warning saying so
	// and naming -w; with -w the principal ID the article wants.
	run(seedSnippet{where: "003 compute show as printed", text: `az ml compute show --name <cluster name> -n <workspace> -g <resource group>`,
		fails: []string{"ResourceNotFound", "--name/-n was given twice", "use --workspace-name/-w"}})
	so, _ = run(seedSnippet{where: "003 compute show with -w", text: `az ml compute show --name <cluster name> -w <workspace> -g <resource group> --query identity.principal_id -o tsv`})
	ph["<principal ID>"] = strings.TrimSpace(so)
	run(seedSnippet{where: "000/003 acrpull on the private ACR", text: `az role assignment create --assignee <principal ID> \
--role acrpull \
--scope "/subscriptions/<subscription ID>/resourceGroups/<private ACR resource group>/providers/Microsoft.ContainerRegistry/registries/<private ACR name>"`,
		want: []string{`"roleDefinitionName": "AcrPull"`, `"principalId": "` + ph["<principal ID>"] + `"`}})
	run(seedSnippet{where: "003 compute update --user-assigned-identities", text: `az ml compute update --name <cluster name> --user-assigned-identities <my-identity-id>`,
		want: []string{`"type": "user_assigned"`, uai["id"].(string)}})
	os.WriteFile(filepath.Join(dir, "env.yml"), []byte(`$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: docker-image-example
image: pytorch/pytorch:latest
description: Environment created from a Docker image.
`), 0o644)
	ph["<yaml file>"] = "env.yml"
	run(seedSnippet{where: "003 environment from a Docker image", text: `az ml environment create --file <yaml file>`,
		want: []string{`"name": "docker-image-example"`, `"image": "pytorch/pytorch:latest"`}})

	// Seed 002's prerequisites as printed: `gitworkspace=` (the Chinese
	// page's slip for workspace=) is kept, as az does, with a warning.
	ph["<Azure Machine Learning workspace name>"] = "seed-byo"
	run(seedSnippet{where: "002 prerequisites", text: `az account set --subscription <subscription ID>
az configure --defaults gitworkspace=<Azure Machine Learning workspace name> group=<resource group>`,
		want: []string{"no default named 'gitworkspace'", "Did you mean workspace="}})
	// Seed 002's blocks up to the deployment, in one shell as a reader runs
	// them (the deployment and scoring: TestOnlineEndpointWalkthroughSAI).
	// The page never sets $storage_id: the line setting it is the one
	// addition; without it the role assignment is refused by the parser.
	mi := filepath.Join(dir, "endpoints", "online", "managed", "managed-identities")
	os.MkdirAll(mi, 0o755)
	for _, f := range []string{"hello.txt", "1-sai-create-endpoint.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "ml", "endpoints", "online", "managed", "managed-identities", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mi, f), b, 0o644)
	}
	ph["<WORKSPACE_NAME>"], ph["<WORKSPACE_LOCATION>"], ph["<ENDPOINT_NAME>"] = "seed-byo", "eastus", "my-sai-endpoint"
	ph["<BLOB_STORAGE_TO_ACCESS>"], ph["<CONTAINER_TO_ACCESS>"], ph["<FILE_TO_ACCESS>"] = "seedblobs", "hello", "hello.txt"
	exports := `export WORKSPACE="<WORKSPACE_NAME>"
export LOCATION="<WORKSPACE_LOCATION>"
export ENDPOINT_NAME="<ENDPOINT_NAME>"
export STORAGE_ACCOUNT_NAME="<BLOB_STORAGE_TO_ACCESS>"
export STORAGE_CONTAINER_NAME="<CONTAINER_TO_ACCESS>"
export FILE_NAME="<FILE_TO_ACCESS>"
`
	grant := `az role assignment create --assignee-object-id $system_identity --assignee-principal-type ServicePrincipal --role "Storage Blob Data Reader" --scope $storage_id`
	run(seedSnippet{where: "002 storage, endpoint, grant", text: exports + `az storage account create --name $STORAGE_ACCOUNT_NAME --location $LOCATION
az storage container create --account-name $STORAGE_ACCOUNT_NAME --name $STORAGE_CONTAINER_NAME
az storage blob upload --account-name $STORAGE_ACCOUNT_NAME --container-name $STORAGE_CONTAINER_NAME --name $FILE_NAME --file endpoints/online/managed/managed-identities/hello.txt
az ml online-endpoint create --name $ENDPOINT_NAME -f endpoints/online/managed/managed-identities/1-sai-create-endpoint.yml
az ml online-endpoint show --name $ENDPOINT_NAME
system_identity=` + "`" + `az ml online-endpoint show --name $ENDPOINT_NAME --query "identity.principal_id" -o tsv` + "`" + `
storage_id=$(az storage account show --name $STORAGE_ACCOUNT_NAME --query id -o tsv)
` + grant,
		want: []string{`"name": "my-sai-endpoint"`, `"roleDefinitionName": "Storage Blob Data Reader"`, "/storageAccounts/seedblobs"}})
	run(seedSnippet{where: "002 grant as printed ($storage_id unset)", text: exports + "system_identity=" + ph["<principal ID>"] + "\n" + grant,
		fails: []string{"flag needs an argument: --scope", "was a shell variable empty or unset?"}})
	so, _ = run(seedSnippet{where: "002 clean-up", text: exports + `az ml online-endpoint delete --name $ENDPOINT_NAME --yes
az storage account delete --name $STORAGE_ACCOUNT_NAME --yes
az ml online-endpoint list --query "length([?name=='my-sai-endpoint'])"
az storage account list --query "length([?name=='seedblobs'])"`})
	if strings.Fields(so)[len(strings.Fields(so))-2] != "0" || strings.Fields(so)[len(strings.Fields(so))-1] != "0" {
		t.Fatalf("002 clean-up left the endpoint or the account:\n%s", so)
	}
	// The role grants of seeds 000 and 003 through Debian's az as well:
	// --assignee with a managed identity's object ID (az resolves it
	// through Graph) and az's role spellings (names resolved by az's
	// roleDefinitions filter).
	az := newAz(t, in)
	az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", in.Boot.TenantID)
	ph["<principal ID>"] = strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "seed-byo", "--query", "identity.principal_id", "-o", "tsv"))
	ph["<user-assigned managed identity resource ID>"] = uai2["id"].(string)
	run(seedSnippet{where: "000 managedidentityoperator (az)", az: az, text: `az role assignment create --assignee <principal ID> --role managedidentityoperator --scope <user-assigned managed identity resource ID>`,
		want: []string{`"principalId": "` + ph["<principal ID>"] + `"`, "/roleDefinitions/f1a07417-d97a-45cb-824c-7a7467783830"}})
	run(seedSnippet{where: "000/003 acrpull (az)", az: az, text: `az role assignment create --assignee <principal ID> \
--role acrpull \
--scope "/subscriptions/<subscription ID>/resourceGroups/<private ACR resource group>/providers/Microsoft.ContainerRegistry/registries/<private ACR name>"`,
		want: []string{`"scope": "` + acr + `"`, "/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"}})
	if !strings.Contains(in.Log.String(), "seed-byo") || strings.Contains(in.Log.String(), "panic") {
		t.Fatalf("server log:\n%s", in.Log.String())
	}
}
