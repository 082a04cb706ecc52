package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const echoScript = `import logging, os

def init():
    global prefix
    print("init: hello from print")
    logging.info("Blob contains: %s", "hello blob")
    prefix = "echo:"

def run(raw_data):
    logging.info("Request received")
    return prefix + raw_data
`

// TestScoreEchoAndLogs: init() runs once and what it prints and logs is in
// get-logs (rule EP-5) in Azure's log format; run() gets the raw body as a
// str and its result comes back JSON-encoded, as Azure's inference server
// answers.
func TestScoreEchoAndLogs(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("echo")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": echoScript}), ScoringScript: "score.py", Instances: 1})

	st := s.Status(id)
	if st.State != StateRunning || st.Ready != 1 || st.Instances != 1 || st.Restarts != 0 {
		t.Fatalf("status = %+v", st)
	}
	status, body, ct := score(t, s, id, `{"data": [[1, 2]]}`)
	var got string
	if status != 200 || ct != "application/json" || json.Unmarshal([]byte(body), &got) != nil || got != `echo:{"data": [[1, 2]]}` {
		t.Fatalf("score = %d %q %q", status, ct, body)
	}
	// Case-insensitive IDs, as ARM's.
	if status, _, _ := score(t, s, strings.ToUpper(id), `x`); status != 200 {
		t.Fatalf("upper-case ID: %d", status)
	}

	must(t, s.Stop(t.Context(), id)) // all output is in the log once Stop returns
	logs, err := s.Logs(id, 0)
	must(t, err)
	for _, want := range []string{
		"init: hello from print",
		"Invoking user's init function",
		"conda_file are not installed",
		"Request received",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} I \[\d+\] root - Blob contains: hello blob$`).MatchString(logs) {
		t.Errorf("logging.info is not in Azure's format:\n%s", logs)
	}
	if strings.Count(logs, "init: hello from print") != 1 {
		t.Errorf("init() ran more than once:\n%s", logs)
	}
	last, err := s.Logs(id, 1)
	must(t, err)
	if strings.Count(last, "\n") != 1 || !strings.HasSuffix(logs, last) || !strings.Contains(last, "instance 0 stopped") {
		t.Errorf("Logs(id, 1) = %q", last)
	}
}

// TestRunResults: how run()'s return value and exceptions become HTTP
// answers (azureml-inference-server-http: json.dumps of the result, None as
// {}, aml_response_body unwrapped, 500 with the message when run() raises).
func TestRunResults(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("results")
	start(t, s, Spec{ID: id, ScoringScript: "src/score.py", Instances: 1, CodeDir: code(t, map[string]string{
		"src/helper.py": "def double(x):\n    return x * 2\n",
		"src/score.py": `import json
from helper import double   # the script's folder is on sys.path

def init():
    pass

def run(raw_data):
    kind = json.loads(raw_data)["kind"] if raw_data.startswith("{") else raw_data
    if kind == "list":
        return [1, double(1.25)]
    if kind == "dict":
        return {"a": 1}
    if kind == "none":
        return None
    if kind == "str":
        return "plain text"
    if kind == "raise":
        raise ValueError("bad input: " + kind)
    if kind == "object":
        return object()
    if kind == "aml":
        return {"aml_response_body": {"k": "v"}}
    if kind == "exit":
        raise SystemExit(3)
    return {"echo": raw_data}
`})})
	for _, c := range []struct {
		body, want string
		status     int
	}{
		{`{"kind": "list"}`, `[1, 2.5]`, 200},
		{`dict`, `{"a": 1}`, 200},
		{`none`, `{}`, 200},
		{`str`, `"plain text"`, 200},
		{`aml`, `{"k": "v"}`, 200},
		{``, `{"echo": ""}`, 200},
		{`héllo ✓`, `{"echo": "h\u00e9llo \u2713"}`, 200},
		{`raise`, `bad input: raise`, 500},
		{`object`, `An unexpected internal error occurred. run() returned a value that is not JSON serializable: TypeError: Object of type object is not JSON serializable`, 500},
		{`exit`, `3`, 500},
		{`list`, `[1, 2.5]`, 200}, // still serving after the errors
	} {
		status, body, ct := score(t, s, id, c.body)
		if status != c.status || body != c.want {
			t.Errorf("run(%q) = %d %q, want %d %q", c.body, status, body, c.status, c.want)
		}
		if wantCT := map[int]string{200: "application/json", 500: "text/plain; charset=utf-8"}[c.status]; ct != wantCT {
			t.Errorf("run(%q) content type %q, want %q", c.body, ct, wantCT)
		}
	}
	ctx := t.Context()
	if status, body, _, err := s.Score(ctx, id, []byte{0xff, 0xfe}, "application/json"); err != nil || status != 400 || !strings.Contains(string(body), "not UTF-8") {
		t.Errorf("non-UTF-8 body: %d %q %v", status, body, err)
	}
	must(t, s.Stop(t.Context(), id)) // all output is in the log once Stop returns
	logs, _ := s.Logs(id, 0)
	if !strings.Contains(logs, "ValueError: bad input: raise") || !strings.Contains(logs, "Traceback") {
		t.Errorf("run()'s exception is not in the logs:\n%s", logs)
	}
}

// TestInitFailures: an init() that raises (or a script that cannot load)
// ends the deployment Failed; the message quotes the exception's last line
// and points at get-logs, which holds the traceback.
func TestInitFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, script, want string
		python             string
	}{
		{name: "raises", want: "init() failed: ValueError: cannot load model: no file; see get-logs",
			script: "def init():\n    print('loading the model')\n    raise ValueError('cannot load model: no file')\n\ndef run(raw):\n    return raw\n"},
		{name: "import error", want: "init() failed: ModuleNotFoundError: No module named 'not_installed_pkg'; see get-logs",
			script: "import not_installed_pkg\n\ndef init():\n    pass\n\ndef run(raw):\n    return raw\n"},
		{name: "syntax error", want: "init() failed: SyntaxError: ",
			script: "def init(:\n    pass\n"},
		{name: "no run", want: "init() failed: AttributeError: the scoring script score.py defines no run() function",
			script: "def init():\n    pass\n"},
		{name: "exits", want: "the scoring process exited with exit status 4 before init() returned; see get-logs",
			script: "import os\n\ndef init():\n    os._exit(4)\n\ndef run(raw):\n    return raw\n"},
		{name: "sys.exit", want: "init() failed: SystemExit: 2; see get-logs",
			script: "import sys\n\ndef init():\n    sys.exit(2)\n\ndef run(raw):\n    return raw\n"},
		{name: "no python", python: "/nonexistent/python3", want: "cannot start the scoring process with /nonexistent/python3",
			script: "def init():\n    pass\n\ndef run(raw):\n    return raw\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSup(t, func(cfg *Config) {
				if c.python != "" {
					cfg.Python = c.python
				}
			})
			id := depID(strings.ReplaceAll(c.name, " ", "-"))
			err := s.Start(t.Context(), Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": c.script}), ScoringScript: "score.py", Instances: 1})
			var ie *InitError
			if !errors.As(err, &ie) {
				t.Fatalf("Start = %v, want an *InitError", err)
			}
			if !strings.Contains(ie.Message, c.want) {
				t.Fatalf("message %q lacks %q", ie.Message, c.want)
			}
			st := s.Status(id)
			if st.State != StateFailed || st.Message != ie.Message || st.Ready != 0 {
				t.Fatalf("status = %+v", st)
			}
			if _, _, _, err := s.Score(t.Context(), id, []byte("x"), ""); !errors.Is(err, ErrNotReady) {
				t.Fatalf("Score on a failed deployment: %v, want ErrNotReady", err)
			}
			logs, err := s.Logs(id, 0)
			must(t, err)
			if !strings.Contains(logs, "deployment failed: "+ie.Message) || !strings.Contains(ie.Tail, "deployment failed") {
				t.Fatalf("logs or tail lack the failure:\n%s\ntail:\n%s", logs, ie.Tail)
			}
			if c.python == "" && c.name != "exits" && !strings.Contains(logs, "Traceback (most recent call last)") {
				t.Fatalf("logs lack the traceback:\n%s", logs)
			}
			if c.name == "raises" && !strings.Contains(logs, "loading the model") {
				t.Fatalf("logs lack what init() printed:\n%s", logs)
			}
		})
	}
}

const pidScript = `import os

def init():
    print("instance up", os.getpid())

def run(raw_data):
    if raw_data == "crash":
        os._exit(3)
    return os.getpid()
`

// TestRoundRobin: instance_count 2 runs two processes and Score alternates
// between them.
func TestRoundRobin(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("rr")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": pidScript}), ScoringScript: "score.py", Instances: 2})
	if st := s.Status(id); st.Ready != 2 || st.Instances != 2 || st.Message != "2 of 2 instances ready" {
		t.Fatalf("status = %+v", st)
	}
	var pids []string
	for range 6 {
		_, body, _ := score(t, s, id, "pid")
		pids = append(pids, body)
	}
	for i := 1; i < len(pids); i++ {
		if pids[i] == pids[i-1] {
			t.Fatalf("consecutive requests went to one process: %v", pids)
		}
	}
	if pids[0] != pids[2] || pids[1] != pids[3] {
		t.Fatalf("not round-robin over two processes: %v", pids)
	}
	logs, _ := s.Logs(id, 0)
	if !strings.Contains(logs, "[instance 0] instance up") || !strings.Contains(logs, "[instance 1] instance up") {
		t.Fatalf("logs lack both instances:\n%s", logs)
	}
}

// TestCrashRestart: a process that dies after init() is relaunched with
// backoff (1s, then 2s), counted in Restarts, and scores again.
func TestCrashRestart(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("crash")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": pidScript}), ScoringScript: "score.py", Instances: 1})
	_, first, _ := score(t, s, id, "pid")
	pid1, _ := strconv.Atoi(first)

	for n, delay := range []string{"1s", "2s"} {
		if _, _, _, err := s.Score(t.Context(), id, []byte("crash"), ""); err == nil {
			t.Fatal("a request whose run() killed the process succeeded")
		}
		eventually(t, "the restart", func() bool { st := s.Status(id); return st.Restarts == n+1 && st.Ready == 1 })
		logs, _ := s.Logs(id, 0)
		want := "instance 0 exited with exit status 3 after init() had returned; restart " + strconv.Itoa(n+1) + " in " + delay
		if !strings.Contains(logs, want) {
			t.Fatalf("logs lack %q:\n%s", want, logs)
		}
	}
	_, again, _ := score(t, s, id, "pid")
	if again == first {
		t.Fatalf("still the crashed process %s", first)
	}
	if alive(pid1) {
		t.Fatalf("crashed process %d still alive", pid1)
	}
	if st := s.Status(id); st.State != StateRunning || st.Restarts != 2 {
		t.Fatalf("status = %+v", st)
	}
	if strings.Count(mustLogs(t, s, id), "instance up") != 3 {
		t.Fatalf("want three init() runs:\n%s", mustLogs(t, s, id))
	}
}

func mustLogs(t *testing.T, s *testSup, id string) string {
	t.Helper()
	l, err := s.Logs(id, 0)
	must(t, err)
	return l
}

// TestBackoff: 1s, 2s, 4s… capped at 30s.
func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

// TestEnvironmentEP4: the scoring code sees MSI_ENDPOINT, MSI_SECRET,
// AZUREML_MODEL_DIR and its environment_variables (rule EP-4), and none of
// the server's credentials; the log never shows the MSI secret or the
// workload ID, even when the script prints them.
func TestEnvironmentEP4(t *testing.T) {
	t.Parallel()
	const (
		workloadID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		secret     = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	)
	s := newSup(t, func(c *Config) {
		c.Environ = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "LC_ALL=C.UTF-8",
			"AZURE_CLIENT_SECRET=server-secret", "AZURE_CLIENT_ID=server-app", "AMLID_DATA_DIR=/srv/amlid",
			"PGPASSWORD=db-secret", "MSI_SECRET=server-msi-secret", "HTTPS_PROXY=http://proxy:3128"}
	})
	model := t.TempDir()
	endpoint := "http://127.0.0.1:46808/msi/" + workloadID + "/token"
	id := depID("env")
	codeDir := code(t, map[string]string{"score.py": `import json, os, subprocess, sys

def init():
    print("endpoint is", os.environ["MSI_ENDPOINT"], "secret is", os.environ["MSI_SECRET"])
    # fds 3-5 (listening socket, status pipe, lifeline) stay with the harness, nothing else leaks
    probe = "import os\nfds = []\nfor fd in range(3, 4096):\n    try:\n        os.fstat(fd)\n        fds.append(fd)\n    except OSError:\n        pass\nprint(fds)"
    out = subprocess.run([sys.executable, "-c", probe], close_fds=False, capture_output=True, text=True).stdout.strip()
    print("child fds:", out)

def run(raw_data):
    return dict(os.environ)
`})
	start(t, s, Spec{ID: id, CodeDir: codeDir, ScoringScript: "score.py", ModelDir: model, Instances: 1,
		Env: map[string]string{"MSI_ENDPOINT": endpoint, "MSI_SECRET": secret, "IDENTITY_ENDPOINT": endpoint, "IDENTITY_HEADER": secret,
			"STORAGE_ACCOUNT_NAME": "acct", "UAI_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "AZURE_CLIENT_ID": "user-set"}})
	_, body, _ := score(t, s, id, "env")
	var env map[string]string
	must(t, json.Unmarshal([]byte(body), &env))
	for k, want := range map[string]string{
		"MSI_ENDPOINT": endpoint, "MSI_SECRET": secret, "AZUREML_MODEL_DIR": model, "STORAGE_ACCOUNT_NAME": "acct",
		"UAI_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "AML_APP_ROOT": codeDir, "AZUREML_ENTRY_SCRIPT": "score.py",
		"AZURE_CLIENT_ID": "user-set", "LC_ALL": "C.UTF-8", "PATH": os.Getenv("PATH"),
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if home := env["HOME"]; home == "/root" || !strings.HasPrefix(home, s.cfg.LogDir) {
		t.Errorf("HOME = %q, want a folder of the deployment's own", home)
	}
	for _, k := range []string{"AZURE_CLIENT_SECRET", "AMLID_DATA_DIR", "PGPASSWORD", "HTTPS_PROXY"} {
		if v, ok := env[k]; ok {
			t.Errorf("the server's %s leaked into the scoring process: %q", k, v)
		}
	}
	logs := mustLogs(t, s, id)
	if strings.Contains(logs, secret) || strings.Contains(logs, workloadID) {
		t.Fatalf("the log shows the MSI secret or the workload ID:\n%s", logs)
	}
	if !strings.Contains(logs, "endpoint is http://127.0.0.1:46808/msi/[redacted]/token secret is [redacted]") {
		t.Fatalf("redacted line missing:\n%s", logs)
	}
	if !strings.Contains(logs, "child fds: []") {
		t.Fatalf("a subprocess of the scoring script inherited descriptors beyond 0-2:\n%s", logs)
	}
}

// TestDefaultEnvironmentScrubbed: with Config.Environ unset the server's
// own environment is the base, scrubbed.
func TestDefaultEnvironmentScrubbed(t *testing.T) {
	t.Setenv("AZURE_CLIENT_SECRET", "process-secret")
	t.Setenv("AMLID_TENANT_ID", "tenant")
	t.Setenv("LANG", "C.UTF-8")
	s := newSup(t)
	id := depID("default-env")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": "import os\ndef init(): pass\ndef run(raw): return dict(os.environ)\n"}),
		ScoringScript: "score.py", Instances: 1})
	_, body, _ := score(t, s, id, "")
	var env map[string]string
	must(t, json.Unmarshal([]byte(body), &env))
	if _, ok := env["AZURE_CLIENT_SECRET"]; ok || env["AMLID_TENANT_ID"] != "" || env["LANG"] != "C.UTF-8" {
		t.Fatalf("environment = %v", env)
	}
}

// TestStopKillsProcessGroup: Stop ends the scoring process and what it
// started (its process group); the log stays readable.
func TestStopKillsProcessGroup(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("stop")
	pidFile := filepath.Join(t.TempDir(), "pids")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": groupScript}), ScoringScript: "score.py", Instances: 1,
		Env: map[string]string{"PID_FILE": pidFile}})
	pids := readPids(t, pidFile)
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("process %d is not running", p)
		}
	}
	must(t, s.Stop(t.Context(), id))
	for _, p := range pids {
		if alive(p) {
			t.Fatalf("process %d survived Stop", p)
		}
	}
	if st := s.Status(id); st.State != StateStopped || st.Ready != 0 {
		t.Fatalf("status = %+v", st)
	}
	if _, _, _, err := s.Score(t.Context(), id, []byte("x"), ""); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Score after Stop: %v", err)
	}
	logs := mustLogs(t, s, id)
	if !strings.Contains(logs, "init done") || !strings.Contains(logs, "stopping the deployment") {
		t.Fatalf("logs after Stop:\n%s", logs)
	}
	// Another supervisor over the same log folder (amlid restarted) reads it too.
	again := New(Config{LogDir: s.cfg.LogDir})
	if l, err := again.Logs(id, 0); err != nil || l != logs {
		t.Fatalf("logs after a restart: %v\n%s", err, l)
	}
	must(t, s.Stop(t.Context(), id)) // idempotent
	if _, err := again.Logs(depID("never-ran"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("logs of an unknown deployment: %v", err)
	}
}

const groupScript = `import os, subprocess

def init():
    child = subprocess.Popen(["sleep", "300"])
    with open(os.environ["PID_FILE"], "w") as f:
        f.write(f"{os.getpid()} {child.pid}\n")
    print("init done")

def run(raw):
    return "ok"
`

func readPids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		must(t, err)
		pids = append(pids, p)
	}
	if len(pids) != 2 {
		t.Fatalf("pid file %q", b)
	}
	return pids
}

// TestAmlidKilledLeavesNoProcesses: when amlid dies without stopping its
// deployments (kill -9), the lifeline pipe closes and every scoring
// process, with what it started, goes away.
func TestAmlidKilledLeavesNoProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // the helper's files too: it is killed before it could clean up
	pidFile := filepath.Join(dir, "pids")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSupervisor$", "-test.v")
	cmd.Env = append(os.Environ(), "AMLID_RUNTIME_HELPER="+pidFile)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = cmd.Stdout
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := out.Read(b)
			buf.Write(b[:n])
			if strings.Contains(buf.String(), "HELPER READY") || err != nil {
				return
			}
		}
	}()
	<-done
	if !strings.Contains(buf.String(), "HELPER READY") {
		t.Fatalf("helper did not start a deployment:\n%s", buf.String())
	}
	pids := readPids(t, pidFile)
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	for _, p := range pids {
		eventually(t, "process "+strconv.Itoa(p)+" to end", func() bool { return !alive(p) })
	}
}

// TestHelperSupervisor is TestAmlidKilledLeavesNoProcesses's stand-in for
// amlid: it runs only inside that test's child process.
func TestHelperSupervisor(t *testing.T) {
	pidFile := os.Getenv("AMLID_RUNTIME_HELPER")
	if pidFile == "" {
		return // not the helper process
	}
	dir := filepath.Dir(pidFile)
	codeDir := filepath.Join(dir, "code")
	must(t, os.MkdirAll(codeDir, 0o755))
	must(t, os.WriteFile(filepath.Join(codeDir, "score.py"), []byte(groupScript), 0o644))
	s := New(Config{LogDir: filepath.Join(dir, "logs"), Python: python(t)})
	if err := s.Start(context.Background(), Spec{ID: depID("helper"), CodeDir: codeDir,
		ScoringScript: "score.py", Instances: 1, Env: map[string]string{"PID_FILE": pidFile}}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("HELPER READY\n")
	select {} // until killed
}

// TestStartingStopAndTimeout: Score answers ErrNotReady while init() runs;
// Stop during Start makes Start return ErrStopped; an init() that never
// returns fails the deployment after StartTimeout.
func TestStartingStopAndTimeout(t *testing.T) {
	t.Parallel()
	slow := "import os, time\n\ndef init():\n    print('waiting', flush=True)\n    while not os.path.exists(os.environ['GO_FILE']):\n        time.sleep(0.02)\n\ndef run(raw):\n    return 'ok'\n"

	t.Run("starting", func(t *testing.T) {
		t.Parallel()
		s := newSup(t)
		id := depID("slow")
		goFile := filepath.Join(t.TempDir(), "go")
		errc := make(chan error, 1)
		go func() {
			errc <- s.Start(context.Background(), Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": slow}), ScoringScript: "score.py",
				Instances: 2, Env: map[string]string{"GO_FILE": goFile}})
		}()
		eventually(t, "init() to run", func() bool { l, _ := s.Logs(id, 0); return strings.Count(l, "waiting") == 2 })
		if st := s.Status(id); st.State != StateStarting || st.Message != "0 of 2 instances finished init()" {
			t.Fatalf("status = %+v", st)
		}
		if _, _, _, err := s.Score(t.Context(), id, nil, ""); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Score while starting: %v", err)
		}
		must(t, os.WriteFile(goFile, nil, 0o600))
		must(t, <-errc)
		if code, _, _ := score(t, s, id, ""); code != 200 {
			t.Fatalf("score %d", code)
		}
	})
	t.Run("stop while starting", func(t *testing.T) {
		t.Parallel()
		s := newSup(t)
		id := depID("stopped")
		errc := make(chan error, 1)
		go func() {
			errc <- s.Start(context.Background(), Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": slow}), ScoringScript: "score.py",
				Instances: 1, Env: map[string]string{"GO_FILE": "/nonexistent/go"}})
		}()
		eventually(t, "init() to run", func() bool { l, _ := s.Logs(id, 0); return strings.Contains(l, "waiting") })
		must(t, s.Stop(t.Context(), id))
		if err := <-errc; !errors.Is(err, ErrStopped) {
			t.Fatalf("Start = %v, want ErrStopped", err)
		}
		if st := s.Status(id); st.State != StateStopped {
			t.Fatalf("status = %+v", st)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		s := newSup(t, func(c *Config) { c.StartTimeout = 2 * time.Second })
		id := depID("timeout")
		err := s.Start(context.Background(), Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": slow}), ScoringScript: "score.py",
			Instances: 1, Env: map[string]string{"GO_FILE": "/nonexistent/go"}})
		var ie *InitError
		if !errors.As(err, &ie) || ie.Message != "init() did not return within 2s; see get-logs" {
			t.Fatalf("Start = %v", err)
		}
		if st := s.Status(id); st.State != StateFailed {
			t.Fatalf("status = %+v", st)
		}
	})
}

// TestStartReplaces: starting a running deployment again (an update)
// stops the old processes and starts a fresh log.
func TestStartReplaces(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("update")
	dir := code(t, map[string]string{"score.py": "import os\ndef init():\n    print('version', os.environ['VERSION'])\ndef run(raw):\n    return os.getpid()\n"})
	start(t, s, Spec{ID: id, CodeDir: dir, ScoringScript: "score.py", Instances: 1, Env: map[string]string{"VERSION": "one"}})
	_, p1, _ := score(t, s, id, "")
	start(t, s, Spec{ID: id, CodeDir: dir, ScoringScript: "score.py", Instances: 1, Env: map[string]string{"VERSION": "two"}})
	_, p2, _ := score(t, s, id, "")
	if p1 == p2 {
		t.Fatal("the old process still answers")
	}
	if pid, _ := strconv.Atoi(p1); alive(pid) {
		t.Fatalf("old process %d still alive", pid)
	}
	logs := mustLogs(t, s, id)
	if strings.Contains(logs, "version one") || !strings.Contains(logs, "version two") {
		t.Fatalf("log of the new run:\n%s", logs)
	}
}

// TestSpecValidation: bad specs are refused before anything runs.
func TestSpecValidation(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	dir := code(t, map[string]string{"score.py": echoScript, "sub/x.txt": ""})
	ok := Spec{ID: depID("v"), CodeDir: dir, ScoringScript: "score.py", Instances: 1}
	for name, mod := range map[string]func(*Spec){
		"empty ID":            func(s *Spec) { s.ID = " " },
		"no instances":        func(s *Spec) { s.Instances = 0 },
		"too many instances":  func(s *Spec) { s.Instances = MaxInstances + 1 },
		"no code":             func(s *Spec) { s.CodeDir = "" },
		"code is a file":      func(s *Spec) { s.CodeDir = filepath.Join(dir, "score.py") },
		"missing script":      func(s *Spec) { s.ScoringScript = "nope.py" },
		"script is a folder":  func(s *Spec) { s.ScoringScript = "sub" },
		"script escapes":      func(s *Spec) { s.ScoringScript = "../score.py" },
		"absolute script":     func(s *Spec) { s.ScoringScript = filepath.Join(dir, "score.py") },
		"missing model":       func(s *Spec) { s.ModelDir = filepath.Join(dir, "nope") },
		"bad env name":        func(s *Spec) { s.Env = map[string]string{"A=B": "x"} },
		"NUL in env value":    func(s *Spec) { s.Env = map[string]string{"A": "x\x00y"} },
		"empty script":        func(s *Spec) { s.ScoringScript = "" },
		"empty env name":      func(s *Spec) { s.Env = map[string]string{"": "x"} },
		"missing code folder": func(s *Spec) { s.CodeDir = filepath.Join(dir, "nope") },
	} {
		sp := ok
		mod(&sp)
		if err := s.Start(t.Context(), sp); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: Start = %v, want ErrInvalidSpec", name, err)
		}
	}
	if st := s.Status(ok.ID); st.State != "" {
		t.Fatalf("a refused spec left state %+v", st)
	}
	if _, _, _, err := s.Score(t.Context(), depID("nope"), nil, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Score on an unknown deployment: %v", err)
	}
}

// TestConcurrentScoring: many parallel requests over two instances, while
// Status and Logs are read (run under -race).
func TestConcurrentScoring(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("concurrent")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": echoScript}), ScoringScript: "score.py", Instances: 2})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				body := strconv.Itoa(i*100 + j)
				code, out, _, err := s.Score(t.Context(), id, []byte(body), "text/plain")
				if err != nil || code != 200 || out == nil || string(out) != `"echo:`+body+`"` {
					t.Errorf("score %s: %d %s %v", body, code, out, err)
				}
				_ = s.Status(id)
				_, _ = s.Logs(id, 5)
			}
		})
	}
	wg.Wait()
}

// TestRestartedDeploymentKeepsPort: the instance's port survives a crash
// (the Go side holds the listening socket).
func TestRestartedDeploymentKeepsPort(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("port")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": pidScript}), ScoringScript: "score.py", Instances: 1})
	d := s.get(id)
	port := d.insts[0].port
	_, _, _, _ = s.Score(context.Background(), id, []byte("crash"), "")
	eventually(t, "the restart", func() bool { st := s.Status(id); return st.Restarts == 1 && st.Ready == 1 })
	in, _, err := d.pick()
	must(t, err)
	if in.port != port {
		t.Fatalf("port %d → %d", port, in.port)
	}
}

// TestFailureMessageRedacted: an exception that quotes the MSI endpoint
// or secret (requests' HTTPError quotes the URL) is redacted in the
// message too, which reaches ARM and amlid's own log.
func TestFailureMessageRedacted(t *testing.T) {
	t.Parallel()
	const secret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	endpoint := "http://127.0.0.1:46808/msi/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/token"
	s := newSup(t)
	id := depID("redact")
	err := s.Start(t.Context(), Spec{ID: id, ScoringScript: "score.py", Instances: 1,
		Env:     map[string]string{"MSI_ENDPOINT": endpoint, "MSI_SECRET": secret},
		CodeDir: code(t, map[string]string{"score.py": "import os\ndef init():\n    raise RuntimeError('400 Client Error: Bad Request for url: ' + os.environ['MSI_ENDPOINT'] + ' with ' + os.environ['MSI_SECRET'])\ndef run(raw):\n    return raw\n"})})
	var ie *InitError
	if !errors.As(err, &ie) {
		t.Fatalf("Start = %v", err)
	}
	want := "init() failed: RuntimeError: 400 Client Error: Bad Request for url: http://127.0.0.1:46808/msi/[redacted]/token with [redacted]; see get-logs"
	if ie.Message != want || s.Status(id).Message != want {
		t.Fatalf("message %q, want %q", ie.Message, want)
	}
	if strings.Contains(ie.Tail+mustLogs(t, s, id), secret) {
		t.Fatal("the log shows the secret")
	}
}
