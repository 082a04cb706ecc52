// Package runtime runs the online deployments of Azure ML endpoints as local
// processes: each instance is the machine's Python running the user's
// scoring script (init() once, run(raw_data) per request) behind a small
// HTTP server that amlid ships (harness.py, standard library only, embedded
// in the binary). The ARM side (package server) decides when a deployment
// runs, checks rules EP-1..EP-3 and EP-5 and routes scoring requests; this
// package owns the processes, what they see (rule EP-4) and their logs.
//
// # API
//
//	sup := runtime.New(runtime.Config{LogDir: dir})
//	err := sup.Start(ctx, runtime.Spec{ID: depID, CodeDir: code, ScoringScript: "score.py",
//	        ModelDir: model, Env: env, Instances: 2}) // waits until every init() returned
//	st := sup.Status(depID)                        // Starting | Running | Failed | Stopped
//	code, body, ctype, err := sup.Score(ctx, depID, reqBody, "application/json")
//	text, err := sup.Logs(depID, 100)               // what init()/run() printed
//	err = sup.Stop(ctx, depID)                      // SIGTERM, then SIGKILL; logs stay readable
//	sup.StopAll(ctx)
//
// Start on an ID that is running replaces it (stops the old processes,
// truncates the log): that is how an update restarts a deployment. Errors:
// a bad Spec wraps ErrInvalidSpec (a 400 for the caller); an init() that
// raised, a process that died before init() returned, or an interpreter that
// cannot start is an *InitError (the deployment ends Failed; Status.Message
// quotes the exception's last line and says "see get-logs"); Score on a
// deployment with no ready instance wraps ErrNotReady (503), on an unknown
// one ErrNotFound; any other Score error means the instance broke off the
// request (502).
//
// # Processes
//
// Each instance is `python3 -u harness.py …` with its working directory at
// CodeDir, in its own process group. The Go side opens the instance's
// listening socket on 127.0.0.1 and hands it to Python as fd 3, so the port
// is race-free and stays the same across restarts; fd 4 is a pipe on which
// the harness reports {"event":"ready"} or {"event":"failed","error":…}
// once (GET / answers "Healthy" once it serves), and fd 5 is a lifeline: when amlid dies the pipe closes and the
// harness stops its process group, so a killed amlid leaves no scoring
// processes behind. Stop sends SIGTERM to the group, then SIGKILL after
// Config.StopGrace. Whenever an instance's main process ends, whatever it
// left running in its group is killed too (as a container restart would).
//
// The interpreter is Config.Python, by default Debian's /usr/bin/python3
// (where apt installs python3-sklearn, python3-azure…) or else python3 on
// PATH. The environment's image and conda_file are not installed: amlid
// says so at the top of every deployment log.
//
// An instance that dies after it was ready is restarted after 1s, 2s, 4s…
// (doubling per consecutive crash, at most 30s; the count resets once an
// instance stayed up for two minutes). Each relaunch counts in
// Status.Restarts; while an instance is down, Score uses the others. An
// init() failure during Start is not retried: the deployment is Failed.
//
// # Environment (rule EP-4)
//
// A process sees only an allow-list of the server's environment (PATH,
// USER, LANG, LC_*, TZ, TMPDIR, PYTHONPATH, CA bundle variables…: see
// passEnv), never amlid's own credentials (AZURE_CLIENT_SECRET, AMLID_*,
// database URLs); HOME is a folder of the deployment's own under
// LogDir/homes (so DefaultAzureCredential cannot fall back to the
// machine's `az login` and hide a missing role); then Spec.Env
// (environment_variables and the managed-identity variables
// MSI_ENDPOINT/MSI_SECRET/IDENTITY_* the caller gets from msi.EnvFor), then
// AZUREML_MODEL_DIR (ModelDir), AML_APP_ROOT (CodeDir) and
// AZUREML_ENTRY_SCRIPT (ScoringScript), as Azure sets them.
//
// # Sandbox
//
// With Config.Sandbox active, every instance runs inside bubblewrap
// (package sandbox): it sees a read-only runtime, its code folder (its
// working directory) and model folder read-only, its HOME read-write, a
// private /tmp and /proc of its own PID namespace; not amlid's data dir,
// the other deployments' folders and logs, or amlid's process. Without it
// the scoring code runs as amlid's OS user.
//
// # Logs
//
// Each deployment has one log file under LogDir (0600): the stdout and
// stderr of every instance (lines prefixed "[instance N] " when there are
// several), Python's logging at INFO in Azure's format ("2024-05-01
// 10:00:00,123 I [4711] root - Blob contains: …"), and amlid's own lines
// ("… amlid: instance 0 exited with exit status 3 after init() had
// returned; restart 1 in 1s"). MSI_SECRET,
// IDENTITY_HEADER and the workload ID inside MSI_ENDPOINT are replaced by
// "[redacted]" before anything reaches the file, even if the scoring script
// prints them. Start truncates the log; Stop keeps it readable, also after
// amlid restarts. A log above Config.MaxLogBytes is rotated once (".1").
package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/sandbox"
)

