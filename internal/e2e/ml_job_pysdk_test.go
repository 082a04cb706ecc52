package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 20's "Must show" through azure-ai-ml 1.4.0: seed 003's Python
// snippet (command(…, identity=UserIdentityConfiguration()),
// ml_client.jobs.create_or_update(job)) then ml_client.jobs.stream, run by a
// user with DefaultAzureCredential. The job reads its input as that user
// (DS-5): Failed, naming the rule, while she lacks Storage Blob Data Reader;
// Completed, its output streamed, after the grant.
func TestSeedPythonSnippetRunsAJob(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "sdkjob-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=sdkjob-rg", "workspace=sdkjob-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "sdkjob-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "sdkjob-rg", "--query", "id", "-o", "tsv"))
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "census.csv")
	os.WriteFile(csvPath, []byte("age,workclass,income\n39,State-gov,<=50K\n50,Self-emp,>50K\n"), 0o644)
	dsPath := filepath.Join(dir, "mydata.yml")
	os.WriteFile(dsPath, []byte("name: mydata\ntype: azure_blob\naccount_name: sdkcensus\ncontainer_name: data\n"), 0o644)

	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "sdkcensus", "-l", "eastus"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", "sdkcensus", "-n", "data", "--auth-mode", "login")
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", "sdkcensus", "-c", "data", "-n", "census.csv", "--auth-mode", "login", "-f", csvPath)
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", dsPath)
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--identity-type", "system_assigned")

	// The data scientist: Contributor on the group, no data role.
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Grace", "--user-principal-name", "grace@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	graceID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "grace@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", graceID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	// DefaultAzureCredential → EnvironmentCredential with her user name and
	// password (the admin's client secret unset).
	// Code uploads go to https://{account}.blob.core.windows.net: amlid's proxy.
	grace := []string{"AZURE_CLIENT_ID=04b07795-8ddb-461a-bbee-02f9e1bf7b46", "AZURE_CLIENT_SECRET",
		"HTTPS_PROXY=" + in.State.VaultProxyURL, "NO_PROXY=127.0.0.1,localhost",
		"AZURE_USERNAME=grace@amlid.onmicrosoft.com", "AZURE_PASSWORD=Secr3t-pass!"}
	code := filepath.Join("testdata", "ml", "job", "sdk", "src")
	run := func() (map[string]any, string) {
		out := in.python(t, grace, filepath.Join("testdata", "ml", "job", "sdk", "seed_job.py"), "sdkjob-rg", "sdkjob-ws", code, "cpu-cluster")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return mustJSON(t, lines[len(lines)-1]), out
	}

	// Refused: the job fails naming the user, the data action, the rule and the fix.
	res, out := run()
	job := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", res["name"].(string)))
	msg := fmt.Sprint(job)
	// jobs.stream raises the run history's error: amlid's refusal.
	failure, _ := res["failure"].(string)
	if res["status"] != "Failed" || res["identity"] != "UserIdentityConfiguration" || !strings.Contains(failure, "DS-5") ||
		!strings.Contains(failure, graceID) || !strings.Contains(failure, "Storage Blob Data Reader") || !strings.Contains(msg, "DS-5") {
		t.Fatalf("seed snippet without a data role:\n%s\njob: %v", out, job)
	}

	// Granted: Completed, and jobs.stream printed the script's output.
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", graceID, "--assignee-principal-type", "User", "--role", "Storage Blob Data Reader", "--scope", acct)
	res, out = run()
	if res["status"] != "Completed" || res["failure"] != "" || !strings.Contains(out, "census rows: 2") ||
		!strings.Contains(out, "RunId: "+res["name"].(string)) {
		t.Fatalf("seed snippet after the grant:\n%s", out)
	}
	job = mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", res["name"].(string)))
	da, _ := job["data_access"].([]any)
	if job["status"] != "Completed" || len(da) != 1 || da[0].(map[string]any)["principalId"] != graceID {
		t.Fatalf("job after the grant: %v", job)
	}

	// The run history jobs.stream polls: details need a caller who may read
	// the job; the log URL it lists works alone, and only as signed.
	history := func(env []string) map[string]any {
		out := in.python(t, env, filepath.Join("testdata", "ml", "job", "sdk", "run_history.py"), "sdkjob-rg", "sdkjob-ws", res["name"].(string))
		return mustJSON(t, out)
	}
	if h := history(grace); h["details"] != 200.0 || h["log"] != 200.0 || !strings.Contains(h["content"].(string), "census rows: 2") || h["tampered"] != 403.0 {
		t.Fatalf("run history as the submitter: %v", h)
	}
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Nobody", "--user-principal-name", "nobody@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	nobody := append(append([]string{}, grace...), "AZURE_USERNAME=nobody@amlid.onmicrosoft.com")
	if h := history(nobody); h["details"] != 403.0 || !strings.Contains(h["body"].(string), "jobs/read") {
		t.Fatalf("run history as a user with no role: %v", h)
	}
}
