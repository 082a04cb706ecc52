package job

// Pipelines as azure-ai-ml 1.4.0 submits them (@dsl.pipeline with command()
// or load_component steps): the SDK first registers each step's component
// (workspaces/components/{name}/versions/{v}; anonymous ones under
// azureml_anonymous) and then PUTs a pipeline job whose jobs name them by
// componentId, in the node dictionaries' snake_case:
//
//	"a": {"type": "command", "componentId": "/subscriptions/…/components/azureml_anonymous/versions/<hash>",
//	      "inputs": {"raw": {"job_input_type": "literal", "value": "${{parent.inputs.raw}}"}},
//	      "outputs": {"model": {"value": "${{parent.outputs.model}}", "type": "literal"}},
//	      "identity": {"type": "managed_identity", "client_id": …}, "computeId": …,
//	      "resources": {"instance_count": 2}, "environment_variables": {…}}
//
// resolveSteps turns that into the step shape the DS-6 runner reads
// (command, codeId, environmentId, inputs with jobInputType, identity with
// identityType), taking the command, code, environment and declared inputs
// and outputs from the component version. It runs at submission: the job
// keeps the resolved steps (Internal["resolvedJobs"]), so what runs is what
// was submitted, while GET returns the body as the SDK sent it.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
)

// resolveSteps resolves a jobs map (the pipeline's, or a pipeline
// component's); where names the level for messages ("" or "comp/").
func (p *Provider) resolveSteps(ctx context.Context, wsID string, jobs map[string]any, where string) (map[string]any, error) {
	out := make(map[string]any, len(jobs))
	for _, name := range sortedKeys(jobs) {
		m, _ := jobs[name].(map[string]any)
		if m == nil {
			out[name] = jobs[name] // parsePipeline says what is wrong
			continue
		}
		step := where + name
		cref := str(m["componentId"])
		if cref == "" {
			cref = str(m["component"]) // YAML: component: azureml:<name>:<version>
		}
		t := strings.ToLower(firstNonEmpty(str(m["type"]), str(m["jobType"]), "command"))
		if cref == "" {
			if t == "pipeline" {
				sub, _ := m["jobs"].(map[string]any)
				if c, ok := m["component"].(map[string]any); ok && sub == nil {
					sub, _ = c["jobs"].(map[string]any)
				}
				rs, err := p.resolveSteps(ctx, wsID, sub, step+"/")
				if err != nil {
					return nil, err
				}
				outs, _ := m["outputs"].(map[string]any)
				cp := copyMap(m)
				cp["jobs"] = rs
				cp["amlidOutputs"] = bindComponentOutputs(rs, outs)
				delete(cp, "component")
				out[name] = cp
				continue
			}
			// An inline step (amlid's CLI sends the REST shape): as it is,
			// but for a node-shaped identity.
			cp := copyMap(m)
			if idm, ok := m["identity"].(map[string]any); ok && idm != nil {
				cp["identity"] = access.JobIdentity(idm)
			}
			out[name] = cp
			continue
		}
		comp, err := p.loadComponent(ctx, wsID, cref)
		if err != nil {
			return nil, badRequest("step %s: %v", step, err)
		}
		spec, _ := comp.Prop("componentSpec").(map[string]any)
		switch ct := strings.ToLower(firstNonEmpty(str(spec["type"]), "command")); ct {
		case "command":
			st, err := normalizeStep(step, m, spec)
			if err != nil {
				return nil, err
			}
			st["amlidComponentId"] = comp.ID
			out[name] = st
		case "pipeline":
			sub, _ := spec["jobs"].(map[string]any)
			rs, err := p.resolveSteps(ctx, wsID, sub, step+"/")
			if err != nil {
				return nil, err
			}
			// The component's ${{parent.inputs.x}} are this step's inputs.
			ins, _ := m["inputs"].(map[string]any)
			bindComponentInputs(rs, ins)
			outs, _ := m["outputs"].(map[string]any)
			cp := map[string]any{"type": "pipeline", "jobs": rs, "amlidComponentId": comp.ID, "amlidOutputs": bindComponentOutputs(rs, outs)}
			if idm, ok := m["identity"].(map[string]any); ok {
				cp["identity"] = access.JobIdentity(idm)
			}
			out[name] = cp
		default:
			return nil, badRequest("step %s: component %s is of type '%s': amlid runs command and pipeline components.", step, comp.ID, ct)
		}
	}
	// A step that reads ${{parent.jobs.<component>.outputs.<o>}} reads the
	// output of the component's step that produces o.
	for _, v := range out {
		st, _ := v.(map[string]any)
		rewriteComponentOutputRefs(st, out)
	}
	return out, nil
}

