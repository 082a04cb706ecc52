package job

// Pipeline jobs (issue 20, item 6; rule DS-6): a pipeline is a map of
// command steps (and pipeline components, themselves maps of steps), bound
// to the pipeline's inputs with ${{parent.inputs.x}} and to earlier steps'
// outputs with ${{parent.jobs.<step>.outputs.<o>}}. amlid runs the steps in
// topological order, in process, each on its compute's nodes (or the
// pipeline's settings.default_compute) and records each step's status and
// resolved identity in properties.steps. A failed step fails the pipeline.
//
// DS-6: a step's identity overrides the pipeline's; inside a pipeline
// component only the step level counts (the root's and the component's
// identity are ignored there), so a step without one reads with the
// compute's identity.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/datastore"
)

func isPipeline(props map[string]any) bool {
	return strings.EqualFold(str(props["jobType"]), "Pipeline")
}

type binding struct {
	ParentInput  string // ${{parent.inputs.<ParentInput>}}
	Step, Output string // ${{parent.jobs.<Step>.outputs.<Output>}}
}

type pstep struct {
	Name        string // "step" or "component/step"
	Level       string // "" or "component/"
	InComponent bool
	Spec        *spec
	// Identity is what DS-6 resolves; Source says where it came from:
	// "step", "pipeline", or "compute" (no job identity: DS-5's fallback).
	Identity jobIdentity
	Source   string
	Binds    map[string]binding
	Deps     []string
}

type pipeline struct {
	Inputs   map[string]input
	Outputs  map[string]output // pipeline-level outputs, bound from steps
	Identity jobIdentity
	Steps    []*pstep // in topological order
	// settings.default_datastore (a name): where outputs without a path
	// go ("" : the workspace's default datastore, artifacts.go).
	DefaultDatastore string
	// settings.continue_on_step_failure: after a failed step, the steps
	// that do not depend on it still run.
	ContinueOnStepFailure bool
}

// A step name may be component/step: an output of a pipeline component,
// resolved to the inner step that produces it (component.go).
var bindRE = regexp.MustCompile(`^\$\{\{\s*parent\.(?:inputs\.([A-Za-z0-9_-]+)|jobs\.([A-Za-z0-9_/-]+)\.outputs\.([A-Za-z0-9_-]+))\s*\}\}$`)

// parsePipeline reads a pipeline job's properties: inputs, outputs,
// identity, settings.default_compute and the jobs map (steps, pipeline
// components), or resolved, the steps resolveSteps made of it.
func parsePipeline(props, resolved map[string]any, wsID string) (*pipeline, error) {
	pl := &pipeline{Inputs: map[string]input{}, Outputs: map[string]output{}}
	defCompute, err := parsePipelineHead(pl, props)
	if err != nil {
		return nil, err
	}
	jobs, _ := props["jobs"].(map[string]any)
	if resolved != nil {
		jobs = resolved
	}
	if len(jobs) == 0 {
		return nil, badRequest("properties.jobs is empty: a pipeline job needs at least one step (jobs: {<name>: {type: command, …}}).")
	}
	sp := &stepParser{pl: pl, props: props, wsID: wsID, defCompute: defCompute}
	if err := sp.walk(jobs, "", false); err != nil {
		return nil, err
	}
	if err := checkStepBindings(sp.all); err != nil {
		return nil, err
	}
	if pl.Steps, err = orderSteps(sp.all); err != nil {
		return nil, err
	}
	return pl, nil
}

