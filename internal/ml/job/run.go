package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/sandbox"
)

// jobDir is where a job's code, inputs, outputs and logs live.
func (p *Provider) jobDir(jobID string) string {
	id, err := arm.ParseID(jobID)
	name := strings.ToLower(jobID)
	if err == nil {
		name = strings.ToLower(id.Parent().Name() + "_" + id.Name())
	}
	return filepath.Join(p.WorkDir, name)
}

func logPath(dir string) string { return filepath.Join(dir, "user_logs", "std_log.txt") }

func readLog(dir string) (string, error) {
	b, err := os.ReadFile(logPath(dir))
	return string(b), err
}

// runJob is one job's life on this replica, from Preparing to a final
// status. Every failure ends the job Failed with a message a person can act
// on; nothing is left running.
func (p *Provider) runJob(jobID string) {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.running[strings.ToLower(jobID)] = cancel
	p.mu.Unlock()
	defer func() {
		cancel()
		p.mu.Lock()
		delete(p.running, strings.ToLower(jobID))
		p.mu.Unlock()
		_ = p.dequeue(context.Background(), jobID)
	}()
	go func() { // renew the lease while the job runs
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = p.renew(context.Background(), jobID)
			}
		}
	}()
	status, msg := p.execute(ctx, jobID)
	p.publishLogs(context.Background(), jobID)
	if ctx.Err() != nil && status != Completed {
		if cur, err := ml.LoadResource(context.Background(), p.Store, jobID); err == nil && str(cur.Properties["status"]) == Canceled {
			return
		}
	}
	if err := p.setStatus(context.Background(), jobID, status, msg); err != nil {
		p.Log().Error("record a job's status", "job", jobID, "err", err)
	}
}

// execute prepares the job's nodes, inputs and code, runs the command and
// returns the final status and its message.
func (p *Provider) execute(ctx context.Context, jobID string) (string, string) {
	r, err := ml.LoadResource(ctx, p.Store, jobID)
	if err != nil {
		return Failed, "the job's record could not be read: " + err.Error()
	}
	if terminal(str(r.Properties["status"])) {
		return str(r.Properties["status"]), ""
	}
	if isPipeline(r.Properties) {
		return p.executePipeline(ctx, r)
	}
	s, err := parseSpec(r.Properties)
	if err != nil {
		return Failed, err.Error()
	}
	dir := p.jobDir(jobID)
	logf, err := makeJobDir(dir)
	if err != nil {
		return Failed, err.Error()
	}
	defer logf.Close()
	wsID := mustParent(jobID)
	// Nodes of the compute (resources.instance_count of them).
	nodes, status, msg := p.acquireNodes(ctx, jobID, s, logf)
	if status != "" {
		return status, msg
	}
	defer func() {
		for _, n := range nodes {
			n.release()
		}
	}()
	_ = p.setStatus(ctx, jobID, Preparing, "")
	comp, ws, reader, err := p.prepareJob(ctx, r, s, wsID, dir, logf)
	if err != nil {
		return Failed, err.Error()
	}
	if len(nodes) > 0 {
		reader.via = nodes[0].ProxyURL // the compute's network path (DS-8)
	}
	values, err := p.stageData(ctx, jobID, wsID, comp, s, reader, dir, logf)
	if err != nil {
		return Failed, err.Error()
	}
	command := placeholder.ReplaceAllStringFunc(s.Command, func(m string) string {
		k := strings.TrimSpace(placeholder.FindStringSubmatch(m)[1])
		return values[k] // substituted as written, as Azure does
	})
	if reader.Kind == "user" && p.obo != nil {
		// AzureMLOnBehalfOfCredential: the user's token, while the job runs.
		url, closeSession := p.obo.open(reader.principal)
		defer closeSession()
		s.Env["OBO_ENDPOINT"] = url
	}
	_ = p.setStatus(ctx, jobID, Running, "")
	fmt.Fprintf(logf, "amlid: job %s running on %d node(s) of %s as %s\n", r.Name, len(nodes), comp.Name, reader.describe())
	code, err := p.runOnNodes(ctx, r, s, dir, command, nodes, logf)
	if ctx.Err() != nil {
		return Canceled, "Canceled while running; its processes were stopped."
	}
	if err != nil {
		return Failed, err.Error()
	}
	_ = p.setStatus(ctx, jobID, Finalizing, "")
	if code != 0 {
		return Failed, fmt.Sprintf("The command exited with status %d; see user_logs/std_log.txt (amlid ml job stream -n %s).", code, r.Name)
	}
	if err := p.storeOutputs(ctx, jobID, wsID, r, ws, comp, s, reader, dir, logf); err != nil {
		return Failed, err.Error()
	}
	return Completed, ""
}