// bindComponentOutputs maps a pipeline component's outputs to the inner
// steps bound to them (${{parent.outputs.o}} inside): it returns o →
// "<inner step>/<output>" (relative to the component) and rewrites each such
// binding to what the component's node binds o to (${{parent.outputs.x}}
// of the enclosing pipeline), or drops it (the output stays with its step).
func bindComponentOutputs(steps map[string]any, nodeOuts map[string]any) map[string]any {
	produced := map[string]any{}
	var walk func(steps map[string]any, rel string)
	walk = func(steps map[string]any, rel string) {
		for _, sn := range sortedKeys(steps) {
			st, _ := steps[sn].(map[string]any)
			if sub, ok := st["jobs"].(map[string]any); ok {
				walk(sub, rel+sn+"/")
				continue
			}
			outs, _ := st["outputs"].(map[string]any)
			for on, ov := range outs {
				o, _ := ov.(map[string]any)
				b := parentOutputRE.FindStringSubmatch(strings.TrimSpace(str(o["value"])))
				if b == nil {
					continue
				}
				produced[b[1]] = rel + sn + "/" + on
				o = copyMap(o)
				delete(o, "value")
				var outer string
				switch x := nodeOuts[b[1]].(type) {
				case string:
					outer = x
				case map[string]any:
					outer = str(x["value"])
				}
				if parentOutputRE.MatchString(strings.TrimSpace(outer)) {
					o["value"] = outer
				}
				outs[on] = o
			}
		}
	}
	walk(steps, "")
	return produced
}

// rewriteComponentOutputRefs points a step's inputs bound to a sibling
// pipeline component's output at the inner step that produces it.
// (Steps inside a component are rewritten by the resolveSteps of their own
// level.)
func rewriteComponentOutputRefs(st map[string]any, siblings map[string]any) {
	ins, _ := st["inputs"].(map[string]any)
	for name, iv := range ins {
		in, _ := iv.(map[string]any)
		b := bindRE.FindStringSubmatch(strings.TrimSpace(str(in["value"])))
		if b == nil || b[2] == "" {
			continue
		}
		comp, _ := siblings[b[2]].(map[string]any)
		produced, _ := comp["amlidOutputs"].(map[string]any)
		src := str(produced[b[3]])
		if src == "" {
			continue
		}
		i := strings.LastIndex(src, "/")
		in = copyMap(in)
		in["value"] = "${{parent.jobs." + b[2] + "/" + src[:i] + ".outputs." + src[i+1:] + "}}"
		ins[name] = in
	}
}