// parsePipelineHead reads the pipeline's inputs, outputs, identity and
// settings into pl, and returns settings.default_compute.
func parsePipelineHead(pl *pipeline, props map[string]any) (string, error) {
	if err := eachIO(props, "inputs", "", func(name string, m map[string]any) error {
		pl.Inputs[name] = parseInput(m)
		return nil
	}); err != nil {
		return "", err
	}
	if err := eachIO(props, "outputs", "pipeline output", func(name string, m map[string]any) error {
		pl.Outputs[name] = parseOutput(m)
		return nil
	}); err != nil {
		return "", err
	}
	if idm, ok := props["identity"].(map[string]any); ok && idm != nil {
		var err error
		if pl.Identity, err = checkedIdentity(idm); err != nil {
			return "", err
		}
	}
	settings, _ := props["settings"].(map[string]any)
	defCompute := firstNonEmpty(str(settings["default_compute"]), str(settings["defaultCompute"]), str(props["computeId"]))
	if ds := strings.TrimPrefix(firstNonEmpty(str(settings["default_datastore"]), str(settings["defaultDatastore"])), "azureml:"); ds != "" {
		// azure-ai-ml sends the datastore's ARM ID, YAML its name.
		pl.DefaultDatastore = ds[strings.LastIndex(ds, "/")+1:]
		if !ioName.MatchString(pl.DefaultDatastore) {
			return "", badRequest("settings.default_datastore %q does not name a datastore.", ds)
		}
	}
	for _, k := range []string{"continue_on_step_failure", "continueOnStepFailure"} {
		switch v := settings[k].(type) {
		case bool:
			pl.ContinueOnStepFailure = v
		case string:
			pl.ContinueOnStepFailure = strings.EqualFold(v, "true")
		}
	}
	return defCompute, nil
}

// stepParser collects a pipeline's command steps, in walk order, from its
// jobs map and those of its pipeline components.
type stepParser struct {
	pl         *pipeline
	props      map[string]any
	wsID       string
	defCompute string
	all        []*pstep
}

// walk reads one level of jobs (level is "" or "component/").
func (sp *stepParser) walk(jobs map[string]any, level string, inComp bool) error {
	for _, name := range sortedKeys(jobs) {
		m, _ := jobs[name].(map[string]any)
		if m == nil {
			return badRequest("properties.jobs.%s must be an object.", level+name)
		}
		t := strings.ToLower(firstNonEmpty(str(m["type"]), str(m["jobType"]), "command"))
		switch t {
		case "pipeline":
			sub, _ := m["jobs"].(map[string]any)
			if c, ok := m["component"].(map[string]any); ok && sub == nil {
				sub, _ = c["jobs"].(map[string]any)
			}
			if len(sub) == 0 {
				return badRequest("properties.jobs.%s is a pipeline component without steps (jobs:).", level+name)
			}
			if err := sp.walk(sub, level+name+"/", true); err != nil {
				return err
			}
			continue
		case "command":
		default:
			return badRequest("properties.jobs.%s has type '%s': amlid runs command steps and pipeline components.", level+name, t)
		}
		st, err := sp.step(m, name, level, inComp)
		if err != nil {
			return err
		}
		sp.all = append(sp.all, st)
	}
	return nil
}

// step reads one command step: its compute, spec, bindings and identity.
func (sp *stepParser) step(m map[string]any, name, level string, inComp bool) (*pstep, error) {
	cp := map[string]any{}
	for k, v := range m {
		cp[k] = v
	}
	cp["jobType"] = "Command"
	cid := strings.TrimPrefix(firstNonEmpty(str(cp["computeId"]), str(cp["compute"]), sp.defCompute), "azureml:")
	if cid == "" {
		return nil, badRequest("step %s names no compute and the pipeline has no settings.default_compute.", level+name)
	}
	if !strings.HasPrefix(cid, "/") {
		cid = sp.wsID + "/computes/" + cid
	}
	cp["computeId"] = cid
	s, err := parseSpec(cp)
	if err != nil {
		return nil, badRequest("step %s: %v", level+name, err)
	}
	st := &pstep{Name: level + name, Level: level, InComponent: inComp, Spec: s, Binds: map[string]binding{}}
	if err := sp.bindStep(st, s, level); err != nil {
		return nil, err
	}
	// DS-6 (access.StepIdentity, the rule as data).
	stepIDM, _ := cp["identity"].(map[string]any)
	rootIDM, _ := sp.props["identity"].(map[string]any)
	var idm map[string]any
	idm, st.Source = access.StepIdentity(stepIDM, rootIDM, inComp)
	st.Identity = parseIdentity(idm)
	s.Identity = st.Identity
	return st, nil
}