// makeJobDir creates a fresh job directory and opens its log for appending.
func makeJobDir(dir string) (*os.File, error) {
	_ = os.RemoveAll(dir)
	for _, d := range []string{"user_logs", "code", "inputs", "outputs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	return os.OpenFile(logPath(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// acquireNodes takes the job's instance_count nodes of its compute. A job
// waits (Queued) until its compute has instance_count free nodes; it takes
// them all at once or none, so multi-node jobs never deadlock. A non-empty
// status means the job ends with it (and no node is held).
func (p *Provider) acquireNodes(ctx context.Context, jobID string, s *spec, logf io.Writer) (nodes []nodeRef, status, msg string) {
	if max := maxNodes(ctx, p, s.ComputeID); max > 0 && s.Instances > max {
		return nil, Failed, fmt.Sprintf("the job asks for %d nodes (resources.instance_count) but compute %s has at most %d (max_instances)", s.Instances, s.ComputeID, max)
	}
	releaseAll := func() {
		for _, h := range nodes {
			h.release()
		}
		nodes = nil
	}
	for waited := false; len(nodes) < s.Instances; {
		n, release, err := p.Compute.Acquire(ctx, s.ComputeID)
		if err == nil {
			nodes = append(nodes, nodeRef{Env: n.Env, Dir: n.Dir, ID: n.ID, ProxyURL: n.ProxyURL, release: release})
			continue
		}
		var ae *arm.Error
		if !errors.As(err, &ae) || ae.Code != "ComputeAtCapacity" {
			msg := fmt.Sprintf("could not get node %d of %d on compute %s: %v", len(nodes)+1, s.Instances, s.ComputeID, err)
			releaseAll()
			return nil, Failed, msg
		}
		releaseAll()
		if !waited {
			fmt.Fprintf(logf, "amlid: waiting for %d free node(s) of %s\n", s.Instances, s.ComputeID)
			_ = p.setStatus(ctx, jobID, Queued, "")
			waited = true
		}
		select {
		case <-ctx.Done():
			return nil, Canceled, "Canceled while waiting for a node."
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nodes, "", ""
}

// prepareJob loads the job's compute and workspace, pulls the environment's
// image, fetches the code snapshot and picks the identity that reads the
// job's data (DS-5).
func (p *Provider) prepareJob(ctx context.Context, r *arm.Resource, s *spec, wsID, dir string, logf io.Writer) (comp, ws *arm.Resource, rd *reader, err error) {
	comp, err = ml.LoadResource(ctx, p.Store, s.ComputeID)
	if err != nil {
		return nil, nil, nil, errors.New("compute " + s.ComputeID + " was not found")
	}
	ws, err = ml.LoadResource(ctx, p.Store, wsID)
	if err != nil {
		return nil, nil, nil, errors.New("workspace " + wsID + " was not found")
	}
	// The environment's image, when it is in an amlid registry: pulled as
	// the compute's identity (ACR-5, AcrPull), visible in the job's log. The
	// code still runs on the host Python.
	if env := p.environment(ctx, wsID, s.Environment); env != nil && p.PullImage != nil {
		if id, ok := access.Acting(comp); ok {
			if _, err := p.PullImage(ctx, env, id, filepath.Join(dir, "image"), logf); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	// The code snapshot (DS-7 for user identity).
	if s.CodeID != "" {
		if err := p.fetchCode(ctx, r, ws, s, filepath.Join(dir, "code")); err != nil {
			return nil, nil, nil, err
		}
	}
	// Inputs, each read by the identity DS-5 picks.
	rd, err = p.dataIdentity(ctx, r, comp, s)
	if err != nil {
		return nil, nil, nil, err
	}
	return comp, ws, rd, nil
}

// stageData fetches the job's inputs (recording what was read, as whom, in
// dataAccess) and creates its output directories. It returns the values of
// the command's ${{inputs.x}} / ${{outputs.x}} placeholders.
func (p *Provider) stageData(ctx context.Context, jobID, wsID string, comp *arm.Resource, s *spec, rd *reader, dir string, logf io.Writer) (map[string]string, error) {
	values := map[string]string{}
	var accessLog []any
	for _, name := range sortedKeys(s.Inputs) {
		in := s.Inputs[name]
		if in.URI == "" {
			values["inputs."+name] = in.Value
			continue
		}
		if strings.EqualFold(in.Mode, "direct") {
			// direct: the job gets the URI and reads it itself.
			res, err := p.Data.Resolve(ctx, wsID, in.URI)
			if err != nil {
				return nil, fmt.Errorf("input %s (%s): %v", name, in.URI, err)
			}
			values["inputs."+name] = res.URI
			continue
		}
		local, used, err := p.fetchInput(ctx, wsID, comp, s, rd, name, in, filepath.Join(dir, "inputs", name))
		if used != nil {
			accessLog = append(accessLog, used)
		}
		if err != nil {
			_ = p.setProp(context.Background(), jobID, "dataAccess", accessLog)
			fmt.Fprintf(logf, "amlid: input %s: %v\n", name, err)
			return nil, err
		}
		values["inputs."+name] = local
	}
	_ = p.setProp(ctx, jobID, "dataAccess", accessLog)
	for _, name := range sortedKeys(s.Outputs) {
		d := filepath.Join(dir, "outputs", name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		values["outputs."+name] = d
	}
	return values, nil
}

// storeOutputs sends the outputs (rw_mount, upload) to their datastore on
// completion, as the identity that read the inputs (DS-5), and records
// where they went in the job's outputs.
func (p *Provider) storeOutputs(ctx context.Context, jobID, wsID string, r, ws, comp *arm.Resource, s *spec, rd *reader, dir string, logf io.Writer) error {
	written := map[string]any{}
	for _, name := range sortedKeys(s.Outputs) {
		uri, n, err := p.uploadOutput(ctx, wsID, comp, rd, r.Name, name, s.Outputs[name], filepath.Join(dir, "outputs", name))
		if err != nil {
			fmt.Fprintf(logf, "amlid: output %s: %v\n", name, err)
			return err
		}
		if uri == "" && s.Outputs[name].URI == "" {
			// No path: the default datastore's azureml/<job>/<output>/ (artifacts.go).
			if uri, n, err = p.publishOutput(ctx, ws, r.Name, name, filepath.Join(dir, "outputs", name)); err != nil {
				fmt.Fprintf(logf, "amlid: output %s could not be stored in the default datastore (it stays with the job): %v\n", name, err)
				uri = ""
			}
		}
		if uri != "" {
			fmt.Fprintf(logf, "amlid: output %s: %d file(s) uploaded to %s\n", name, n, uri)
			written[name] = map[string]any{"jobOutputType": s.Outputs[name].Type, "uri": uri, "mode": firstNonEmpty(s.Outputs[name].Mode, "ReadWriteMount")}
		}
	}
	if len(written) > 0 {
		_ = p.setProp(context.Background(), jobID, "outputs", written)
	}
	return nil
}

type nodeRef struct {
	ID, Dir  string
	ProxyURL string
	Env      map[string]string
	release  func()
}

func mustParent(id string) string {
	pid, err := arm.ParseID(id)
	if err != nil {
		return ""
	}
	return pid.Parent().String()
}

// runOnNodes runs the command once per node (rank in AZUREML_NODE_RANK /
// RANK), each in the workload sandbox with the node's managed-identity
// environment, and returns the first non-zero exit status.
func (p *Provider) runOnNodes(ctx context.Context, r *arm.Resource, s *spec, dir, command string, nodes []nodeRef, logf io.Writer) (int, error) {
	bin := filepath.Join(dir, ".bin")
	_ = os.MkdirAll(bin, 0o700)
	py := p.Python
	if py == "" {
		py = "/usr/bin/python3"
	}
	// Curated environments resolve to the host Python: `python` is it.
	_ = os.Symlink(py, filepath.Join(bin, "python"))
	var mu sync.Mutex
	lw := &lockedWriter{w: logf, mu: &mu}
	type result struct {
		code int
		err  error
	}
	results := make(chan result, len(nodes))
	for rank, n := range nodes {
		env := []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + filepath.Join(dir, "code"), "LANG=C.UTF-8",
			"AZUREML_RUN_ID=" + r.Name, "AZUREML_NODE_RANK=" + fmt.Sprint(rank), "RANK=" + fmt.Sprint(rank), "WORLD_SIZE=" + fmt.Sprint(len(nodes)),
			"AZUREML_NODE_ID=" + n.ID}
		for _, k := range sortedKeys(n.Env) {
			env = append(env, k+"="+n.Env[k])
		}
		for _, k := range sortedKeys(s.Env) {
			env = append(env, k+"="+s.Env[k])
		}
		if ca := os.Getenv("SSL_CERT_FILE"); ca != "" {
			env = append(env, "SSL_CERT_FILE="+ca, "REQUESTS_CA_BUNDLE="+ca)
		}
		if p.CABundle != "" {
			env = append(env, "SSL_CERT_FILE="+p.CABundle, "REQUESTS_CA_BUNDLE="+p.CABundle)
		}
		jail := sandbox.Jail{Dir: filepath.Join(dir, "code"), PrivateHome: true, ReadWrite: []string{dir, n.Dir}}
		if p.CABundle != "" {
			jail.ReadOnly = append(jail.ReadOnly, p.CABundle)
		}
		cmd := p.Sandbox.Command(jail, env, "/bin/sh", "-c", command)
		cmd.Stdout, cmd.Stderr = lw, lw
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL} // nothing outlives amlid
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("could not start the command: %v", err)
		}
		go func(cmd *exec.Cmd) {
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				results <- result{exitCode(err), nil}
			case <-ctx.Done():
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole process group
				<-done
				results <- result{-1, ctx.Err()}
			}
		}(cmd)
	}
	first := 0
	for range nodes {
		res := <-results
		if res.err != nil && first == 0 {
			first = -1
		}
		if res.code != 0 && first == 0 {
			first = res.code
		}
	}
	return first, nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// environment finds the workspace environment version a job names
// (azureml:<name>:<version>, azureml:<name>@latest, or an ARM ID); nil for a
// curated name that resolves to the host Python.
func (p *Provider) environment(ctx context.Context, wsID, ref string) *arm.Resource {
	if ref == "" {
		return nil
	}
	if strings.HasPrefix(ref, "/") {
		env, err := ml.LoadResource(ctx, p.Store, ref)
		if err != nil {
			return nil
		}
		return env
	}
	name := strings.TrimPrefix(ref, "azureml:")
	if n, ok := strings.CutSuffix(name, "@latest"); ok {
		env, err := ml.LatestVersion(ctx, p.Store, wsID+"/environments/"+n)
		if err != nil {
			return nil
		}
		return env
	}
	n, v, ok := strings.Cut(name, ":")
	if !ok {
		return nil
	}
	env, err := ml.LoadResource(ctx, p.Store, wsID+"/environments/"+n+"/versions/"+v)
	if err != nil {
		return nil
	}
	return env
}

// maxNodes is a compute's max_instances (0 when it has no such limit).
func maxNodes(ctx context.Context, p *Provider, computeID string) int {
	c, err := ml.LoadResource(ctx, p.Store, computeID)
	if err != nil {
		return 0
	}
	inner, _ := c.Prop("properties").(map[string]any)
	ss, _ := inner["scaleSettings"].(map[string]any)
	if v, ok := ss["maxNodeCount"].(float64); ok && v > 0 {
		return int(v)
	}
	return 0
}