// loadComponent finds a component version by ARM ID (azure-ai-ml's
// componentId), or by azureml:<name>:<version> / azureml:<name>@latest.
func (p *Provider) loadComponent(ctx context.Context, wsID, ref string) (*arm.Resource, error) {
	id := strings.TrimPrefix(ref, "azureml:")
	if !strings.HasPrefix(id, "/") {
		name, version, ok := strings.Cut(id, ":")
		if !ok {
			n, latest := strings.CutSuffix(id, "@latest")
			if !latest {
				return nil, fmt.Errorf("the component '%s' names no version: use azureml:<name>:<version> or azureml:<name>@latest", ref)
			}
			v, err := p.latestComponentVersion(ctx, wsID, n)
			if err != nil {
				return nil, err
			}
			name, version = n, v
		}
		id = wsID + "/components/" + name + "/versions/" + version
	}
	c, err := ml.LoadResource(ctx, p.Store, id)
	if err != nil || !strings.EqualFold(c.Type, ml.Namespace+"/workspaces/components/versions") {
		return nil, fmt.Errorf("the component %s was not found in workspace %s: register it first (ml_client.components.create_or_update)", id, wsID)
	}
	if !strings.HasPrefix(strings.ToLower(c.ID), strings.ToLower(wsID)+"/") {
		return nil, fmt.Errorf("the component %s is not in workspace %s", c.ID, wsID)
	}
	return c, nil
}

func (p *Provider) latestComponentVersion(ctx context.Context, wsID, name string) (string, error) {
	latest, err := ml.LatestVersion(ctx, p.Store, wsID+"/components/"+name)
	if err != nil || latest == nil {
		return "", fmt.Errorf("the component %s has no version in workspace %s", name, wsID)
	}
	return latest.Name, nil
}

// normalizeStep builds a command step in the runner's shape from a node
// (and its component's spec, nil for an inline step).
func normalizeStep(step string, m, spec map[string]any) (map[string]any, error) {
	st := map[string]any{"type": "command", "jobType": "Command"}
	st["command"] = firstNonEmpty(str(spec["command"]), str(m["command"]))
	if code := firstNonEmpty(str(spec["code"]), str(m["codeId"]), str(m["code"])); code != "" {
		st["codeId"] = strings.TrimPrefix(code, "azureml:")
	}
	if env := firstNonEmpty(str(m["environmentId"]), str(spec["environment"]), str(m["environment"])); env != "" {
		st["environmentId"] = env
	}
	for _, k := range []string{"computeId", "compute"} {
		if v := str(m[k]); v != "" {
			st[k] = v
		}
	}
	env := map[string]any{}
	for _, src := range []any{spec["environment_variables"], m["environment_variables"], m["environmentVariables"]} {
		if em, ok := src.(map[string]any); ok {
			for k, v := range em {
				env[k] = v
			}
		}
	}
	if len(env) > 0 {
		st["environmentVariables"] = env
	}
	for _, src := range []any{m["resources"], spec["resources"]} {
		if rm, ok := src.(map[string]any); ok {
			if n, ok := firstAny(rm["instanceCount"], rm["instance_count"]).(float64); ok {
				st["resources"] = map[string]any{"instanceCount": n}
				break
			}
		}
	}
	if idm, ok := m["identity"].(map[string]any); ok && idm != nil {
		st["identity"] = access.JobIdentity(idm)
	}
	// Inputs: the node's bindings, checked against what the component declares.
	declIns, _ := spec["inputs"].(map[string]any)
	nodeIns, _ := m["inputs"].(map[string]any)
	ins := map[string]any{}
	for _, name := range sortedKeys(nodeIns) {
		if spec != nil {
			if _, ok := declIns[name]; !ok {
				return nil, badRequest("step %s binds input %s, which its component does not declare (it declares %s).", step, name, keyList(declIns))
			}
		}
		in, err := normalizeInput(nodeIns[name])
		if err != nil {
			return nil, badRequest("step %s: input %s: %v", step, name, err)
		}
		ins[name] = in
	}
	for _, name := range sortedKeys(declIns) {
		if _, ok := ins[name]; ok {
			continue
		}
		d, _ := declIns[name].(map[string]any)
		switch {
		case d["default"] != nil:
			ins[name] = map[string]any{"jobInputType": "literal", "value": fmt.Sprint(d["default"])}
		case d["optional"] == true:
			ins[name] = map[string]any{"jobInputType": "literal", "value": ""}
		default:
			return nil, badRequest("step %s does not bind input %s, which its component requires (no default, not optional).", step, name)
		}
	}
	st["inputs"] = ins
	// Outputs: bindings to the pipeline's outputs (${{parent.outputs.x}}),
	// or a path of their own, typed as the component declares.
	declOuts, _ := spec["outputs"].(map[string]any)
	nodeOuts, _ := m["outputs"].(map[string]any)
	outs := map[string]any{}
	for _, name := range sortedKeys(nodeOuts) {
		if spec != nil {
			if _, ok := declOuts[name]; !ok {
				return nil, badRequest("step %s binds output %s, which its component does not declare (it declares %s).", step, name, keyList(declOuts))
			}
		}
		o := map[string]any{}
		switch v := nodeOuts[name].(type) {
		case string:
			o["value"] = v
		case map[string]any:
			for k, key := range map[string]string{"jobOutputType": "job_output_type", "uri": "uri", "mode": "mode", "value": "value"} {
				if x := firstAny(v[k], v[key]); x != nil {
					o[k] = x
				}
			}
		case nil:
		default:
			return nil, badRequest("step %s: output %s must be an object or a ${{parent.outputs.<name>}} binding.", step, name)
		}
		if d, ok := declOuts[name].(map[string]any); ok && str(o["jobOutputType"]) == "" {
			o["jobOutputType"] = firstNonEmpty(str(d["type"]), "uri_folder")
		}
		outs[name] = o
	}
	for _, name := range sortedKeys(declOuts) {
		if _, ok := outs[name]; ok {
			continue
		}
		d, _ := declOuts[name].(map[string]any)
		outs[name] = map[string]any{"jobOutputType": firstNonEmpty(str(d["type"]), "uri_folder")}
	}
	st["outputs"] = outs
	return st, nil
}

