// Package job is the ML wing's jobs (issue 20): Command jobs that run on the
// nodes of a compute as local processes, reading their inputs through
// datastores with the identity rule DS-5 picks, with the compute's
// identities wired in (CMP-2, CMP-3), queued in amlid's store so replicas
// share the work.
//
//   - provider.go: the ARM type workspaces/jobs, validation, cancel, logs;
//   - queue.go: the queue (leases on store records);
//   - run.go: a job's life on its nodes (status sequence, command, logs);
//   - data.go: DS-5 — which identity reads each input — and the reads.
package job

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"io"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/compute"
	"github.com/amlid/amlid/internal/ml/datastore"
	"github.com/amlid/amlid/internal/ml/datauri"
	"github.com/amlid/amlid/internal/sandbox"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Type is the job resource type.
const Type = catalog.TypeJob

// Statuses, in Azure's sequence.
const (
	NotStarted = "NotStarted"
	Queued     = "Queued"
	Preparing  = "Preparing"
	Running    = "Running"
	Finalizing = "Finalizing"
	Completed  = "Completed"
	Failed     = "Failed"
	Canceled   = "Canceled"
)

func terminal(s string) bool { return s == Completed || s == Failed || s == Canceled }

// Provider declares jobs over the ML core.
type Provider struct {
	*ml.Provider
	Compute      *compute.Provider
	Data         *datastore.Provider
	Vaults       func() datastore.Vaults
	Tokens       *token.Service
	Sandbox      *sandbox.Launcher
	RootCAs      *x509.CertPool
	BlobEndpoint func(account string) string
	WorkDir      string // <data-dir>/ml/jobs
	Python       string // the host Python curated environments resolve to
	CABundle     string // system roots + amlid's CA, trusted by job code
	// Replica names this amlid process in the queue's leases.
	Replica string
	// PullImage pulls an environment's amlid-registry image as an identity
	// before the job starts (issue 21, ACR-5; nil: images are recorded only).
	PullImage func(ctx context.Context, env *arm.Resource, id access.Identity, dir string, log io.Writer) (string, error)

	obo     *oboServer
	mu      sync.Mutex
	running map[string]context.CancelFunc // lower(job ID) → cancel
	wake    chan struct{}
	stop    chan struct{}
}

// Register declares workspaces/jobs.
func (p *Provider) Register(reg *arm.Registry) {
	p.running = map[string]context.CancelFunc{}
	p.wake = make(chan struct{}, 1)
	p.stop = make(chan struct{})
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/jobs", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusCreated,
		Name:         arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)},
		Prepare:      p.prepare,
		Validate:     p.validate,
		AfterCommit:  p.afterCommit,
		Present:      p.present,
		Actions: map[string]arm.Action{
			"cancel":  {Handler: p.cancel},
			"getLogs": {Handler: p.logs},
		},
	})
}

var placeholder = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// prepare records who submitted the job (its user identity, DS-5) and sets
// the first status; a job's spec is immutable once submitted.
func (p *Provider) prepare(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		return arm.Errorf(http.StatusBadRequest, "InvalidRequestContent", "A job needs properties (jobType, command, computeId, …).")
	}
	if old != nil {
		// Updates may change only description, tags and display name.
		oldProps := old.Properties
		for _, k := range []string{"description", "displayName", "tags", "isArchived"} {
			if v, ok := props[k]; ok {
				oldProps[k] = v
			}
		}
		body["properties"] = oldProps
		return nil
	}
	props["status"] = NotStarted
	// The job carries its submitter's identity (user_identity, DS-5).
	if cl := c.Caller; cl != nil && !cl.System {
		props["amlidSubmittedBy"] = map[string]any{"objectId": cl.ObjectID, "principalType": cl.Type, "tenantId": cl.TenantID}
	}
	return nil
}

// spec is what a job runs.
type spec struct {
	Command     string
	CodeID      string
	Environment string
	ComputeID   string
	Inputs      map[string]input
	Outputs     map[string]output
	Identity    jobIdentity
	Env         map[string]string
	Instances   int
}