//go:embed harness.py
var harnessSource []byte

// Deployment states (Status.State). "" means the supervisor has not run
// this deployment since amlid started.
const (
	StateStarting = "Starting"
	StateRunning  = "Running"
	StateFailed   = "Failed"
	StateStopped  = "Stopped"
)

// Limits and defaults.
const (
	// MaxInstances bounds Spec.Instances.
	MaxInstances = 32
	// DefaultPython is the interpreter used when Config.Python is empty and
	// it exists; otherwise "python3" on PATH.
	DefaultPython = "/usr/bin/python3"
	// DefaultStartTimeout bounds how long Start waits for init().
	DefaultStartTimeout = 5 * time.Minute
	// DefaultStopGrace is the time between SIGTERM and SIGKILL.
	DefaultStopGrace = 5 * time.Second
	// DefaultMaxLogBytes is the size at which a deployment log rotates.
	DefaultMaxLogBytes = 8 << 20
	// MaxResponseBytes bounds what Score reads from run()'s answer.
	MaxResponseBytes = 64 << 20

	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
	backoffReset = 2 * time.Minute
	outputDrain  = 2 * time.Second
)

// Errors.
var (
	ErrNotFound    = errors.New("no such deployment is running")
	ErrNotReady    = errors.New("no instance of the deployment is ready")
	ErrInvalidSpec = errors.New("invalid deployment")
	ErrStopped     = errors.New("the deployment was stopped while starting")
)

// Config configures a Supervisor.
type Config struct {
	// LogDir holds one log file per deployment (default: a directory
	// under os.TempDir()).
	LogDir string
	// Python is the interpreter (default DefaultPython if present, else
	// "python3" on PATH).
	Python string
	Logger *slog.Logger
	// Environ is the environment the allow-list is applied to; nil means
	// os.Environ().
	Environ []string
	// StartTimeout bounds Start's wait for init() (default
	// DefaultStartTimeout); the deployment is Failed after it.
	StartTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL (default
	// DefaultStopGrace).
	StopGrace time.Duration
	// MaxLogBytes is the size at which a log rotates (default
	// DefaultMaxLogBytes).
	MaxLogBytes int64
	// Sandbox launches the processes (package sandbox); nil runs them
	// directly, as amlid's OS user.
	Sandbox *sandbox.Launcher
}

// Spec describes one deployment run.
type Spec struct {
	ID            string            // deployment resource ID (stable key, case-insensitive)
	CodeDir       string            // folder holding the scoring script (a local copy)
	ScoringScript string            // path relative to CodeDir, e.g. "score.py" or "src/score.py"
	ModelDir      string            // AZUREML_MODEL_DIR ("" = unset)
	Env           map[string]string // environment_variables + MSI_ENDPOINT/MSI_SECRET/IDENTITY_* (caller supplies)
	Instances     int               // instance_count, 1..MaxInstances
	// ReadOnly are further files the processes see read-only inside the
	// sandbox (amlid's CA bundle). Only paths amlid chose: never derived
	// from the user's deployment.
	ReadOnly []string
	// Prelude is written at the head of the deployment log before the
	// processes start (the environment image pull, issue 21).
	Prelude string
}

// Status is a deployment's runtime state.
type Status struct {
	State     string // Starting | Running | Failed | Stopped ("" = unknown)
	Message   string
	Restarts  int // relaunches of crashed instances since Start
	Instances int // instance_count
	Ready     int // instances ready to score now
}

// InitError is Start's error when an instance did not finish init().
type InitError struct {
	ID       string
	Instance int
	// Reason is the last line of the Python exception ("ValueError: no
	// model"), or how the process ended before init() returned.
	Reason string
	// Message is Status.Message: Reason, which instance, "see get-logs".
	Message string
	// Tail is the last lines of the deployment log.
	Tail string
}

func (e *InitError) Error() string { return e.Message }

// Supervisor runs deployments. Create it with New; it is safe for
// concurrent use.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	harnessMu   sync.Mutex
	harnessPath string

	mu   sync.Mutex
	deps map[string]*deployment // lower(ID) → latest run
}