// bindStep records a step's ${{parent.…}} input bindings and checks that
// its outputs bound to pipeline outputs name declared ones.
func (sp *stepParser) bindStep(st *pstep, s *spec, level string) error {
	for in, v := range s.Inputs {
		if !strings.Contains(v.Value, "${{") {
			continue
		}
		b := bindRE.FindStringSubmatch(strings.TrimSpace(v.Value))
		if b == nil {
			return badRequest("step %s: input %s is bound to %s, which is not ${{parent.inputs.<name>}} or ${{parent.jobs.<step>.outputs.<name>}}.", st.Name, in, v.Value)
		}
		if b[1] != "" {
			if _, ok := sp.pl.Inputs[b[1]]; !ok {
				return badRequest("step %s: input %s is bound to the pipeline input %s, which the pipeline does not declare.", st.Name, in, b[1])
			}
			st.Binds[in] = binding{ParentInput: b[1]}
		} else {
			st.Binds[in] = binding{Step: level + b[2], Output: b[3]}
			st.Deps = append(st.Deps, level+b[2])
		}
	}
	for on, o := range s.Outputs {
		if o.Parent == "" {
			continue
		}
		// Inside a component the binding was rewritten to the
		// pipeline output its component's output is bound to, or
		// dropped (component.go, bindComponentOutputs).
		if _, ok := sp.pl.Outputs[o.Parent]; !ok {
			return badRequest("step %s: output %s is bound to the pipeline output %s, which the pipeline does not declare (outputs:).", st.Name, on, o.Parent)
		}
	}
	return nil
}

// checkStepBindings checks that each step-to-step binding names a step
// and an output it declares.
func checkStepBindings(all []*pstep) error {
	byName := map[string]*pstep{}
	for _, st := range all {
		byName[st.Name] = st
	}
	for _, st := range all {
		for in, b := range st.Binds {
			if b.Step == "" {
				continue
			}
			src := byName[b.Step]
			if src == nil {
				return badRequest("step %s: input %s is bound to the outputs of step %s, which is not a step at its level of the pipeline.", st.Name, in, b.Step)
			}
			if _, ok := src.Spec.Outputs[b.Output]; !ok {
				return badRequest("step %s: input %s is bound to output %s of step %s, which declares no such output.", st.Name, in, b.Output, b.Step)
			}
		}
	}
	return nil
}

// orderSteps puts the steps in topological order (Kahn; ties by name), or
// refuses a cycle.
func orderSteps(all []*pstep) ([]*pstep, error) {
	var steps []*pstep
	done := map[string]bool{}
	for len(steps) < len(all) {
		progress := false
		for _, st := range all {
			if done[st.Name] {
				continue
			}
			ready := true
			for _, d := range st.Deps {
				ready = ready && done[d]
			}
			if ready {
				done[st.Name] = true
				steps = append(steps, st)
				progress = true
			}
		}
		if !progress {
			var left []string
			for _, st := range all {
				if !done[st.Name] {
					left = append(left, st.Name)
				}
			}
			return nil, badRequest("the pipeline's steps %s depend on each other's outputs in a cycle.", strings.Join(left, ", "))
		}
	}
	return steps, nil
}

// identityLabel says which identity DS-6 chose for a step, before it runs.
func (st *pstep) identityLabel() string {
	switch st.Source {
	case "step":
		return identityName(st.Identity) + " (set on the step; DS-6: the step's identity wins)"
	case "pipeline":
		return identityName(st.Identity) + " (inherited from the pipeline)"
	}
	if st.InComponent {
		return "the compute's identity (DS-6: inside a pipeline component only the step's identity counts, and this step sets none)"
	}
	return "the compute's identity (neither the step nor the pipeline sets one)"
}

func identityName(id jobIdentity) string {
	switch strings.ToLower(id.Type) {
	case "useridentity":
		return "user_identity"
	case "managed":
		return "managed"
	case "amltoken":
		return "aml_token"
	}
	return id.Type
}