type input struct {
	Type, URI, Mode, Value string
}

type output struct {
	Type, URI, Mode string
	// Parent is the pipeline output a step's output is bound to
	// (${{parent.outputs.<Parent>}}).
	Parent string
}

// ioName is what an input or output may be named (${{inputs.<name>}}); an
// output's name is also a folder of its default path (artifacts.go).
var ioName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

var parentOutputRE = regexp.MustCompile(`^\$\{\{\s*parent\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$`)

// jobIdentity is properties.identity: UserIdentity, Managed (optionally one
// of the compute's identities by client, object or resource ID), AMLToken,
// or none (the compute's identity, DS-5's fallback).
type jobIdentity struct {
	Type                           string
	ClientID, ObjectID, ResourceID string
}

func str(v any) string { s, _ := v.(string); return s }

func parseSpec(props map[string]any) (*spec, error) {
	s := &spec{Inputs: map[string]input{}, Outputs: map[string]output{}, Env: map[string]string{}, Instances: 1}
	if jt := str(props["jobType"]); !strings.EqualFold(jt, "Command") {
		if jt == "" {
			return nil, badRequest("properties.jobType is required: amlid runs Command jobs.")
		}
		return nil, badRequest("properties.jobType '%s' is not supported: amlid runs Command and Pipeline jobs.", jt)
	}
	s.Command = str(props["command"])
	if strings.TrimSpace(s.Command) == "" {
		return nil, badRequest("properties.command is required.")
	}
	s.CodeID, s.Environment, s.ComputeID = str(props["codeId"]), str(props["environmentId"]), str(props["computeId"])
	if s.ComputeID == "" {
		return nil, badRequest("properties.computeId is required: the compute the job runs on (compute: azureml:<name> in the YAML).")
	}
	if err := eachIO(props, "inputs", "input", func(name string, m map[string]any) error {
		in := parseInput(m)
		if in.Type == "" {
			return badRequest("properties.inputs.%s.jobInputType is required (uri_file, uri_folder, literal, …).", name)
		}
		s.Inputs[name] = in
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachIO(props, "outputs", "output", func(name string, m map[string]any) error {
		o := parseOutput(m)
		if b := parentOutputRE.FindStringSubmatch(strings.TrimSpace(str(m["value"]))); b != nil {
			o.Parent = b[1]
		}
		s.Outputs[name] = o
		return nil
	}); err != nil {
		return nil, err
	}
	if idm, ok := props["identity"].(map[string]any); ok && idm != nil {
		var err error
		if s.Identity, err = checkedIdentity(idm); err != nil {
			return nil, err
		}
	}
	if ev, ok := props["environmentVariables"].(map[string]any); ok {
		for k, v := range ev {
			s.Env[k] = fmt.Sprint(v)
		}
	}
	if r, ok := props["resources"].(map[string]any); ok {
		if n, ok := r["instanceCount"].(float64); ok {
			if n < 1 || n > 100 || n != float64(int(n)) {
				return nil, badRequest("properties.resources.instanceCount must be an integer from 1 to 100.")
			}
			s.Instances = int(n)
		}
	}
	// Every ${{…}} names a declared input or output.
	for _, m := range placeholder.FindAllStringSubmatch(s.Command, -1) {
		parts := strings.Split(m[1], ".")
		ok := len(parts) == 2
		if ok {
			switch parts[0] {
			case "inputs":
				_, ok = s.Inputs[parts[1]]
			case "outputs":
				_, ok = s.Outputs[parts[1]]
			default:
				ok = false
			}
		}
		if !ok {
			return nil, badRequest("The command refers to %s, which is not ${{inputs.<name>}} or ${{outputs.<name>}} of a declared input or output.", m[0])
		}
	}
	if strings.Contains(strings.ReplaceAll(s.Command, "${{", ""), "}}") && len(placeholder.FindAllString(s.Command, -1)) == 0 {
		return nil, badRequest("The command has a malformed ${{…}} placeholder.")
	}
	return s, nil
}

// eachIO calls f for each entry of props[key] ("inputs" or "outputs"),
// refusing one that is not an object or, when what names the kind ("input",
// "pipeline output"), whose name is not a folder name (ioName).
func eachIO(props map[string]any, key, what string, f func(name string, m map[string]any) error) error {
	ios, _ := props[key].(map[string]any)
	for name, v := range ios {
		m, _ := v.(map[string]any)
		if m == nil {
			return badRequest("properties.%s.%s must be an object.", key, name)
		}
		if what != "" && !ioName.MatchString(name) {
			return badRequest("The %s name %q is not valid: use letters, digits, '_' and '-'.", what, name)
		}
		if err := f(name, m); err != nil {
			return err
		}
	}
	return nil
}

// parseInput and parseOutput read an input's and an output's REST fields.
func parseInput(m map[string]any) input {
	return input{Type: str(m["jobInputType"]), URI: str(m["uri"]), Mode: str(m["mode"]), Value: str(m["value"])}
}

func parseOutput(m map[string]any) output {
	return output{Type: str(m["jobOutputType"]), URI: str(m["uri"]), Mode: str(m["mode"])}
}

// parseIdentity reads a job's REST identity.
func parseIdentity(idm map[string]any) jobIdentity {
	return jobIdentity{Type: str(idm["identityType"]), ClientID: str(idm["clientId"]), ObjectID: str(idm["objectId"]), ResourceID: str(idm["resourceId"])}
}

// checkedIdentity is parseIdentity refusing a type amlid does not run
// (UserIdentity, Managed and AMLToken).
func checkedIdentity(idm map[string]any) (jobIdentity, error) {
	id := parseIdentity(idm)
	switch strings.ToLower(id.Type) {
	case "useridentity", "managed", "amltoken":
		return id, nil
	}
	return id, badRequest("properties.identity.identityType '%s' is not UserIdentity, Managed or AMLToken.", id.Type)
}

func badRequest(format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, "UserError", format, args...)
}

// validate checks a new job against the workspace: its compute exists and
// runs nodes, each input resolves (datastores and assets the workspace has).
func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	if w.Old != nil {
		return nil
	}
	if isPipeline(w.New.Properties) {
		return p.validatePipeline(ctx, w)
	}
	s, err := parseSpec(w.New.Properties)
	if err != nil {
		return err
	}
	wsID := w.ID.Parent().String()
	cid := s.ComputeID
	if !strings.HasPrefix(cid, "/") {
		cid = wsID + "/computes/" + strings.TrimPrefix(cid, "azureml:")
		w.New.Properties["computeId"] = cid
	}
	comp, err := ml.LoadResource(ctx, p.Store, cid)
	if err != nil {
		return badRequest("The compute '%s' was not found in workspace %s: create it first (amlid ml compute create).", cid, wsID)
	}
	if !strings.EqualFold(comp.Type, catalog.TypeCompute) {
		return badRequest("'%s' is not a compute.", cid)
	}
	if err := p.checkInputs(ctx, wsID, s.Inputs, "properties.inputs."); err != nil {
		return err
	}
	// DS-7: a user-identity job's code snapshot is checksummed at
	// submission and verified before it runs.
	if strings.EqualFold(s.Identity.Type, "useridentity") && s.CodeID != "" {
		sum, err := p.codeChecksum(ctx, wsID, s.CodeID, "")
		if err != nil {
			return err
		}
		w.New.Properties["codeChecksum"] = sum
	}
	return nil
}

