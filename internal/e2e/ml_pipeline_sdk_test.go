package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sdkWorkspace sets up what the azure-ai-ml job tests share: a workspace,
// an identity-based blob datastore mydata (census.csv in it), a compute
// whose system-assigned identity may read it, and a data scientist with
// Contributor on the group and no data role. It returns the storage
// account's ID, the compute identity's and the user's object IDs and the
// user's environment for DefaultAzureCredential.
func sdkWorkspace(t *testing.T, in *instance, cfg, prefix string) (acct, computeOID, userOID string, user []string) {
	t.Helper()
	group, ws, account := prefix+"-rg", prefix+"-ws", strings.ReplaceAll(prefix, "-", "")+"data"
	in.mustCLI(cfg, "group", "create", "-n", group, "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group="+group, "workspace="+ws)
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", ws)
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", group, "--query", "id", "-o", "tsv"))
	dir := t.TempDir()
	csv := filepath.Join(dir, "census.csv")
	os.WriteFile(csv, []byte("age,workclass,income\n39,State-gov,<=50K\n50,Self-emp,>50K\n"), 0o644)
	dsYAML := filepath.Join(dir, "mydata.yml")
	os.WriteFile(dsYAML, []byte("name: mydata\ntype: azure_blob\naccount_name: "+account+"\ncontainer_name: data\n"), 0o644)
	acct = mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", account, "-l", "eastus"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", account, "-n", "data", "--auth-mode", "login")
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", account, "-c", "data", "-n", "census.csv", "--auth-mode", "login", "-f", csv)
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", dsYAML)
	comp := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--identity-type", "system_assigned"))
	computeOID = comp["identity"].(map[string]any)["principal_id"].(string)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", computeOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct)
	upn := prefix + "@amlid.onmicrosoft.com"
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", prefix, "--user-principal-name", upn, "--password", "Secr3t-pass!")
	userOID = strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", upn, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", userOID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	// DefaultAzureCredential → EnvironmentCredential with the user's name and
	// password; code uploads and downloads go to
	// https://{account}.blob.core.windows.net through amlid's proxy.
	user = []string{"AZURE_CLIENT_ID=04b07795-8ddb-461a-bbee-02f9e1bf7b46", "AZURE_CLIENT_SECRET",
		"HTTPS_PROXY=" + in.State.VaultProxyURL, "NO_PROXY=127.0.0.1,localhost",
		"AZURE_USERNAME=" + upn, "AZURE_PASSWORD=Secr3t-pass!"}
	return acct, computeOID, userOID, user
}

func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return mustJSON(t, lines[len(lines)-1])
}