// validatePipeline checks a new pipeline job: its steps parse and bind, each
// step's compute exists, inputs resolve. It records the steps (status and
// the identity DS-6 resolves for each).
func (p *Provider) validatePipeline(ctx context.Context, w *arm.Write) error {
	wsID := w.ID.Parent().String()
	jobs, _ := w.New.Properties["jobs"].(map[string]any)
	// On a copy: the stored body stays as the client sent it.
	cp, _ := deepCopy(jobs).(map[string]any)
	resolved, err := p.resolveSteps(ctx, wsID, cp, "")
	if err != nil {
		return err
	}
	pl, err := parsePipeline(w.New.Properties, resolved, wsID)
	if err != nil {
		return err
	}
	if w.New.Internal == nil {
		w.New.Internal = map[string]any{}
	}
	w.New.Internal["resolvedJobs"] = resolved
	for _, st := range pl.Steps {
		comp, err := ml.LoadResource(ctx, p.Store, st.Spec.ComputeID)
		if err != nil || !strings.EqualFold(comp.Type, catalog.TypeCompute) {
			return badRequest("step %s: the compute '%s' was not found in workspace %s: create it first (amlid ml compute create).", st.Name, st.Spec.ComputeID, wsID)
		}
		if err := p.checkInputs(ctx, wsID, st.Spec.Inputs, "step "+st.Name+": inputs."); err != nil {
			return err
		}
	}
	if pl.DefaultDatastore != "" {
		if _, err := p.Data.Resolve(ctx, wsID, "azureml://datastores/"+pl.DefaultDatastore+"/paths/x"); err != nil {
			return badRequest("settings.default_datastore: %v", err)
		}
	}
	if err := p.checkInputs(ctx, wsID, pl.Inputs, "properties.inputs."); err != nil {
		return err
	}
	// DS-7 for each user-identity step with code: its snapshot is
	// checksummed now and verified before the step runs.
	sums := map[string]any{}
	for _, st := range pl.Steps {
		if !strings.EqualFold(st.Identity.Type, "useridentity") || st.Spec.CodeID == "" {
			continue
		}
		sum, err := p.codeChecksum(ctx, wsID, st.Spec.CodeID, "step "+st.Name+": ")
		if err != nil {
			return err
		}
		sums[st.Name] = sum
	}
	if len(sums) > 0 {
		w.New.Properties["codeChecksums"] = sums
	}
	steps := make([]any, 0, len(pl.Steps))
	for _, st := range pl.Steps {
		steps = append(steps, map[string]any{"name": st.Name, "status": NotStarted, "compute": st.Spec.ComputeID, "identity": st.identityLabel(), "identitySource": st.Source})
	}
	w.New.Properties["steps"] = steps
	return nil
}

