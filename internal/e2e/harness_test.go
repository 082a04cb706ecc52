// Package e2e drives a real `amlid up` process with real clients: the Azure
// SDK for Go, Debian's az and Python SDK, and amlid's own CLI binary.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store/pgtest"
)

var amlidBin string

func TestMain(m *testing.M) {
	// The test binary doubles as a Go client run in a shell set up by
	// `amlid env` (azurehostnames_test.go): it reads that environment fresh.
	if h := os.Getenv("AMLID_E2E_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	dir, err := os.MkdirTemp("", "amlid-e2e-bin")
	if err != nil {
		panic(err)
	}
	amlidBin = filepath.Join(dir, "amlid")
	build := exec.Command("go", "build", "-o", amlidBin, "github.com/amlid/amlid/cmd/amlid")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build amlid: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m) // a throwaway PostgreSQL for the tests that share one
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `amlid up` process.
type instance struct {
	t       *testing.T
	DataDir string
	Cmd     *exec.Cmd
	State   *server.State
	Boot    *server.Bootstrap
	Log     *lockedBuffer
	done    chan error
	envOnce sync.Once
	envVars []string
}

// start runs `amlid up` on dataDir (a new temp dir when empty) and waits
// until it serves.
func start(t *testing.T, dataDir string, extra ...string) *instance {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	args := append([]string{"up", "--data-dir", dataDir, "--port", "-1", "--msi-port", "-1", "--blob-port", "-1", "--resource-port-base", "-1"}, extra...)
	cmd := exec.Command(amlidBin, args...)
	cmd.Env = cleanEnv()
	logBuf := &lockedBuffer{}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, DataDir: dataDir, Cmd: cmd, Log: logBuf, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.HasPrefix(sc.Text(), "amlid is up") {
				close(ready)
				signalled = true
			}
		}
		if !signalled {
			close(ready)
		}
	}()
	go func() { in.done <- cmd.Wait() }()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("amlid did not start in 20s: %s", logBuf.String())
	}
	st, err := server.ReadState(dataDir)
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("amlid did not start: %v\n%s", err, logBuf.String())
	}
	in.State = st
	if in.Boot, err = server.ReadBootstrap(dataDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.stop() })
	return in
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() error {
	if in.Cmd.ProcessState != nil {
		return nil
	}
	in.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		in.done <- err
		return err
	case <-time.After(20 * time.Second):
		in.Cmd.Process.Kill()
		return fmt.Errorf("amlid did not stop on SIGTERM")
	}
}

// kill9 kills the process with SIGKILL.
func (in *instance) kill9() {
	in.Cmd.Process.Signal(syscall.SIGKILL)
	err := <-in.done
	in.done <- err
}

// httpClient trusts amlid's CA.
func (in *instance) httpClient() *http.Client {
	pem, err := os.ReadFile(in.State.CAFile)
	if err != nil {
		in.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// env is what `amlid env` exports, as KEY=VALUE pairs.
func (in *instance) env() []string {
	in.envOnce.Do(func() { in.envVars = in.readEnv() })
	return in.envVars
}

func (in *instance) readEnv() []string {
	out, err := exec.Command(amlidBin, "env", "--data-dir", in.DataDir).Output()
	if err != nil {
		in.t.Fatalf("amlid env: %v", err)
	}
	var env []string
	for _, l := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(l, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	return env
}

// cli runs the amlid CLI with its own config dir and amlid's env (the
// bootstrap admin's credentials included); it returns stdout, stderr and the
// exit code.
func (in *instance) cli(cfgDir string, args ...string) (string, string, int) {
	in.t.Helper()
	return in.runCLI(cfgDir, true, args...)
}

func (in *instance) runCLI(cfgDir string, adminEnv bool, args ...string) (string, string, int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, amlidBin, args...)
	env := cleanEnv()
	for _, kv := range in.env() {
		if !adminEnv && (strings.HasPrefix(kv, "AZURE_CLIENT_ID=") || strings.HasPrefix(kv, "AZURE_CLIENT_SECRET=")) {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "AMLID_CONFIG_DIR="+cfgDir)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatal(err)
	}
	return so.String(), se.String(), code
}

// mustCLI runs the CLI and fails the test on a non-zero exit.
func (in *instance) mustCLI(cfgDir string, args ...string) string {
	in.t.Helper()
	so, se, code := in.cli(cfgDir, args...)
	if code != 0 {
		in.t.Fatalf("amlid %s: exit %d\n%s%s", strings.Join(args, " "), code, so, se)
	}
	return so
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}

// cleanEnv is the test process's environment minus anything that would point
// a client somewhere else.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "AMLID_") || k == "SSL_CERT_FILE" || k == "REQUESTS_CA_BUNDLE" || k == "CURL_CA_BUNDLE" ||
			strings.HasPrefix(k, "MSI_") || strings.HasPrefix(k, "IDENTITY_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// lockedBuffer is a bytes.Buffer safe for the exec copier and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
