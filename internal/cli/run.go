package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/sandbox"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/workload"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, (*app).runCmd) }

func (a *app) runCmd() *cobra.Command {
	var as, clientID, sandboxMode, environment string
	cmd := &cobra.Command{
		Use:   "run --as RESOURCE_ID [--client-id UAI_CLIENT_ID] -- COMMAND [ARGS...]",
		Short: "Run a local command as a workload of a resource, with its managed identities wired in",
		Long: `Run COMMAND as Azure runs code on a resource (a job on a compute, a deployment of an
online endpoint): the command sees MSI_ENDPOINT, MSI_SECRET, IDENTITY_ENDPOINT,
IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST and, where it applies,
DEFAULT_IDENTITY_CLIENT_ID, and gets tokens only for the identities the resource holds
(rule ID-3). Output streams, signals pass through, the exit code is the command's, and the
credentials die with the process.

The command runs in the same sandbox as online deployments' scoring code (bubblewrap, see
--sandbox): it sees the current folder read-write, a read-only runtime (/usr, /etc without
its secrets), a private HOME and /tmp, its own processes only, and the network; never
amlid's data dir.

A user-assigned identity is not a place code runs: run as a resource that holds it and
pick it with --client-id.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if as == "" {
				return usageErr("the following arguments are required: --as")
			}
			mode, err := sandbox.ParseMode(sandboxMode)
			if err != nil {
				return usageErr("%s", err.Error())
			}
			return a.runAs(c.Context(), as, clientID, environment, mode, args)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "ARM ID of the resource the command runs on")
	cmd.Flags().StringVar(&clientID, "client-id", "", "Client ID of the user-assigned identity to use by default")
	cmd.Flags().StringVar(&environment, "environment", "", "On a compute: an environment (azureml:name:version or its ID) whose amlid-registry image the compute pulls as its identity first (rule ACR-5)")
	cmd.Flags().StringVar(&sandboxMode, "sandbox", envOr("AMLID_WORKLOAD_SANDBOX", "auto"), "auto (bubblewrap when it can run, else unsandboxed with a warning), bwrap (bubblewrap or fail), off (env AMLID_WORKLOAD_SANDBOX)")
	return cmd
}

// runAs runs args as a workload of resourceID: amlid opens the workload
// (its identities' endpoint), the command runs in the sandbox with the
// workload's environment, and the workload ends when the command exits.
func (a *app) runAs(ctx context.Context, resourceID, clientID, environment string, mode sandbox.Mode, args []string) error {
	t, err := a.target()
	if err != nil {
		return err
	}
	sb, err := a.workloadSandbox(mode)
	if err != nil {
		return &cliError{Message: err.Error(), Exit: exitError}
	}
	// The request lives as long as the workload: its context is cancelled
	// (closing the connection) when the child has exited.
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wl, err := a.openWorkload(ctx, wctx, t, resourceID, clientID, environment)
	if err != nil {
		return err
	}
	defer wl.body.Close()
	if wl.PullLog != "" {
		fmt.Fprint(a.stderr, wl.PullLog)
	}
	env, ro, rw := a.workloadEnv(wl)
	name := args[0]
	path, err := exec.LookPath(name)
	if err != nil {
		return &cliError{Message: fmt.Sprintf("cannot start %s: %v", name, err), Exit: 127}
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	child := sb.Command(sandbox.Jail{Dir: cwd, Home: os.Getenv("HOME"), PrivateHome: true, ReadOnly: ro, ReadWrite: rw}, env, path, args[1:]...)
	if wl.Node != "" {
		child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group of its own, as on a node
	}
	child.Stdin, child.Stdout, child.Stderr = a.stdin, a.stdout, a.stderr
	tracker, err := sb.Track(child)
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return &cliError{Message: fmt.Sprintf("cannot start %s: %v", name, err), Exit: 127}
	}
	tracker.Started()
	return waitWorkload(child, tracker, cancel)
}

// workloadLease is amlid's answer to POST /amlid/workloads; body stays open
// for as long as the workload lives.
type workloadLease struct {
	WorkloadID string            `json:"workloadId"`
	Env        map[string]string `json:"env"`
	Node       string            `json:"node"`
	WorkDir    string            `json:"workingDirectory"`
	PullLog    string            `json:"imagePullLog"`
	body       io.Closer
}

// openWorkload asks amlid at t for a workload of resourceID (with the caller's
// ARM token, obtained under ctx); the request is made under wctx, whose
// cancellation ends the workload.
func (a *app) openWorkload(ctx, wctx context.Context, t *target, resourceID, clientID, environment string) (*workloadLease, error) {
	tok, err := a.accessToken(ctx, armResource)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]string{"resourceId": resourceID, "clientId": clientID, "environment": environment})
	req, err := http.NewRequestWithContext(wctx, http.MethodPost, t.ARMURL+"/amlid/workloads?api-version=2024-01-01", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	cl := *t.HTTP
	cl.Timeout = 0
	resp, err := cl.Do(req)
	if err != nil {
		return nil, &cliError{Message: fmt.Sprintf("cannot reach amlid at %s: %v", t.ARMURL, err), Exit: exitError}
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, armError(resp.StatusCode, line)
	}
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("amlid closed the workload: %v", err)
	}
	wl := &workloadLease{body: resp.Body}
	if err := json.Unmarshal(line, wl); err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("bad workload answer: %v", err)
	}
	return wl, nil
}

// workloadEnv is the command's environment (the caller's, scrubbed, plus
// the workload's, sorted), the files it reads (CA bundles) and the
// folders it writes besides its working directory (a node's).
func (a *app) workloadEnv(wl *workloadLease) (env, ro, rw []string) {
	env = scrub(os.Environ())
	keys := make([]string, 0, len(wl.Env))
	for k := range wl.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+wl.Env[k])
	}
	// CA trust, so the workload's clients reach amlid over TLS.
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} {
		// The user's own CA files (the workload is their command).
		if fi, err := os.Stat(os.Getenv(k)); err == nil && fi.Mode().IsRegular() {
			ro = append(ro, os.Getenv(k))
		}
	}
	if st, err := server.ReadState(a.dataDirOrDefault()); err == nil {
		env = append(env, "SSL_CERT_FILE="+st.CABundle, "REQUESTS_CA_BUNDLE="+st.CABundle, "CURL_CA_BUNDLE="+st.CABundle)
		ro = append(ro, st.CABundle)
		// Azure's host names ({account}.blob.core.windows.net, …) reach
		// amlid through its proxy, as in a deployment.
		if _, own := wl.Env["HTTPS_PROXY"]; st.VaultProxyURL != "" && !own { // the workload's own credential wins
			pe := workload.ProxyEnv(st.VaultProxyURL)
			for _, k := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"} {
				env = append(env, k+"="+pe[k])
			}
		}
	}
	if wl.Node != "" {
		// On a compute node (issue 17): the command keeps the caller's
		// working directory, and sees the node's directory (bound
		// read-write in the sandbox) as AMLID_NODE_DIR.
		env = append(env, "AZUREML_NODE_ID="+wl.Node, "AZ_BATCHAI_NODE_ID="+wl.Node, "AMLID_NODE_DIR="+wl.WorkDir)
		rw = append(rw, wl.WorkDir)
	}
	return env, ro, rw
}

// waitWorkload passes signals to the started child until it exits, then
// ends the workload (cancel) and returns the child's exit code (128+N when
// signal N killed it). If amlid ends the workload first (server stopped),
// the child keeps running but loses its credentials.
func waitWorkload(child *exec.Cmd, tracker *sandbox.Tracker, cancel context.CancelFunc) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	for {
		select {
		case s := <-sigs:
			tracker.Signal(s)
		case err := <-done:
			cancel()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return &exitCode{code: 128 + int(ws.Signal())}
				}
				return &exitCode{code: ee.ExitCode()}
			}
			return err
		}
	}
}

// workloadSandbox is the launcher of `amlid run`: amlid's data dir (this
// CLI's, the running server's, the default) and the machine's az login
// stay out of the workload's sight.
func (a *app) workloadSandbox(mode sandbox.Mode) (*sandbox.Launcher, error) {
	hide := []string{a.dataDirOrDefault(), server.DefaultDataDir()}
	if home, err := os.UserHomeDir(); err == nil {
		hide = append(hide, filepath.Join(home, ".azure"), filepath.Join(home, ".amlid"))
	}
	if d := os.Getenv("AZURE_CONFIG_DIR"); d != "" {
		hide = append(hide, d)
	}
	sb, err := sandbox.New(sandbox.Options{Mode: mode, Hide: hide})
	if err != nil {
		return nil, err
	}
	if w := sb.Warning(); w != "" && mode != sandbox.Off {
		fmt.Fprintln(a.stderr, "WARNING: "+w)
	}
	return sb, nil
}

func (a *app) dataDirOrDefault() string {
	if a.dataDir != "" {
		return a.dataDir
	}
	return server.DefaultDataDir()
}

// scrub drops inherited variables that would divert the workload's SDKs to
// another credential (AZURE_CLIENT_ID and friends, other MSI endpoints).
func scrub(parent []string) []string {
	out := make([]string, 0, len(parent))
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(msi.ScrubbedEnv, k) {
			out = append(out, kv)
		}
	}
	return out
}
