package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hostileProbe is Python that tries to read what workload code must never
// read (amlid's data dir, its process's environment and memory) and prints
// a JSON object: name → "OK …" or "REFUSED <exception>". It also checks the
// workload can still get a token from its managed-identity endpoint.
const hostileProbe = `
import json, os, urllib.request

def attempt(results, name, fn):
    try:
        results[name] = "OK " + repr(fn())[:100]
    except Exception as e:
        results[name] = "REFUSED " + type(e).__name__

def read(path):
    with open(path, "rb") as f:
        return f.read(200)

def readmem(pid):
    with open("/proc/%s/mem" % pid, "rb") as f:
        f.seek(0x400000)
        return f.read(16)

def probe():
    data, pid = os.environ["AMLID_DATA"], os.environ["AMLID_PROC"]
    r = {}
    for name in ["bootstrap.json", "amlid.db", "amlid.db-wal", "keys/vault.key", "tls/ca-key.pem", "state.json"]:
        attempt(r, name, lambda n=name: read(os.path.join(data, n)))
    attempt(r, "data dir listing", lambda: os.listdir(data))
    attempt(r, "deployments listing", lambda: os.listdir(os.path.join(data, "ml", "deployments")))
    attempt(r, "ml logs listing", lambda: [n for n in os.listdir(os.path.join(data, "ml", "logs")) if n.endswith(".log")])
    attempt(r, "amlid environ", lambda: read("/proc/%s/environ" % pid))
    attempt(r, "amlid mem", lambda: readmem(pid))
    attempt(r, "amlid cwd", lambda: os.listdir("/proc/%s/cwd" % pid))
    attempt(r, "amlid fd", lambda: os.listdir("/proc/%s/fd" % pid))
    ep = os.environ.get("MSI_ENDPOINT") or os.environ["IDENTITY_ENDPOINT"]
    req = urllib.request.Request(ep + "?resource=https://storage.azure.com/&api-version=2019-08-01",
                                 headers={"secret": os.environ.get("MSI_SECRET", ""), "X-IDENTITY-HEADER": os.environ.get("IDENTITY_HEADER", ""), "Metadata": "true"})
    attempt(r, "managed identity token", lambda: "access_token" in json.load(urllib.request.urlopen(req, timeout=10)))
    return r
`

// hostileScore is a scoring script running the probe in init().
const hostileScore = hostileProbe + `
results = {}

def init():
    global results
    results = probe()

def run(raw):
    return results
`

var mustBeRefused = []string{"bootstrap.json", "amlid.db", "amlid.db-wal", "keys/vault.key", "tls/ca-key.pem", "state.json",
	"amlid environ", "amlid mem", "amlid cwd", "amlid fd"}

func checkProbe(t *testing.T, who string, out string) {
	t.Helper()
	var got map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("%s: probe output %q: %v", who, out, err)
	}
	for _, k := range mustBeRefused {
		if !strings.HasPrefix(got[k], "REFUSED") {
			t.Errorf("%s read %s: %s", who, k, got[k])
		}
	}
	// The folders above its own paths are an empty skeleton.
	if strings.Contains(got["ml logs listing"], ".log") || strings.Count(got["deployments listing"], ",") > 0 {
		t.Errorf("%s sees other workloads' folders: %s %s", who, got["ml logs listing"], got["deployments listing"])
	}
	if got["managed identity token"] != "OK True" {
		t.Errorf("%s must still get its identity's token from MSI_ENDPOINT: %s", who, got["managed identity token"])
	}
	if t.Failed() {
		t.Logf("%s: %s", who, out)
	}
}

