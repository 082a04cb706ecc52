package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The seed's user-identity job (seed 003) run with its own YAML and script:
// refused while the submitting user lacks Storage Blob Data Reader (the job
// fails naming the user, the data action, DS-4/DS-5 and the fix), Completed
// after the grant; then a compute-identity job, a job reading with cached
// datastore credentials fetched by the compute's identity, and bad input.
func TestJobsRunWithTheRightIdentity(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "job-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=job-rg", "workspace=job-ws")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "job-ws"))
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "job-rg", "--query", "id", "-o", "tsv"))
	_ = ws["id"].(string)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	// The data: census.csv in a storage account the admin can write.
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "censusdata", "-l", "eastus"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", "censusdata", "-n", "data", "--auth-mode", "login")
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", "censusdata", "-c", "data", "-n", "census.csv", "--auth-mode", "login",
		"-f", write("census.csv", "age,workclass,income\n39,State-gov,<=50K\n50,Self-emp,>50K\n"))
	// An identity-based datastore (no cached credentials) and a cluster.
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("mydata.yml", "name: mydata\ntype: azure_blob\naccount_name: censusdata\ncontainer_name: data\n"))
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--identity-type", "system_assigned", "--max-instances", "2")

	// A data scientist (a user) who may submit jobs but not read the data.
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Ada", "--user-principal-name", "ada@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	ada := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(ada, "login", "-u", "ada@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	adaID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "ada@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	// Contributor on the group: she may submit jobs and upload their code
	// (azure-ai-ml uploads with the workspace storage key), but holds no
	// data action (RBAC-2).
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", adaID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	adaCLI := func(args ...string) (string, string, int) {
		return in.cliNoEnvCreds(ada, append(args, "-g", "job-rg", "-w", "job-ws")...)
	}
	jobYAML := filepath.Join("testdata", "ml", "job", "job.yml")

	// What-if predicts the refusal before the job is submitted.
	so, se, code := adaCLI("analyze", "-f", jobYAML)
	if code != 1 || !strings.Contains(so, `"rule": "DS-5"`) || !strings.Contains(so, "Storage Blob Data Reader") || !strings.Contains(so, adaID) {
		t.Fatalf("what-if on the job YAML before the grant: exit %d\n%s\n%s", code, so, se)
	}
	// DS-5 with user identity: refused while Ada lacks a data role.
	so, se, code = adaCLI("ml", "job", "create", "-f", jobYAML, "--name", "census-1", "--stream")
	if code == 0 || !strings.Contains(se, adaID) || !strings.Contains(se, "blobs/read") || !strings.Contains(se, "DS-5") ||
		!strings.Contains(se, `--role "Storage Blob Data Reader" --scope `+acct) {
		t.Fatalf("user-identity job without a data role: exit %d\n%s\n%s", code, so, se)
	}
	job := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "census-1"))
	if job["status"] != "Failed" {
		t.Fatalf("job: %v", job)
	}
	// After the grant the same job completes, and says who read the input.
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", adaID, "--assignee-principal-type", "User", "--role", "Storage Blob Data Reader", "--scope", acct)
	if so, se, code := adaCLI("analyze", "-f", jobYAML); code != 0 {
		t.Fatalf("what-if on the job YAML after the grant: exit %d\n%s\n%s", code, so, se)
	}
	so, se, code = adaCLI("ml", "job", "create", "-f", jobYAML, "--name", "census-2", "--stream")
	if code != 0 || !strings.Contains(so, "census rows: 2") || !strings.Contains(so, "--census-csv: ") {
		t.Fatalf("user-identity job after the grant: exit %d\n%s\n%s", code, so, se)
	}
	job = mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "census-2"))
	da, _ := job["data_access"].([]any)
	if job["status"] != "Completed" || len(da) != 1 || da[0].(map[string]any)["principalId"] != adaID {
		t.Fatalf("job after the grant: %v", job)
	}

	// Code in a user-identity job gets Ada's token through azure-ai-ml's
	// AzureMLOnBehalfOfCredential (OBO_ENDPOINT) and reads the blob as her.
	obo := filepath.Join(dir, "obo")
	os.MkdirAll(filepath.Join(obo, "pydash"), 0o755)
	for _, f := range []string{"__init__.py", "objects.py"} { // azure-ai-ml imports pydash (README)
		os.WriteFile(filepath.Join(obo, "pydash", f), []byte(mustRead(t, filepath.Join("..", "..", "scripts", "pydash-stub", "pydash", f))), 0o644)
	}
	os.WriteFile(filepath.Join(obo, "obo.py"), []byte(`import os, json, base64
from azure.ai.ml.identity import AzureMLOnBehalfOfCredential
from azure.storage.blob import BlobClient
credential = AzureMLOnBehalfOfCredential()
tok = credential.get_token("https://storage.azure.com/.default").token
p = tok.split(".")[1]
print("token for", json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["oid"])
print("blob:", BlobClient.from_blob_url(os.environ["BLOB_URL"], credential=credential).download_blob().readall().decode().splitlines()[0])
`), 0o644)
	oboYAML := write("obo.yml", "command: python obo.py\ncode: obo\ncompute: azureml:cpu-cluster\nidentity:\n  type: user_identity\nenvironment_variables:\n  BLOB_URL: "+in.State.BlobURL+"/censusdata/data/census.csv\n")
	so, se, code = adaCLI("ml", "job", "create", "-f", oboYAML, "--name", "obo-1", "--stream")
	if code != 0 || !strings.Contains(so, "token for "+adaID) || !strings.Contains(so, "blob: age,workclass,income") {
		t.Fatalf("AzureMLOnBehalfOfCredential in a user-identity job: exit %d\n%s\n%s", code, so, se)
	}

	// Compute identity (no identity on the job: DS-5's fallback, CMP-2) on a
	// user-assigned cluster: its code runs the seed's DEFAULT_IDENTITY_CLIENT_ID
	// snippet and reads a blob; two nodes run it.
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "trainer"))
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "uai-cluster", "--type", "amlcompute", "--identity-type", "user_assigned",
		"--user-assigned-identities", uai["id"].(string), "--max-instances", "2")
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uai["principalId"].(string), "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct)
	mi := write("mi.yml", `command: python read.py ${{inputs.data}}
code: src
inputs:
  data:
    type: uri_folder
    path: azureml://datastores/mydata/paths/
environment: azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu:9
compute: azureml:uai-cluster
resources:
  instance_count: 2
environment_variables:
  BLOB_URL: `+in.State.BlobURL+`/censusdata/data/census.csv
`)
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "read.py"), []byte(`import os, sys
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient
credential = ManagedIdentityCredential(client_id=os.environ.get('DEFAULT_IDENTITY_CLIENT_ID'))
token = credential.get_token('https://storage.azure.com/')
blob = BlobClient.from_blob_url(os.environ["BLOB_URL"], credential=credential)
print("rank", os.environ["RANK"], "input files:", sorted(os.listdir(sys.argv[1])), "blob:", blob.download_blob().readall().decode().splitlines()[0])
`), 0o644)
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", mi, "--name", "mi-1", "--stream")
	if code != 0 || strings.Count(so, "blob: age,workclass,income") != 2 || !strings.Contains(so, "['census.csv']") {
		t.Fatalf("compute-identity job: exit %d\n%s\n%s", code, so, se)
	}
	job = mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "mi-1"))
	if da, _ := job["data_access"].([]any); len(da) != 1 || da[0].(map[string]any)["principalId"] != uai["principalId"] {
		t.Fatalf("the compute's UAI should have read the input: %v", job)
	}

	// Outputs with a path are uploaded on completion as the job's data
	// identity (here the compute's UAI, which first may only read); a direct
	// input is passed as its URI.
	outYAML := write("out.yml", `command: echo "direct=${{inputs.d}}"; echo result > ${{outputs.model}}/result.txt
inputs:
  d:
    type: uri_file
    path: azureml://datastores/mydata/paths/census.csv
    mode: direct
outputs:
  model:
    type: uri_folder
    path: azureml://datastores/mydata/paths/results/
compute: azureml:uai-cluster
`)
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", outYAML, "--name", "out-1", "--stream")
	if code == 0 || !strings.Contains(se, "blobs/write") || !strings.Contains(se, "Storage Blob Data Contributor") {
		t.Fatalf("an output the identity may not write: exit %d\n%s\n%s", code, so, se)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uai["principalId"].(string), "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", outYAML, "--name", "out-2", "--stream")
	if code != 0 || !strings.Contains(so, "direct=azureml://datastores/mydata/paths/census.csv") || !strings.Contains(so, "1 file(s) uploaded") {
		t.Fatalf("outputs after the grant: exit %d\n%s\n%s", code, so, se)
	}
	if got := in.mustCLI(cfg, "storage", "blob", "list", "--account-name", "censusdata", "-c", "data", "--auth-mode", "login", "--query", "[].name", "-o", "tsv"); !strings.Contains(got, "results/result.txt") {
		t.Fatalf("the output blob is missing: %s", got)
	}

	// download: the log and the named output, with the caller's own token;
	// archive.
	dl := t.TempDir()
	in.mustCLI(cfg, "ml", "job", "download", "-n", "out-2", "--all", "--download-path", dl)
	if b, _ := os.ReadFile(filepath.Join(dl, "out-2", "named-outputs", "model", "result.txt")); strings.TrimSpace(string(b)) != "result" {
		t.Fatalf("downloaded output: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dl, "out-2", "artifacts", "user_logs", "std_log.txt")); !strings.Contains(string(b), "uploaded") {
		t.Fatalf("downloaded log: %q", b)
	}
	in.mustCLI(cfg, "ml", "job", "archive", "-n", "out-2")

	// DS-5's first choice: a datastore with cached credentials is read with
	// them, even for a user with no role; the compute's identity fetches
	// them from the workspace key vault, so it needs to be allowed there.
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "censusdata", "--query", "[0].value", "-o", "tsv"))
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("keyed.yml", "name: keyed\ntype: azure_blob\naccount_name: censusdata\ncontainer_name: data\ncredentials:\n  account_key: "+key+"\n"))
	keyedJob := write("keyed-job.yml", strings.ReplaceAll(mustRead(t, jobYAML), "datastores/mydata/", "datastores/keyed/"))
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "hello-census.py"), []byte(mustRead(t, filepath.Join("testdata", "ml", "job", "src", "hello-census.py"))), 0o644)
	in.mustCLI(cfg, "role", "assignment", "delete", "--assignee", adaID, "--role", "Storage Blob Data Reader", "--scope", acct)
	so, se, code = adaCLI("ml", "job", "create", "-f", keyedJob, "--name", "keyed-1", "--stream")
	if code == 0 || !strings.Contains(se, "DS-5") || !strings.Contains(se, "key vault") {
		t.Fatalf("cached credentials the compute may not fetch: exit %d\n%s\n%s", code, so, se)
	}
	comp := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "show", "-n", "cpu-cluster"))
	cpid := comp["identity"].(map[string]any)["principal_id"].(string)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", cpid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Key Vault Secrets User", "--scope", ws["key_vault"].(string))
	so, se, code = adaCLI("ml", "job", "create", "-f", keyedJob, "--name", "keyed-2", "--stream")
	if code != 0 || !strings.Contains(so, "census rows: 2") {
		t.Fatalf("cached credentials: exit %d\n%s\n%s", code, so, se)
	}
	job = mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "keyed-2"))
	if da, _ := job["data_access"].([]any); len(da) != 1 || !strings.Contains(da[0].(map[string]any)["identity"].(string), "cached datastore credentials") {
		t.Fatalf("the keyed datastore's credentials should have read the input: %v", job)
	}

	// DS-7: a user-identity job's code snapshot changed in storage after
	// submission fails the job before any of its code runs. The job waits
	// for the compute's only node while the snapshot is changed.
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "solo", "--type", "amlcompute", "--identity-type", "system_assigned", "--max-instances", "1")
	in.mustCLI(cfg, "ml", "job", "create", "-f", write("block.yml", "command: sleep 300\ncompute: azureml:solo\n"), "-n", "blocker")
	waitStatus := func(name, want string) {
		t.Helper()
		for i := 0; ; i++ {
			if st := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", name))["status"]; st == want {
				return
			}
			if i > 300 {
				t.Fatalf("job %s never reached %s", name, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus("blocker", "Running")
	if so, se, code := adaCLI("ml", "job", "create", "-f", jobYAML, "--name", "tampered", "--set", "compute=azureml:solo"); code != 0 {
		t.Fatalf("submit: %s%s", so, se)
	}
	waitStatus("tampered", "Queued")
	wsStore := ws["storage_account"].(string)
	wsStoreName := wsStore[strings.LastIndex(wsStore, "/")+1:]
	cont := "azureml-blobstore-" + strings.ToLower(ws["workspace_id"].(string))
	var target string
	for _, n := range strings.Fields(in.mustCLI(cfg, "storage", "blob", "list", "--account-name", wsStoreName, "-c", cont, "--query", "[].name", "-o", "tsv")) {
		if strings.HasSuffix(n, "/hello-census.py") {
			target = n
		}
	}
	if target == "" {
		t.Fatal("the code snapshot was not found in the workspace storage")
	}
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", wsStoreName, "-c", cont, "-n", target, "--overwrite",
		"-f", write("evil.py", "print('tampered code ran')\n"))
	in.mustCLI(cfg, "ml", "job", "cancel", "-n", "blocker")
	waitStatus("tampered", "Failed")
	job = mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "tampered"))
	if msg, _ := job["error"].(string); !strings.Contains(msg, "DS-7") {
		t.Fatalf("the tampered snapshot should fail the job naming DS-7: %v", job)
	}
	if log, _, _ := in.cli(cfg, "ml", "job", "stream", "-n", "tampered"); strings.Contains(log, "tampered code ran") {
		t.Fatalf("the tampered code ran: %s", log)
	}

	// Bad input: a clear refusal, or a Failed job with the reason.
	bad := func(name, body string, want ...string) {
		t.Helper()
		so, se, code := in.cli(cfg, "ml", "job", "create", "-f", write(name, body))
		if code == 0 {
			t.Fatalf("%s: accepted\n%s", name, so)
		}
		for _, w := range want {
			if !strings.Contains(se, w) {
				t.Fatalf("%s: stderr lacks %q:\n%s", name, w, se)
			}
		}
	}
	bad("nocompute.yml", "command: echo hi\ncompute: azureml:nope\n", "compute", "was not found")
	bad("nodatastore.yml", "command: cat ${{inputs.x}}\ncompute: azureml:cpu-cluster\ninputs:\n  x:\n    type: uri_file\n    path: azureml://datastores/ghost/paths/a.csv\n", "ghost")
	bad("placeholder.yml", "command: cat ${{inputs.y}}\ncompute: azureml:cpu-cluster\n", "${{inputs.y}}")
	bad("unknownkey.yml", "command: echo hi\ncompute: azureml:cpu-cluster\nflavour: vanilla\n", "flavour")
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", write("exit3.yml", "command: echo failing; exit 3\ncompute: azureml:cpu-cluster\n"), "--name", "exit-3", "--stream")
	if code == 0 || !strings.Contains(se, "exited with status 3") || !strings.Contains(so, "failing") {
		t.Fatalf("non-zero exit: %d\n%s\n%s", code, so, se)
	}
	// Cancel while running: the job ends Canceled and its processes are gone.
	in.mustCLI(cfg, "ml", "job", "create", "-f", write("sleep.yml", "command: echo started-amlid-cancel-probe; sleep 300\ncompute: azureml:cpu-cluster\n"), "--name", "sleepy")
	for i := 0; ; i++ {
		if st := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "sleepy"))["status"]; st == "Running" {
			break
		}
		if i > 200 {
			t.Fatal("the job never ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.mustCLI(cfg, "ml", "job", "cancel", "-n", "sleepy")
	for i := 0; ; i++ {
		out, _ := exec.Command("pgrep", "-f", "started-amlid-cancel-probe").Output()
		if strings.TrimSpace(string(out)) == "" {
			break
		}
		if i > 100 {
			t.Fatalf("the canceled job's processes are still running: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "sleepy"))["status"]; st != "Canceled" {
		t.Fatalf("canceled job: %v", st)
	}
	_ = rgID
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ADLS Gen2 through a job (issue 19 item 5, rule DS-9): an identity-based
// AzureDataLakeGen2 datastore read by a user-identity job; POSIX ACLs let
// the user read team-a's folder and refuse team-b's, with no data role.
func TestJobReadsADLSWithACLs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "lake-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=lake-rg", "workspace=lake-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "lake-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "lake-rg", "--query", "id", "-o", "tsv"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "teamlake", "-l", "eastus", "--hns", "true"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Owner", "--scope", acct)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	fs := func(args ...string) {
		in.mustCLI(cfg, append(append([]string{"storage", "fs"}, args...), "--account-name", "teamlake", "--auth-mode", "login")...)
	}
	fs("create", "-n", "data")
	fs("directory", "create", "-n", "team-a", "-f", "data")
	fs("directory", "create", "-n", "team-b", "-f", "data")
	fs("file", "upload", "-s", write("x.csv", "team,a\n1,2\n"), "-p", "team-a/x.csv", "-f", "data")
	fs("file", "upload", "-s", write("y.csv", "team,b\n3,4\n"), "-p", "team-b/y.csv", "-f", "data")
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("lake.yml", "name: lake\ntype: azure_data_lake_gen2\naccount_name: teamlake\nfilesystem: data\n"))
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--identity-type", "system_assigned")
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Bo", "--user-principal-name", "bo@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	bo := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(bo, "login", "-u", "bo@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	boID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "bo@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", boID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	// ACLs: execute on the root, read+execute on team-a, read on its file.
	fs("access", "set", "--acl", "user::rwx,user:"+boID+":--x,group::r-x,mask::r-x,other::---", "-p", "/", "-f", "data")
	fs("access", "set", "--acl", "user::rwx,user:"+boID+":r-x,group::r-x,mask::r-x,other::---", "-p", "team-a", "-f", "data")
	fs("access", "set", "--acl", "user::rw-,user:"+boID+":r--,group::r--,mask::r--,other::---", "-p", "team-a/x.csv", "-f", "data")
	job := func(name, path string) (string, string, int) {
		y := write(name+".yml", "command: cat ${{inputs.f}}\ncompute: azureml:cpu-cluster\nidentity:\n  type: user_identity\ninputs:\n  f:\n    type: uri_file\n    path: azureml://datastores/lake/paths/"+path+"\n")
		return in.cliNoEnvCreds(bo, "ml", "job", "create", "-f", y, "--name", name, "--stream", "-g", "lake-rg", "-w", "lake-ws")
	}
	if so, se, code := job("team-a", "team-a/x.csv"); code != 0 || !strings.Contains(so, "team,a") {
		t.Fatalf("team-a through its ACL: exit %d\n%s\n%s", code, so, se)
	}
	if so, se, code := job("team-b", "team-b/y.csv"); code == 0 || !strings.Contains(se, boID) || !strings.Contains(se, "DS-5") {
		t.Fatalf("team-b without an ACL entry: exit %d\n%s\n%s", code, so, se)
	}
}
