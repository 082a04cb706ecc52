package runtime

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/sandbox"
)

// hostileScript tries, in init(), every read a scoring script must not be
// able to do, and the few things it must still do; run() answers what
// happened, path by path.
const hostileScript = `import json, os, socket

results = {}

def attempt(name, fn):
    try:
        out = fn()
        results[name] = "OK " + repr(out)[:80]
    except Exception as e:
        results[name] = "REFUSED " + type(e).__name__

def read(path):
    with open(path, "rb") as f:
        return f.read(64)

def readmem(pid):
    with open("/proc/%s/mem" % pid, "rb") as f:
        f.seek(0x400000)
        return f.read(16)

def init():
    targets = json.loads(os.environ["TARGETS"])
    for name, path in targets.items():
        attempt(name, lambda p=path: read(p))
        attempt(name + " (listdir of its folder)", lambda p=path: os.listdir(os.path.dirname(p)))
    pid = os.environ["TARGET_PID"]
    attempt("amlid environ", lambda: read("/proc/%s/environ" % pid))
    attempt("amlid mem", lambda: readmem(pid))
    attempt("amlid cmdline", lambda: read("/proc/%s/cmdline" % pid))
    attempt("amlid root", lambda: os.listdir("/proc/%s/root/" % pid))
    attempt("pid 1 root", lambda: read("/proc/1/root" + os.environ["DATA_DIR"] + "/bootstrap.json"))
    attempt("shadow", lambda: read("/etc/shadow"))
    # What it must still do.
    attempt("own model", lambda: read(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.txt")))
    attempt("own code", lambda: read(os.path.join(os.environ["AML_APP_ROOT"], "score.py")))
    attempt("home write", lambda: open(os.path.join(os.environ["HOME"], "x"), "w").write("x"))
    attempt("tmp write", lambda: open("/tmp/x", "w").write("x"))
    attempt("loopback", lambda: socket.create_connection(("127.0.0.1", int(os.environ["LOOPBACK_PORT"])), timeout=5).close())
    attempt("python stdlib", lambda: __import__("sqlite3").sqlite_version)

def run(raw):
    return results
`