// checkInputs refuses (400) an input whose URI does not resolve in the
// workspace (a datastore or an asset it lacks); field prefixes the
// input's name in the message ("properties.inputs.").
func (p *Provider) checkInputs(ctx context.Context, wsID string, inputs map[string]input, field string) error {
	for name, in := range inputs {
		if in.URI == "" {
			continue
		}
		if _, err := p.Data.Resolve(ctx, wsID, in.URI); err != nil {
			return badRequest("%s%s: %v", field, name, err)
		}
	}
	return nil
}

// codeChecksum is rule DS-7 at submission: the checksum of the code
// snapshot codeID, verified again before the code runs. Failures are 400s,
// prefixed by where ("step <name>: " in a pipeline).
func (p *Provider) codeChecksum(ctx context.Context, wsID, codeID, where string) (string, error) {
	ws, err := ml.LoadResource(ctx, p.Store, wsID)
	if err != nil {
		return "", badRequest("workspace %s was not found", wsID)
	}
	uri, err := p.codeURI(ctx, codeID)
	if err != nil {
		return "", badRequest("%s%v", where, err)
	}
	cc, prefix, err := p.codeClient(ctx, ws, uri)
	if err != nil {
		return "", badRequest("%sthe code snapshot %s: %v", where, uri, err)
	}
	sum, _, err := snapshotChecksum(ctx, cc, prefix)
	if err != nil {
		return "", badRequest("%sthe code snapshot %s could not be read to checksum it (rule DS-7): %v", where, uri, err)
	}
	return sum, nil
}