// A two-step pipeline through azure-ai-ml 1.4.0 (@dsl.pipeline over a
// command() step and a load_component step, submitted with
// ml_client.jobs.create_or_update): the SDK registers both components and
// PUTs a pipeline whose steps name them by componentId. The prep step reads
// the identity-based datastore as the compute's managed identity (allowed);
// the train step reads it as the submitting user (rule DS-6: the step's
// identity wins) and is refused, the failure naming DS-6, the user and the
// fix, until the user is granted a data role. Then the pipeline-level
// output, bound from the train step, is uploaded to its path as the user,
// and jobs.download fetches it and the logs with the step statuses.
func TestSDKPipelineStepIdentities(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	acct, computeOID, userOID, user := sdkWorkspace(t, in, cfg, "sdkpl")
	script := filepath.Join("testdata", "ml", "job", "sdk", "pipeline", "pipeline.py")
	run := func(outPath string) (map[string]any, string) {
		out := in.python(t, user, script, "sdkpl-rg", "sdkpl-ws", "cpu-cluster", outPath)
		return lastJSON(t, out), out
	}
	steps := func(name string) map[string]map[string]any {
		t.Helper()
		job := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", name))
		out := map[string]map[string]any{}
		list, _ := job["steps"].([]any)
		for _, s := range list {
			m := s.(map[string]any)
			out[m["name"].(string)] = m
		}
		return out
	}

	// Refused: prep Completed as the compute, train Failed as the user.
	res, out := run("azureml://datastores/mydata/paths/models/run1/")
	failure, _ := res["failure"].(string)
	props, _ := res["properties"].(map[string]any)
	if res["status"] != "Failed" || !strings.Contains(failure, "DS-6") || !strings.Contains(failure, "step train_step") ||
		!strings.Contains(failure, userOID) || !strings.Contains(failure, "blobs/read") || !strings.Contains(failure, `Storage Blob Data Reader\" --scope `+acct) ||
		props["amlid.step.prep_step.status"] != "Completed" || props["amlid.step.train_step.status"] != "Failed" {
		t.Fatalf("pipeline with the user's step refused:\n%s", out)
	}
	children := fmt.Sprint(res["children"])
	if want := fmt.Sprintf("map[prep_step:map[principalId:%s status:Completed] train_step:map[principalId:%s status:Failed]]", computeOID, userOID); children != want {
		t.Fatalf("jobs.list(parent_job_name=…): %s, want %s", children, want)
	}
	st := steps(res["name"].(string))
	if st["prep_step"]["principalId"] != computeOID || st["prep_step"]["identitySource"] != "step" ||
		st["train_step"]["principalId"] != userOID || st["train_step"]["status"] != "Failed" {
		t.Fatalf("steps of the refused pipeline: %v", st)
	}

	// Granted: both steps Completed; the pipeline output is in storage.
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", userOID, "--assignee-principal-type", "User",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	res, out = run("azureml://datastores/mydata/paths/models/run2/")
	props, _ = res["properties"].(map[string]any)
	outs, _ := res["outputs"].(map[string]any)
	if res["status"] != "Completed" || res["failure"] != "" || props["amlid.step.train_step.status"] != "Completed" ||
		fmt.Sprint(res["steps"]) != "[prep_step train_step]" || outs["model"] != "azureml://datastores/mydata/paths/models/run2/" {
		t.Fatalf("pipeline after the grant:\n%s", out)
	}
	name := res["name"].(string)
	if st := steps(name); st["prep_step"]["principalId"] != computeOID || st["train_step"]["principalId"] != userOID {
		t.Fatalf("steps of the completed pipeline: %v", st)
	}
	got := filepath.Join(t.TempDir(), "model.txt")
	in.mustCLI(cfg, "storage", "blob", "download", "--account-name", "sdkpldata", "-c", "data",
		"-n", "models/run2/model.txt", "--auth-mode", "login", "-f", got)
	if blob := mustRead(t, got); !strings.Contains(blob, "model over 2 rows of age,workclass,income") {
		t.Fatalf("the pipeline output in storage: %q", blob)
	}
	// A pipeline component (nested @dsl.pipeline) under a user-identity
	// pipeline: its step sets no identity and reads as the compute (DS-6);
	// the top-level step inherits the user's. The component's output feeds
	// it; its output, without a path, lands in the default datastore.
	nested := lastJSON(t, in.python(t, user, filepath.Join("testdata", "ml", "job", "sdk", "pipeline", "nested.py"), "sdkpl-rg", "sdkpl-ws", "cpu-cluster"))
	nestedName, _ := nested["name"].(string)
	if st := steps(nestedName); nested["status"] != "Completed" ||
		st["inner/prep_step"]["principalId"] != computeOID || st["inner/prep_step"]["identitySource"] != "compute" ||
		st["train_step"]["principalId"] != userOID || st["train_step"]["identitySource"] != "pipeline" ||
		fmt.Sprint(nested["outputs"]) != "map[model:azureml://datastores/workspaceblobstore/paths/azureml/"+nestedName+"/model/]" {
		t.Fatalf("nested pipeline: %v\nsteps: %v", nested, st)
	}
	// The analyzer reads the same DS-6 from the job as submitted (the
	// component's step through its registered component).
	jobID := strings.TrimSpace(in.mustCLI(cfg, "ml", "job", "show", "-n", nestedName, "--query", "id", "-o", "tsv"))
	if so, se, code := in.cli(cfg, "analyze", "--resource", jobID, "-o", "json"); code != 0 ||
		!strings.Contains(so, "step inner/prep_step (identity from the compute, DS-6)") || !strings.Contains(so, "step train_step (identity from the pipeline, DS-6)") {
		t.Fatalf("analyze the nested pipeline: exit %d\n%s\n%s", code, so, se)
	}

	// jobs.download: the pipeline's output by name and its logs.
	dl := lastJSON(t, in.python(t, user, filepath.Join("testdata", "ml", "job", "sdk", "download.py"), "sdkpl-rg", "sdkpl-ws", name, t.TempDir(), "model"))
	files, _ := dl["files"].(map[string]any)
	log, _ := files["logs/artifacts/user_logs/std_log.txt"].(string)
	if !strings.Contains(fmt.Sprint(files["one/named-outputs/model/model.txt"]), "model over 2 rows") ||
		!strings.Contains(fmt.Sprint(files["all/named-outputs/model/model.txt"]), "model over 2 rows") ||
		!strings.Contains(log, "prep: 2 census rows") || !strings.Contains(log, "step train_step Completed") {
		t.Fatalf("jobs.download of the pipeline: %v", dl)
	}
}