// New returns a Supervisor.
func New(cfg Config) *Supervisor {
	if cfg.LogDir == "" {
		cfg.LogDir = filepath.Join(os.TempDir(), "amlid-deployments")
	}
	if cfg.Python == "" {
		cfg.Python = "python3"
		if fi, err := os.Stat(DefaultPython); err == nil && !fi.IsDir() {
			cfg.Python = DefaultPython
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = DefaultMaxLogBytes
	}
	return &Supervisor{cfg: cfg, log: cfg.Logger, deps: map[string]*deployment{}}
}

// Python is the interpreter the supervisor runs scoring scripts with.
func (s *Supervisor) Python() string { return s.cfg.Python }

// harness writes the embedded harness under LogDir once (content-addressed,
// so a new amlid never runs an old copy) and returns its path.
func (s *Supervisor) harness() (string, error) {
	s.harnessMu.Lock()
	defer s.harnessMu.Unlock()
	if s.harnessPath != "" {
		if _, err := os.Stat(s.harnessPath); err == nil {
			return s.harnessPath, nil
		}
	}
	sum := sha256.Sum256(harnessSource)
	dir := filepath.Join(s.cfg.LogDir, ".harness")
	path := filepath.Join(dir, "amlid_scoring_"+hex.EncodeToString(sum[:6])+".py")
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, harnessSource) {
		s.harnessPath = path
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".harness-*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(harnessSource)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	s.harnessPath = path
	return path, nil
}

// Start launches spec.Instances processes and waits until every instance
// finished init() (nil) or one failed (*InitError, the deployment is then
// Failed and its processes stopped). A running deployment with the same ID
// is stopped first. ctx bounds the wait, as does Config.StartTimeout.
func (s *Supervisor) Start(ctx context.Context, spec Spec) error {
	if err := spec.normalize(); err != nil {
		return err
	}
	harness, err := s.harness()
	if err != nil {
		return fmt.Errorf("runtime: writing the scoring harness under %s: %w", s.cfg.LogDir, err)
	}
	if err := os.MkdirAll(s.cfg.LogDir, 0o700); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	key := strings.ToLower(spec.ID)
	for {
		s.mu.Lock()
		old := s.deps[key]
		if old == nil || old.finished() {
			break // s.mu held
		}
		s.mu.Unlock()
		old.setState(StateStopped, "replaced by a new start")
		if err := old.halt(ctx); err != nil {
			return fmt.Errorf("runtime: stopping the previous run of %s: %w", spec.ID, err)
		}
	}
	d, err := s.newDeployment(spec, harness)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.deps[key] = d
	s.mu.Unlock()

	d.begin()
	s.log.Info("deployment starting", "deployment", spec.ID, "instances", spec.Instances, "python", s.cfg.Python)

	timer := time.NewTimer(s.cfg.StartTimeout)
	defer timer.Stop()
	for range spec.Instances {
		var r initResult
		select {
		case r = <-d.first:
		case <-ctx.Done():
			r = initResult{idx: -1, reason: "starting was canceled: " + ctx.Err().Error()}
		case <-timer.C:
			r = initResult{idx: -1, reason: fmt.Sprintf("init() did not return within %s", s.cfg.StartTimeout)}
		case <-d.ctx.Done():
			return fmt.Errorf("runtime: %s: %w", spec.ID, ErrStopped)
		}
		if r.reason == "" {
			continue
		}
		msg := r.reason
		if r.idx >= 0 && spec.Instances > 1 {
			msg = fmt.Sprintf("instance %d: %s", r.idx, msg)
		}
		msg += "; see get-logs"
		d.setState(StateFailed, msg)
		d.sink.notef("deployment failed: %s", msg)
		// Stop the other instances; the caller's ctx may be done already.
		hctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopGrace+outputDrain+5*time.Second)
		_ = d.halt(hctx)
		cancel()
		tail, _ := s.Logs(spec.ID, 30)
		s.log.Warn("deployment failed", "deployment", spec.ID, "reason", msg)
		return &InitError{ID: spec.ID, Instance: r.idx, Reason: r.reason, Message: msg, Tail: tail}
	}
	d.mu.Lock()
	if d.state == StateStarting {
		d.state, d.message = StateRunning, ""
	}
	state := d.state
	d.mu.Unlock()
	if state != StateRunning {
		return fmt.Errorf("runtime: %s: %w", spec.ID, ErrStopped)
	}
	d.sink.notef("deployment ready: %d of %d instances finished init()", spec.Instances, spec.Instances)
	s.log.Info("deployment running", "deployment", spec.ID, "instances", spec.Instances)
	return nil
}

// Status reports a deployment's state.
func (s *Supervisor) Status(id string) Status {
	d := s.get(id)
	if d == nil {
		return Status{}
	}
	return d.status()
}