// submitter is recorded at creation: the user the job acts for (DS-5).
func (p *Provider) afterCommit(ctx context.Context, id arm.ID, r *arm.Resource) {
	if str(r.Properties["status"]) != NotStarted {
		return
	}
	if err := p.enqueue(context.Background(), r.ID); err != nil {
		p.Log().Error("queue a job", "job", r.ID, "err", err)
	}
}

// present fills read-only fields.
func (p *Provider) present(ctx context.Context, r *arm.Resource) {
	if r.Properties == nil {
		return
	}
	if r.Properties["services"] == nil {
		r.Properties["services"] = map[string]any{"Studio": map[string]any{"endpoint": "https://ml.azure.com/runs/" + r.Name, "jobServiceType": "Studio"}}
	}
}

// cancel answers POST …/jobs/{name}/cancel (202, as Azure).
func (p *Provider) cancel(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	st := str(r.Properties["status"])
	if terminal(st) {
		return http.StatusAccepted, nil, nil
	}
	p.mu.Lock()
	stop := p.running[strings.ToLower(r.ID)]
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	if err := p.setStatus(ctx, r.ID, Canceled, "Canceled by "+c.CallerOrSystem().ObjectID); err != nil {
		return 0, nil, err
	}
	_ = p.dequeue(ctx, r.ID)
	return http.StatusAccepted, nil, nil
}

// logs answers POST …/jobs/{name}/getLogs with user_logs/std_log.txt.
func (p *Provider) logs(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	content, _ := readLog(p.jobDir(r.ID))
	return http.StatusOK, map[string]any{"content": content, "status": r.Properties["status"]}, nil
}

// setStatus moves a job along its sequence (never out of a final state but
// to record why) and records a message.
func (p *Provider) setStatus(ctx context.Context, id, status, msg string) error {
	return p.UpdateResource(ctx, id, func(cur *arm.Resource) error {
		old := str(cur.Properties["status"])
		if terminal(old) && old != status {
			return nil
		}
		cur.Properties["status"] = status
		if msg != "" {
			cur.Properties["amlidMessage"] = msg
		}
		now := time.Now().UTC().Format(time.RFC3339)
		hist, _ := cur.Internal["history"].([]any)
		cur.Internal["history"] = append(hist, map[string]any{"status": status, "time": now})
		if terminal(status) {
			cur.Properties["endTime"] = now
		}
		return nil
	})
}

// setProp records a property of a running job (which identity read what).
func (p *Provider) setProp(ctx context.Context, id, k string, v any) error {
	return p.UpdateResource(ctx, id, func(cur *arm.Resource) error {
		cur.Properties[k] = v
		return nil
	})
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ = store.ErrNotFound
var _ = datauri.KindDatastore
var _ = slog.Default