// Hostile workloads (issue 15, hole 2): an online deployment's score.py
// and a command under `amlid run --as` try to read amlid's data dir
// (bootstrap.json, amlid.db and its WAL, keys/vault.key, the CA key), the
// other deployments' folders and logs, and amlid's /proc entries
// (environ, mem, cwd, fd): all refused, while both still get their
// identity's token from the managed-identity endpoint.
func TestHostileWorkloads(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	if !strings.Contains(in.Log.String(), "bubblewrap sandbox") {
		t.Fatalf("amlid must run workloads in bubblewrap here (scripts/test.sh installs it): %s", in.Log.String())
	}
	cfg := t.TempDir()
	amlidPID := strconv.Itoa(in.Cmd.Process.Pid)
	in.mustCLI(cfg, "group", "create", "-n", "hostile-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=hostile-rg", "workspace=hostile-ws")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "hostile-ws"))

	// `amlid run --as`, from a folder of its own.
	work := t.TempDir()
	cmd := exec.Command(amlidBin, "run", "--as", ws["id"].(string), "--", "/usr/bin/python3", "-c", hostileProbe+"\nprint(json.dumps(probe()))\n")
	cmd.Dir = work
	cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg, "AMLID_DATA_DIR="+in.DataDir,
		"AMLID_DATA="+in.DataDir, "AMLID_PROC="+amlidPID)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("amlid run: %v\n%s%s", err, so.String(), se.String())
	}
	checkProbe(t, "amlid run --as", so.String())

	// An online deployment.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "code"), 0o755)
	os.MkdirAll(filepath.Join(dir, "model"), 0o755)
	os.WriteFile(filepath.Join(dir, "code", "score.py"), []byte(hostileScore), 0o644)
	os.WriteFile(filepath.Join(dir, "model", "weights.txt"), []byte("1 2 3"), 0o644)
	os.WriteFile(filepath.Join(dir, "endpoint.yml"), []byte("name: hostile-ep\nauth_mode: key\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "deployment.yml"), []byte(`name: blue
model:
  path: ./model/
code_configuration:
  code: ./code/
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
instance_type: Standard_DS3_v2
instance_count: 1
`), 0o644)
	os.WriteFile(filepath.Join(dir, "request.json"), []byte(`{"data": [1]}`), 0o644)
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", filepath.Join(dir, "endpoint.yml"))
	dep := mustJSON(t, in.mustCLI(cfg, "ml", "online-deployment", "create", "--endpoint-name", "hostile-ep", "--all-traffic",
		"-f", filepath.Join(dir, "deployment.yml"), "--set", "environment_variables.AMLID_DATA="+in.DataDir, "environment_variables.AMLID_PROC="+amlidPID))
	if dep["provisioning_state"] != "Succeeded" {
		t.Fatalf("deployment: %v", dep)
	}
	out := in.mustCLI(cfg, "ml", "online-endpoint", "invoke", "--name", "hostile-ep", "--request-file", filepath.Join(dir, "request.json"))
	// invoke prints run()'s JSON answer (a JSON string of the object when
	// the harness serialized it).
	var s string
	if json.Unmarshal([]byte(out), &s) == nil {
		out = s
	}
	checkProbe(t, "online deployment score.py", out)

	// A job on a compute's node.
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "hostile-cc", "--type", "amlcompute", "--identity-type", "system_assigned")
	jdir := t.TempDir()
	os.MkdirAll(filepath.Join(jdir, "src"), 0o755)
	os.WriteFile(filepath.Join(jdir, "src", "probe.py"), []byte(hostileProbe+"\nprint('PROBE ' + json.dumps(probe()))\n"), 0o644)
	os.WriteFile(filepath.Join(jdir, "job.yml"), []byte("command: python probe.py\ncode: src\ncompute: azureml:hostile-cc\nenvironment_variables:\n  AMLID_DATA: "+
		in.DataDir+"\n  AMLID_PROC: \""+amlidPID+"\"\n"), 0o644)
	jout, jerr, code := in.cli(cfg, "ml", "job", "create", "-f", filepath.Join(jdir, "job.yml"), "-n", "hostile-job", "--stream")
	if code != 0 {
		t.Fatalf("hostile job: exit %d\n%s\n%s", code, jout, jerr)
	}
	line := ""
	for _, l := range strings.Split(jout, "\n") {
		if p, ok := strings.CutPrefix(l, "PROBE "); ok {
			line = p
		}
	}
	checkProbe(t, "job on a compute node", line)
}