// executePipeline runs the steps in order; the first failure fails the
// pipeline and leaves the steps after it NotStarted.
func (p *Provider) executePipeline(ctx context.Context, r *arm.Resource) (string, string) {
	wsID := mustParent(r.ID)
	resolved, _ := r.Internal["resolvedJobs"].(map[string]any)
	pl, err := parsePipeline(r.Properties, resolved, wsID)
	if err != nil {
		return Failed, err.Error()
	}
	_ = p.setStatus(ctx, r.ID, Preparing, "")
	dir := p.jobDir(r.ID)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "user_logs"), 0o700); err != nil {
		return Failed, err.Error()
	}
	logf, err := os.OpenFile(logPath(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Failed, err.Error()
	}
	defer logf.Close()
	steps := make([]map[string]any, len(pl.Steps))
	for i, st := range pl.Steps {
		steps[i] = map[string]any{"name": st.Name, "status": NotStarted, "compute": st.Spec.ComputeID, "identity": st.identityLabel(), "identitySource": st.Source}
	}
	save := func() {
		out := make([]any, len(steps))
		for i, s := range steps {
			out[i] = s
		}
		// azure-ai-ml reads properties.properties (a string map) into
		// job.properties: each step's status and identity show there too.
		_ = p.UpdateResource(context.Background(), r.ID, func(cur *arm.Resource) error {
			cur.Properties["steps"] = out
			pp, _ := cur.Properties["properties"].(map[string]any)
			if pp == nil {
				pp = map[string]any{}
			}
			for _, s := range steps {
				n := str(s["name"])
				pp["amlid.step."+n+".status"] = str(s["status"])
				pp["amlid.step."+n+".identity"] = str(s["identity"])
			}
			cur.Properties["properties"] = pp
			return nil
		})
	}
	_ = p.setStatus(ctx, r.ID, Running, "")
	outDirs := map[string]string{} // "step/output" → local folder
	written := map[string]any{}    // pipeline outputs uploaded
	defer func() {
		if len(written) == 0 {
			return
		}
		outs, _ := r.Properties["outputs"].(map[string]any)
		merged := map[string]any{}
		for k, v := range outs {
			merged[k] = v
		}
		for k, v := range written {
			merged[k] = v
		}
		_ = p.setProp(context.Background(), r.ID, "outputs", merged)
	}()
	var failed []string
	broken := map[string]bool{} // steps failed, or not run since one they depend on failed
	for i, st := range pl.Steps {
		if dep := firstBroken(st.Deps, broken); dep != "" {
			broken[st.Name] = true
			steps[i]["error"] = "not run: it depends on step " + dep + ", which did not complete"
			save()
			fmt.Fprintf(logf, "amlid: pipeline %s: step %s not run (it depends on %s)\n", r.Name, st.Name, dep)
			continue
		}
		steps[i]["status"] = Running
		save()
		fmt.Fprintf(logf, "amlid: pipeline %s: step %s starts\n", r.Name, st.Name)
		err := p.runStep(ctx, r, pl, st, filepath.Join(dir, "steps", strings.ReplaceAll(st.Name, "/", "_")), outDirs, steps[i], written, logf)
		switch {
		case ctx.Err() != nil:
			steps[i]["status"] = Canceled
			save()
			return Canceled, "Canceled while running step " + st.Name + "; its processes were stopped."
		case err != nil:
			steps[i]["status"], steps[i]["error"] = Failed, err.Error()
			save()
			fmt.Fprintf(logf, "amlid: step %s failed: %v\n", st.Name, err)
			if !pl.ContinueOnStepFailure {
				return Failed, fmt.Sprintf("step %s failed: %v", st.Name, err)
			}
			failed = append(failed, fmt.Sprintf("step %s failed: %v", st.Name, err))
			broken[st.Name] = true
			continue
		}
		steps[i]["status"] = Completed
		save()
		fmt.Fprintf(logf, "amlid: pipeline %s: step %s Completed\n", r.Name, st.Name)
	}
	_ = p.setStatus(ctx, r.ID, Finalizing, "")
	if len(failed) > 0 {
		return Failed, strings.Join(failed, "\n")
	}
	return Completed, ""
}

func firstBroken(deps []string, broken map[string]bool) string {
	for _, d := range deps {
		if broken[d] {
			return d
		}
	}
	return ""
}