// TestSandboxHostileScoringScript runs a scoring script that tries to read
// amlid's data dir (bootstrap.json, amlid.db and its WAL, keys/vault.key),
// another deployment's code, home and log, amlid's /proc entries
// (environ, mem) and /etc/shadow: every read is refused, while the script
// still reads its own code and model, writes its HOME and /tmp, and reaches
// a loopback port (where amlid's managed-identity endpoint and data planes
// are).
func TestSandboxHostileScoringScript(t *testing.T) {
	// amlid's layout: the data dir holds the secrets, ml/logs the
	// deployments' logs and homes, ml/deployments/<hash>/{code,azureml-models}.
	data := t.TempDir()
	secrets := map[string]string{
		"bootstrap.json": filepath.Join(data, "bootstrap.json"),
		"amlid.db":       filepath.Join(data, "amlid.db"),
		"amlid.db-wal":   filepath.Join(data, "amlid.db-wal"),
		"vault.key":      filepath.Join(data, "keys", "vault.key"),
	}
	for _, p := range secrets {
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		must(t, os.WriteFile(p, []byte("TOP-SECRET"), 0o600))
	}
	sb, err := sandbox.New(sandbox.Options{Mode: sandbox.Require, Hide: []string{data}})
	if err != nil {
		t.Fatalf("the sandbox must run here (scripts/test.sh installs bubblewrap): %v", err)
	}
	t.Setenv("AMLID_TEST_SECRET", "TOP-SECRET-ENV")
	s := newSup(t, func(c *Config) {
		c.LogDir = filepath.Join(data, "ml", "logs")
		c.Sandbox = sb
	})
	deployDir := func(name, script string) (codeDir, modelDir string) {
		base := filepath.Join(data, "ml", "deployments", name)
		codeDir, modelDir = filepath.Join(base, "code"), filepath.Join(base, "azureml-models", "m", "1")
		must(t, os.MkdirAll(codeDir, 0o755))
		must(t, os.MkdirAll(modelDir, 0o755))
		must(t, os.WriteFile(filepath.Join(codeDir, "score.py"), []byte(script), 0o644))
		must(t, os.WriteFile(filepath.Join(modelDir, "model.txt"), []byte("the model of "+name), 0o644))
		return
	}
	// A victim deployment, running.
	vCode, vModel := deployDir("victim", "def init():\n    print('victim up')\n\ndef run(raw):\n    return 'victim'\n")
	must(t, os.WriteFile(filepath.Join(vCode, "secret.txt"), []byte("TOP-SECRET"), 0o644))
	victimID := depID("victim")
	start(t, s, Spec{ID: victimID, CodeDir: vCode, ScoringScript: "score.py", ModelDir: vModel, Instances: 1})
	victimLog := s.logPath(victimID)
	victimHome := filepath.Join(filepath.Dir(victimLog), "homes", strings.TrimSuffix(filepath.Base(victimLog), ".log"))
	must(t, os.WriteFile(filepath.Join(victimHome, "token-cache.json"), []byte("TOP-SECRET"), 0o600))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	targets := map[string]string{
		"victim code":  filepath.Join(vCode, "secret.txt"),
		"victim model": filepath.Join(vModel, "model.txt"),
		"victim home":  filepath.Join(victimHome, "token-cache.json"),
		"victim log":   victimLog,
	}
	for k, v := range secrets {
		targets[k] = v
	}
	tj, _ := json.Marshal(targets)
	hCode, hModel := deployDir("hostile", hostileScript)
	hostileID := depID("hostile")
	start(t, s, Spec{ID: hostileID, CodeDir: hCode, ScoringScript: "score.py", ModelDir: hModel, Instances: 1,
		Env: map[string]string{"TARGETS": string(tj), "TARGET_PID": strconv.Itoa(os.Getpid()), "DATA_DIR": data,
			"LOOPBACK_PORT": strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}})
	code, body, _, err := s.Score(context.Background(), hostileID, []byte(`{}`), "application/json")
	if err != nil || code != 200 {
		t.Fatalf("score: %d %s %v", code, body, err)
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("run() answered %s: %v", body, err)
	}
	mustRefuse := []string{"amlid environ", "amlid mem", "amlid cmdline", "amlid root", "pid 1 root", "shadow"}
	for k := range targets {
		mustRefuse = append(mustRefuse, k)
	}
	for _, k := range mustRefuse {
		if !strings.HasPrefix(got[k], "REFUSED") {
			t.Errorf("the sandbox let the scoring script read %s: %s", k, got[k])
		}
	}
	for k, v := range got {
		if strings.Contains(v, "TOP-SECRET") {
			t.Errorf("%s leaked a secret: %s", k, v)
		}
	}
	for _, k := range []string{"own model", "own code", "home write", "tmp write", "loopback", "python stdlib"} {
		if !strings.HasPrefix(got[k], "OK") {
			t.Errorf("the sandbox broke what a scoring script needs: %s: %s", k, got[k])
		}
	}
	if !strings.Contains(got["own model"], "the model of hostile") {
		t.Errorf("own model: %s", got["own model"])
	}
	if t.Failed() {
		t.Logf("results: %s", body)
	}
}

// A deployment's harness listens on the machine's loopback, where other
// workloads run too: a request without the launch's token (another
// workload calling run() directly, past the endpoint's authentication) is
// refused with 403; amlid's own Score passes.
func TestHarnessRefusesRequestsWithoutToken(t *testing.T) {
	s := newSup(t)
	id := depID("token")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": "def init():\n    pass\n\ndef run(raw):\n    return 'scored'\n"}),
		ScoringScript: "score.py", Instances: 1})
	port := s.get(id).insts[0].port
	for _, tok := range []string{"", "forged"} {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+"/score", strings.NewReader(`{}`))
		if tok != "" {
			req.Header.Set(HarnessTokenHeader, tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			logs, _ := s.Logs(id, 50)
			t.Fatalf("%v\n%s", err, logs)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || strings.Contains(string(b), "scored") {
			t.Fatalf("token %q: %d %s", tok, resp.StatusCode, b)
		}
	}
	code, body, _, err := s.Score(context.Background(), id, []byte(`{}`), "application/json")
	if err != nil || code != 200 || string(body) != `"scored"` {
		logs, _ := s.Logs(id, 50)
		t.Fatalf("Score: %d %s %v\n%s", code, body, err, logs)
	}
}