// Score sends body to run() on the next ready instance (round-robin) and
// returns its answer.
func (s *Supervisor) Score(ctx context.Context, id string, body []byte, contentType string) (int, []byte, string, error) {
	d := s.get(id)
	if d == nil {
		return 0, nil, "", fmt.Errorf("runtime: %s: %w", id, ErrNotFound)
	}
	in, client, err := d.pick()
	if err != nil {
		return 0, nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port))+"/score", bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("runtime: instance %d of %s broke off the request: %w", in.idx, d.spec.ID, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return 0, nil, "", fmt.Errorf("runtime: instance %d of %s broke off the answer: %w", in.idx, d.spec.ID, err)
	}
	if len(out) > MaxResponseBytes {
		return 0, nil, "", fmt.Errorf("runtime: run() of %s answered more than %d bytes", d.spec.ID, MaxResponseBytes)
	}
	return resp.StatusCode, out, resp.Header.Get("Content-Type"), nil
}

// Stop stops a deployment's processes (SIGTERM, then SIGKILL after
// Config.StopGrace) and keeps its log readable. Stopping an unknown or
// stopped deployment is not an error. ctx bounds the wait; the processes
// are killed in any case.
func (s *Supervisor) Stop(ctx context.Context, id string) error {
	d := s.get(id)
	if d == nil || d.finished() {
		return nil
	}
	d.setState(StateStopped, "stopped")
	d.sink.notef("stopping the deployment")
	if err := d.halt(ctx); err != nil {
		return fmt.Errorf("runtime: stopping %s: %w", id, err)
	}
	s.log.Info("deployment stopped", "deployment", d.spec.ID)
	return nil
}

// StopAll stops every deployment (at server shutdown).
func (s *Supervisor) StopAll(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.deps))
	for _, d := range s.deps {
		ids = append(ids, d.spec.ID)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if err := s.Stop(ctx, id); err != nil {
				s.log.Warn("stopping deployment", "deployment", id, "err", err)
			}
		})
	}
	wg.Wait()
}

func (s *Supervisor) get(id string) *deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deps[strings.ToLower(id)]
}

// normalize checks a Spec and makes CodeDir and ModelDir absolute.
func (sp *Spec) normalize() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("runtime: %w: "+format, append([]any{ErrInvalidSpec}, args...)...)
	}
	if strings.TrimSpace(sp.ID) == "" {
		return bad("the deployment ID is empty")
	}
	if sp.Instances < 1 || sp.Instances > MaxInstances {
		return bad("instance_count is %d; it must be between 1 and %d", sp.Instances, MaxInstances)
	}
	if sp.CodeDir == "" {
		return bad("code_configuration.code is empty")
	}
	code, err := filepath.Abs(sp.CodeDir)
	if err != nil {
		return bad("code folder %q: %v", sp.CodeDir, err)
	}
	if fi, err := os.Stat(code); err != nil || !fi.IsDir() {
		return bad("code folder %q is not a folder", sp.CodeDir)
	}
	sp.CodeDir = code
	script := filepath.FromSlash(sp.ScoringScript)
	if script == "" || !filepath.IsLocal(script) {
		return bad("scoring_script %q must be a path inside the code folder", sp.ScoringScript)
	}
	if fi, err := os.Stat(filepath.Join(code, script)); err != nil || !fi.Mode().IsRegular() {
		return bad("scoring_script %q is not a file in the code folder %s", sp.ScoringScript, sp.CodeDir)
	}
	sp.ScoringScript = script
	if sp.ModelDir != "" {
		m, err := filepath.Abs(sp.ModelDir)
		if err != nil {
			return bad("model folder %q: %v", sp.ModelDir, err)
		}
		if fi, err := os.Stat(m); err != nil || !fi.IsDir() {
			return bad("model folder %q is not a folder", sp.ModelDir)
		}
		sp.ModelDir = m
	}
	for k, v := range sp.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return bad("environment variable name %q is not valid", k)
		}
		if strings.ContainsRune(v, 0) {
			return bad("environment variable %s contains a NUL byte", k)
		}
	}
	return nil
}

// logPath is a deployment's log file: readable names from the ID's last
// segments (endpoint, deployment) plus a hash of the whole ID.
func (s *Supervisor) logPath(id string) string {
	lower := strings.ToLower(id)
	sum := sha256.Sum256([]byte(lower))
	parts := strings.FieldsFunc(lower, func(r rune) bool { return r == '/' })
	var name string
	switch {
	case len(parts) >= 3:
		name = parts[len(parts)-3] + "_" + parts[len(parts)-1]
	case len(parts) > 0:
		name = parts[len(parts)-1]
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 80 {
		b = b[:80]
	}
	return filepath.Join(s.cfg.LogDir, string(b)+"-"+hex.EncodeToString(sum[:6])+".log")
}