// runStep runs one command step on its compute's nodes with the identity
// DS-6 resolved (read as DS-5 says), its bound inputs materialised.
func (p *Provider) runStep(ctx context.Context, r *arm.Resource, pl *pipeline, st *pstep, dir string, outDirs map[string]string, rec, written map[string]any, logf io.Writer) error {
	s := st.Spec
	for _, d := range []string{"code", "inputs", "outputs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	wsID := mustParent(r.ID)
	nodes, err := p.acquireStepNodes(ctx, s)
	if err != nil {
		return err
	}
	defer func() {
		for _, n := range nodes {
			n.release()
		}
	}()
	comp, ws, rd, err := p.prepareStep(ctx, r, st, wsID, dir)
	if err != nil {
		return err
	}
	if len(nodes) > 0 {
		rd.via = nodes[0].ProxyURL // the compute's network path (DS-8)
	}
	rec["identity"], rec["principalId"] = rd.Label, rd.PrincipalID
	values, err := p.stageStepData(ctx, wsID, comp, pl, st, rd, dir, outDirs, rec)
	if err != nil {
		return err
	}
	command := placeholder.ReplaceAllStringFunc(s.Command, func(m string) string {
		k := strings.TrimSpace(placeholder.FindStringSubmatch(m)[1])
		return values[k] // substituted as written, as Azure does
	})
	env := map[string]string{}
	for k, v := range s.Env {
		env[k] = v
	}
	s2 := *s
	s2.Env = env
	if rd.Kind == "user" && p.obo != nil {
		url, closeSession := p.obo.open(rd.principal)
		defer closeSession()
		env["OBO_ENDPOINT"] = url
	}
	fmt.Fprintf(logf, "amlid: step %s running on %d node(s) of %s as %s\n", st.Name, len(nodes), comp.Name, rd.describe())
	code, err := p.runOnNodes(ctx, r, &s2, dir, command, nodes, logf)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if code != 0 {
		return fmt.Errorf("its command exited with status %d; see user_logs/std_log.txt (amlid ml job stream -n %s)", code, r.Name)
	}
	return p.uploadStepOutputs(ctx, r, ws, comp, pl, st, rd, dir, written, logf)
}

// acquireStepNodes takes a step's instance_count nodes of its compute
// (releasing those it got when one is refused).
func (p *Provider) acquireStepNodes(ctx context.Context, s *spec) ([]nodeRef, error) {
	var nodes []nodeRef
	for i := 0; i < s.Instances; i++ {
		n, release, err := p.Compute.Acquire(ctx, s.ComputeID)
		if err != nil {
			for _, h := range nodes {
				h.release()
			}
			return nil, fmt.Errorf("could not get node %d of %d on compute %s: %v", i+1, s.Instances, s.ComputeID, err)
		}
		nodes = append(nodes, nodeRef{Env: n.Env, Dir: n.Dir, ID: n.ID, ProxyURL: n.ProxyURL, release: release})
	}
	return nodes, nil
}

// prepareStep loads a step's compute and workspace, fetches its code
// snapshot and picks the identity that reads its data (DS-6, DS-5).
func (p *Provider) prepareStep(ctx context.Context, r *arm.Resource, st *pstep, wsID, dir string) (comp, ws *arm.Resource, rd *reader, err error) {
	s := st.Spec
	comp, err = ml.LoadResource(ctx, p.Store, s.ComputeID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("compute %s was not found", s.ComputeID)
	}
	ws, err = ml.LoadResource(ctx, p.Store, wsID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("workspace %s was not found", wsID)
	}
	if s.CodeID != "" {
		// fetchCode verifies the step's DS-7 checksum as a command job's.
		sums, _ := r.Properties["codeChecksums"].(map[string]any)
		props := map[string]any{"codeChecksum": str(sums[st.Name])}
		if err := p.fetchCode(ctx, &arm.Resource{ID: r.ID, Name: r.Name, Properties: props}, ws, s, filepath.Join(dir, "code")); err != nil {
			return nil, nil, nil, err
		}
	}
	rd, err = p.dataIdentity(ctx, r, comp, s)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rule DS-6 (%s): %v", st.identityLabel(), err)
	}
	return comp, ws, rd, nil
}