// normalizeInput reads a node's input: a binding or literal
// ({job_input_type: literal, value}), data ({job_input_type: uri_file, uri,
// mode}), the REST camelCase of the same, or a bare value.
func normalizeInput(v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		in := map[string]any{}
		t := firstNonEmpty(str(x["jobInputType"]), str(x["job_input_type"]), str(x["type"]))
		if t == "" {
			if x["uri"] != nil || x["path"] != nil {
				t = "uri_folder"
			} else {
				t = "literal"
			}
		}
		in["jobInputType"] = t
		if u := firstNonEmpty(str(x["uri"]), str(x["path"])); u != "" {
			in["uri"] = u
		}
		if md := str(x["mode"]); md != "" {
			in["mode"] = md
		}
		if x["value"] != nil {
			in["value"] = fmt.Sprint(x["value"])
		}
		return in, nil
	case string:
		return map[string]any{"jobInputType": "literal", "value": x}, nil
	case float64, bool:
		return map[string]any{"jobInputType": "literal", "value": fmt.Sprint(x)}, nil
	case nil:
		return map[string]any{"jobInputType": "literal", "value": ""}, nil
	}
	return nil, fmt.Errorf("not an input object or a value")
}

// bindComponentInputs replaces ${{parent.inputs.x}} inside a pipeline
// component's steps with what the outer step binds to x.
func bindComponentInputs(steps map[string]any, outer map[string]any) {
	for _, v := range steps {
		st, _ := v.(map[string]any)
		ins, _ := st["inputs"].(map[string]any)
		for name, iv := range ins {
			in, _ := iv.(map[string]any)
			b := bindRE.FindStringSubmatch(strings.TrimSpace(str(in["value"])))
			if b == nil || b[1] == "" {
				continue
			}
			ov, ok := outer[b[1]]
			if !ok {
				continue
			}
			if n, err := normalizeInput(ov); err == nil {
				if md := str(in["mode"]); md != "" && n["mode"] == nil {
					n["mode"] = md
				}
				ins[name] = n
			}
		}
		if sub, ok := st["jobs"].(map[string]any); ok {
			bindComponentInputs(sub, outer)
		}
	}
}

// deepCopy copies decoded JSON (maps and slices; values are shared).
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func firstAny(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func keyList(m map[string]any) string {
	if len(m) == 0 {
		return "none"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