// ml_client.jobs.download (azure-ai-ml 1.4.0) of a command job: the logs
// (artifacts/user_logs/std_log.txt), one named output and all of them
// (named-outputs/<name>/…), with the files' contents. The output has no
// path: the job leaves it in the default datastore under
// azureml/<job>/<output>/. A user without a role on the workspace may
// download nothing.
func TestSDKJobDownload(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	_, _, _, user := sdkWorkspace(t, in, cfg, "sdkdl")
	sdk := filepath.Join("testdata", "ml", "job", "sdk")
	res := lastJSON(t, in.python(t, user, filepath.Join(sdk, "submit_outputs.py"), "sdkdl-rg", "sdkdl-ws", filepath.Join(sdk, "src"), "cpu-cluster"))
	if res["status"] != "Completed" {
		t.Fatalf("job: %v", res)
	}
	name := res["name"].(string)
	dl := lastJSON(t, in.python(t, user, filepath.Join(sdk, "download.py"), "sdkdl-rg", "sdkdl-ws", name, t.TempDir(), "result"))
	files, _ := dl["files"].(map[string]any)
	want := map[string]string{
		"logs/artifacts/user_logs/std_log.txt":  "make_outputs: wrote the answer",
		"one/named-outputs/result/result.txt":   "answer=42\n",
		"one/named-outputs/result/sub/more.txt": "nested\n",
		"all/named-outputs/result/result.txt":   "answer=42\n",
		"all/named-outputs/result/sub/more.txt": "nested\n",
		"all/artifacts/user_logs/std_log.txt":   "make_outputs: wrote the answer",
	}
	for path, content := range want {
		if got, ok := files[path].(string); !ok || !strings.Contains(got, content) {
			t.Fatalf("%s: want %q in it, got %q\nall files: %v", path, content, got, dl)
		}
	}
	if len(files) != len(want) {
		t.Fatalf("downloaded %d files, want %d: %v", len(files), len(want), dl)
	}
	job := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", name))
	if !strings.Contains(fmt.Sprint(job["outputs"]), "azureml://datastores/workspaceblobstore/paths/azureml/"+name+"/result/") {
		t.Fatalf("the job's outputs should name where the output went: %v", job["outputs"])
	}

	// Someone with no role on the workspace gets nothing.
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Nobody", "--user-principal-name", "nobody@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	nobody := append(append([]string{}, user...), "AZURE_USERNAME=nobody@amlid.onmicrosoft.com")
	dest := t.TempDir()
	dl = lastJSON(t, in.python(t, nobody, filepath.Join(sdk, "download.py"), "sdkdl-rg", "sdkdl-ws", name, dest, "result"))
	if !strings.Contains(fmt.Sprint(dl["error"]), "AuthorizationFailed") {
		t.Fatalf("download by a user with no role: %v", dl)
	}
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Fatalf("download by a user with no role wrote %v", entries)
	}
}