// stageStepData materialises a step's inputs (copies of earlier steps'
// outputs, or read as rd), records them in rec's dataAccess, and creates
// its output folders (noted in outDirs). It returns the values of the
// command's placeholders.
func (p *Provider) stageStepData(ctx context.Context, wsID string, comp *arm.Resource, pl *pipeline, st *pstep, rd *reader, dir string, outDirs map[string]string, rec map[string]any) (map[string]string, error) {
	s := st.Spec
	var accessLog []any
	values := map[string]string{}
	for _, name := range sortedKeys(s.Inputs) {
		in := s.Inputs[name]
		dest := filepath.Join(dir, "inputs", name)
		if b, ok := st.Binds[name]; ok {
			if b.Step != "" {
				src := outDirs[b.Step+"/"+b.Output]
				if err := copyTree(src, dest); err != nil {
					return nil, fmt.Errorf("input %s: the output %s of step %s: %v", name, b.Output, b.Step, err)
				}
				values["inputs."+name] = dest
				accessLog = append(accessLog, map[string]any{"input": name, "uri": "${{parent.jobs." + strings.TrimPrefix(b.Step, st.Level) + ".outputs." + b.Output + "}}", "identity": "output of step " + b.Step})
				continue
			}
			in = pl.Inputs[b.ParentInput]
		}
		if in.URI == "" {
			values["inputs."+name] = in.Value
			continue
		}
		local, used, err := p.fetchInput(ctx, wsID, comp, s, rd, name, in, dest)
		if used != nil {
			accessLog = append(accessLog, used)
		}
		if err != nil {
			rec["dataAccess"] = accessLog
			return nil, fmt.Errorf("rule DS-6: the step reads as %s: %w", st.identityLabel(), err)
		}
		values["inputs."+name] = local
	}
	rec["dataAccess"] = accessLog
	for _, name := range sortedKeys(s.Outputs) {
		d := filepath.Join(dir, "outputs", name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		values["outputs."+name] = d
		outDirs[st.Name+"/"+name] = d
	}
	return values, nil
}

// uploadStepOutputs stores a step's outputs after it completed. Outputs
// with a path of their own, and those bound to a pipeline output that has
// one, are uploaded as the step's identity (DS-5, as a command job's); a
// pipeline output without a path stays with the job. Pipeline outputs
// stored are noted in written.
func (p *Provider) uploadStepOutputs(ctx context.Context, r, ws, comp *arm.Resource, pl *pipeline, st *pstep, rd *reader, dir string, written map[string]any, logf io.Writer) error {
	s := st.Spec
	wsID := mustParent(r.ID)
	for _, name := range sortedKeys(s.Outputs) {
		o := s.Outputs[name]
		target, label := o, name
		if o.Parent != "" {
			target, label = pl.Outputs[o.Parent], "pipeline output "+o.Parent+" (from "+name+")"
			if target.Type == "" {
				target.Type = o.Type
			}
		}
		uri, n, err := p.uploadOutput(ctx, wsID, comp, rd, r.Name, label, target, filepath.Join(dir, "outputs", name))
		if err != nil {
			fmt.Fprintf(logf, "amlid: step %s: output %s: %v\n", st.Name, name, err)
			return err
		}
		by := rd.describe()
		if uri == "" && o.Parent != "" && target.URI == "" && pl.DefaultDatastore != "" && !strings.EqualFold(pl.DefaultDatastore, datastore.DefaultDatastore) {
			// settings.default_datastore: written there as the step's
			// identity (DS-5), as an output with that path would be.
			target.URI = "azureml://datastores/" + pl.DefaultDatastore + "/paths/" + defaultOutputPath(r.Name, o.Parent)
			if uri, n, err = p.uploadOutput(ctx, wsID, comp, rd, r.Name, label, target, filepath.Join(dir, "outputs", name)); err != nil {
				fmt.Fprintf(logf, "amlid: step %s: output %s: %v\n", st.Name, name, err)
				return err
			}
		}
		if uri == "" && o.Parent != "" && target.URI == "" {
			by = "the workspace's identity (the service stores outputs without a path)"
			// A pipeline output without a path: the default datastore's
			// azureml/<pipeline job>/<output>/, as a command job's (artifacts.go).
			if uri, n, err = p.publishOutput(ctx, ws, r.Name, o.Parent, filepath.Join(dir, "outputs", name)); err != nil {
				fmt.Fprintf(logf, "amlid: pipeline output %s could not be stored in the default datastore (it stays with the job): %v\n", o.Parent, err)
				uri = ""
			}
		}
		if uri != "" {
			fmt.Fprintf(logf, "amlid: step %s: %s: %d file(s) uploaded to %s as %s\n", st.Name, label, n, uri, by)
			if o.Parent != "" {
				written[o.Parent] = map[string]any{"jobOutputType": firstNonEmpty(target.Type, "uri_folder"), "uri": uri, "mode": firstNonEmpty(target.Mode, "ReadWriteMount")}
			}
		}
	}
	return nil
}

// copyTree copies a step's output folder to a later step's input (a
// read-only local copy, as ro_mount and download are).
func copyTree(src, dst string) error {
	if src == "" {
		return fmt.Errorf("it was not produced")
	}
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o400)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

var _ = sort.Strings
