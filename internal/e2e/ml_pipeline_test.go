package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pipeline jobs and rule DS-6 through the CLI: a step's identity overrides
// the pipeline's; inside a pipeline component only the step level counts;
// a step's output feeds a later step's input.
func TestPipelineStepIdentities(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pl-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=pl-rg", "workspace=pl-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pl-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "pl-rg", "--query", "id", "-o", "tsv"))
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "pipedata", "-l", "eastus"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Contributor", "--scope", acct)
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", "pipedata", "-n", "data", "--auth-mode", "login")
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", "pipedata", "-c", "data", "-n", "census.csv", "--auth-mode", "login",
		"-f", write("census.csv", "age,workclass,income\n39,State-gov,<=50K\n50,Self-emp,>50K\n"))
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("mydata.yml", "name: mydata\ntype: azure_blob\naccount_name: pipedata\ncontainer_name: data\n"))
	comp := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--identity-type", "system_assigned", "--max-instances", "2"))
	computeID := comp["identity"].(map[string]any)["principal_id"].(string)
	// The compute may read the data; the data scientist may not (yet).
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", computeID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct)
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Cy", "--user-principal-name", "cy@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	cy := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(cy, "login", "-u", "cy@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	cyID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "cy@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", cyID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	cyCLI := func(args ...string) (string, string, int) {
		return in.cliNoEnvCreds(cy, append(args, "-g", "pl-rg", "-w", "pl-ws")...)
	}
	show := func(name string) (map[string]any, map[string]map[string]any) {
		t.Helper()
		job := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", name))
		steps := map[string]map[string]any{}
		list, _ := job["steps"].([]any)
		for _, s := range list {
			m := s.(map[string]any)
			steps[m["name"].(string)] = m
		}
		return job, steps
	}

	// 1. Root user_identity; step prep overrides to managed and reads as
	// the compute (Cy has no data role), writes an output that step train
	// reads (output → input binding); train inherits user_identity but
	// reads no storage.
	override := write("override.yml", `$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: census-pipeline
settings:
  default_compute: azureml:cpu-cluster
identity:
  type: user_identity
inputs:
  census:
    type: uri_file
    path: azureml://datastores/mydata/paths/census.csv
outputs:
  summary:
    type: uri_folder
jobs:
  prep:
    type: command
    command: cp ${{inputs.raw}} ${{outputs.clean}}/clean.csv && echo prep-done
    inputs:
      raw: ${{parent.inputs.census}}
    outputs:
      clean:
    identity:
      type: managed
  train:
    type: command
    command: echo "train rows:" $(($(wc -l < ${{inputs.data}}/clean.csv) - 1)) | tee ${{outputs.rows}}/rows.txt
    inputs:
      data: ${{parent.jobs.prep.outputs.clean}}
    outputs:
      rows: ${{parent.outputs.summary}}
`)
	// What-if agrees: the only storage read is the compute's, which may.
	if so, se, code := cyCLI("analyze", "-f", override); code != 0 || !strings.Contains(so, computeID) {
		t.Fatalf("what-if on the overriding pipeline: exit %d\n%s\n%s", code, so, se)
	}
	so, se, code := cyCLI("ml", "job", "create", "-f", override, "--name", "pl-override", "--stream")
	if code != 0 || !strings.Contains(so, "prep-done") || !strings.Contains(so, "train rows: 2") {
		t.Fatalf("step overriding the root's user identity with managed: exit %d\n%s\n%s", code, so, se)
	}
	job, steps := show("pl-override")
	if job["status"] != "Completed" || job["type"] != "pipeline" || len(steps) != 2 {
		t.Fatalf("pipeline: %v", job)
	}
	if s := steps["prep"]; s["status"] != "Completed" || s["principalId"] != computeID || s["identitySource"] != "step" {
		t.Fatalf("prep should read as the compute (step identity managed wins over the root's user_identity): %v", s)
	}
	if s := steps["train"]; s["status"] != "Completed" || s["principalId"] != cyID || s["identitySource"] != "pipeline" {
		t.Fatalf("train inherits the root's user identity: %v", s)
	}
	// The pipeline-level output bound from train has no path: the service
	// keeps it in the default datastore, where the job's outputs point.
	if outs := fmt.Sprint(job["outputs"]); !strings.Contains(outs, "azureml://datastores/workspaceblobstore/paths/azureml/pl-override/summary/") {
		t.Fatalf("pipeline output summary: %v", outs)
	}

	// 2. No root identity; a step with user_identity reads as the user:
	// refused while Cy lacks a data role (the step and pipeline fail naming
	// her, DS-5 and the fix; the next step never runs), Completed after.
	userStep := write("userstep.yml", `type: pipeline
settings:
  default_compute: azureml:cpu-cluster
inputs:
  census:
    type: uri_file
    path: azureml://datastores/mydata/paths/census.csv
jobs:
  read:
    command: cat hello.txt ${{inputs.f}}
    code: src
    inputs:
      f: ${{parent.inputs.census}}
    identity:
      type: user_identity
  after:
    command: echo after-ran ${{inputs.dep}}
    inputs:
      dep: ${{parent.jobs.read.outputs.o}}
`)
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "hello.txt"), []byte("hello-from-code\n"), 0o644)
	// "after" binds to an output "read" does not declare: refused at once.
	if so, se, code := cyCLI("ml", "job", "create", "-f", userStep, "--name", "pl-bad"); code == 0 || !strings.Contains(se, "declares no such output") {
		t.Fatalf("binding to an undeclared output: exit %d\n%s\n%s", code, so, se)
	}
	userStep = write("userstep.yml", strings.Replace(mustRead(t, userStep), "    identity:\n      type: user_identity\n", "    outputs:\n      o:\n    identity:\n      type: user_identity\n", 1))
	// What-if predicts the refusal before submission (DS-6 names Cy).
	if so, se, code := cyCLI("analyze", "-f", userStep); code != 1 || !strings.Contains(so, `"rule": "DS-6"`) || !strings.Contains(so, cyID) || !strings.Contains(so, "Storage Blob Data Reader") {
		t.Fatalf("what-if on the user-identity step: exit %d\n%s\n%s", code, so, se)
	}
	so, se, code = cyCLI("ml", "job", "create", "-f", userStep, "--name", "pl-user-1", "--stream")
	if code == 0 || !strings.Contains(se, "step read failed") || !strings.Contains(se, cyID) || !strings.Contains(se, "DS-5") ||
		!strings.Contains(se, `--role "Storage Blob Data Reader" --scope `+acct) || strings.Contains(so, "after-ran") {
		t.Fatalf("user-identity step without a data role: exit %d\n%s\n%s", code, so, se)
	}
	job, steps = show("pl-user-1")
	if job["status"] != "Failed" || steps["read"]["status"] != "Failed" || steps["after"]["status"] != "NotStarted" || steps["read"]["principalId"] != cyID {
		t.Fatalf("failed pipeline: %v", job)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", cyID, "--assignee-principal-type", "User", "--role", "Storage Blob Data Reader", "--scope", acct)
	so, se, code = cyCLI("ml", "job", "create", "-f", userStep, "--name", "pl-user-2", "--stream")
	if code != 0 || !strings.Contains(so, "hello-from-code") || !strings.Contains(so, "39,State-gov") || !strings.Contains(so, "after-ran") {
		t.Fatalf("user-identity step after the grant: exit %d\n%s\n%s", code, so, se)
	}
	if _, steps = show("pl-user-2"); steps["read"]["principalId"] != cyID || steps["read"]["status"] != "Completed" {
		t.Fatalf("the step should read as Cy: %v", steps)
	}
	in.mustCLI(cfg, "role", "assignment", "delete", "--assignee", cyID, "--role", "Storage Blob Data Reader", "--scope", acct)

	// 3. A pipeline component: the root's user_identity is ignored inside
	// it, and its step, setting none, reads as the compute (Cy has no data
	// role again, so reading as her would fail).
	write("component.yml", `type: pipeline
identity:
  type: user_identity
jobs:
  inner:
    command: cat ${{inputs.f}}
    inputs:
      f: ${{parent.inputs.census}}
`)
	withComponent := write("withcomponent.yml", `type: pipeline
settings:
  default_compute: azureml:cpu-cluster
identity:
  type: user_identity
inputs:
  census:
    type: uri_file
    path: azureml://datastores/mydata/paths/census.csv
jobs:
  stage:
    type: pipeline
    component: ./component.yml
`)
	so, se, code = cyCLI("ml", "job", "create", "-f", withComponent, "--name", "pl-comp", "--stream")
	if code != 0 || !strings.Contains(so, "39,State-gov") {
		t.Fatalf("pipeline component step without identity: exit %d\n%s\n%s", code, so, se)
	}
	_, steps = show("pl-comp")
	if s := steps["stage/inner"]; s == nil || s["principalId"] != computeID || s["identitySource"] != "compute" || !strings.Contains(s["identity"].(string), "compute") {
		t.Fatalf("a component's step without identity should read as the compute: %v", steps)
	}

	// Bad input: refused at submission with a clear error.
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
	bad("cycle.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  a:\n    command: ls ${{inputs.x}}\n    inputs:\n      x: ${{parent.jobs.b.outputs.o}}\n    outputs:\n      o:\n  b:\n    command: ls ${{inputs.x}}\n    inputs:\n      x: ${{parent.jobs.a.outputs.o}}\n    outputs:\n      o:\n", "cycle", "a, b")
	bad("nocompute.yml", "type: pipeline\njobs:\n  a:\n    command: echo hi\n", "step a names no compute")
	bad("ghoststep.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  a:\n    command: ls ${{inputs.x}}\n    inputs:\n      x: ${{parent.jobs.ghost.outputs.o}}\n", "ghost", "not a step")
	bad("sweep.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  a:\n    type: sweep\n", "sweep")
	bad("noinput.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  a:\n    command: ls ${{inputs.x}}\n    inputs:\n      x: ${{parent.inputs.nope}}\n", "nope")
	// A failing step fails the pipeline with the step's exit status.
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", write("fail.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  one:\n    command: echo failing; exit 4\n"), "--name", "pl-fail", "--stream")
	if code == 0 || !strings.Contains(se, "step one failed") || !strings.Contains(se, "exited with status 4") {
		t.Fatalf("failing step: exit %d\n%s\n%s", code, so, se)
	}
	// settings.continue_on_step_failure: after step one fails, the
	// independent step two still runs; three, which reads one's output, does
	// not. The pipeline ends Failed naming step one.
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", write("continue.yml", `type: pipeline
settings:
  default_compute: azureml:cpu-cluster
  continue_on_step_failure: true
jobs:
  one:
    command: echo failing; exit 4
    outputs:
      o:
  two:
    command: echo independent-step-ran
  three:
    command: ls ${{inputs.x}}
    inputs:
      x: ${{parent.jobs.one.outputs.o}}
`), "--name", "pl-continue", "--stream")
	if code == 0 || !strings.Contains(se, "step one failed") || !strings.Contains(so, "independent-step-ran") {
		t.Fatalf("continue_on_step_failure: exit %d\n%s\n%s", code, so, se)
	}
	if _, steps := show("pl-continue"); steps["one"]["status"] != "Failed" || steps["two"]["status"] != "Completed" ||
		steps["three"]["status"] != "NotStarted" || !strings.Contains(fmt.Sprint(steps["three"]["error"]), "depends on step one") {
		t.Fatalf("continue_on_step_failure steps: %v", steps)
	}
	// Cancel while a step runs: the pipeline and the step end Canceled and
	// the step's processes are gone.
	in.mustCLI(cfg, "ml", "job", "create", "-f", write("sleep.yml", "type: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  nap:\n    command: echo started-amlid-pipeline-cancel-probe; sleep 300\n"), "--name", "pl-sleepy")
	for i := 0; ; i++ {
		if _, steps := show("pl-sleepy"); steps["nap"]["status"] == "Running" {
			break
		}
		if i > 200 {
			t.Fatal("the step never ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.mustCLI(cfg, "ml", "job", "cancel", "-n", "pl-sleepy")
	for i := 0; ; i++ {
		out, _ := exec.Command("pgrep", "-f", "started-amlid-pipeline-cancel-probe").Output()
		if strings.TrimSpace(string(out)) == "" {
			break
		}
		if i > 100 {
			t.Fatalf("the canceled step's processes are still running: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; ; i++ {
		job, steps := show("pl-sleepy")
		if job["status"] == "Canceled" && steps["nap"]["status"] == "Canceled" {
			break
		}
		if i > 100 {
			t.Fatalf("canceled pipeline: %v", job)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
