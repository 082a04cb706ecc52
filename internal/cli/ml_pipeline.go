package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"go.yaml.in/yaml/v3"
)

// pipelineYAMLKeys are the pipeline job keys of azure-ai-ml's schema amlid
// reads.
var pipelineYAMLKeys = []string{"$schema", "type", "name", "display_name", "experiment_name", "description", "tags", "settings",
	"inputs", "outputs", "identity", "jobs", "compute"}

// pipelineBody maps a pipeline job YAML (type: pipeline; jobs: a map of
// command steps and pipeline components; settings.default_compute; inputs;
// outputs; identity) to the REST body: each command step is mapped as a
// command job is, its inputs bound with ${{parent.inputs.x}} and
// ${{parent.jobs.<step>.outputs.<o>}} kept as literal bindings.
func (a *app) pipelineBody(ctx context.Context, ws *wsCtx, spec *mlSpec) (map[string]any, error) {
	if err := spec.checkKeys("pipeline job", pipelineYAMLKeys...); err != nil {
		return nil, err
	}
	props := map[string]any{"jobType": "Pipeline"}
	for k, p := range map[string]string{"display_name": "displayName", "experiment_name": "experimentName", "description": "description"} {
		if v := spec.str(k); v != "" {
			props[p] = v
		}
	}
	settings := map[string]any{}
	for k, v := range spec.sub("settings") {
		settings[k] = v
	}
	if c := spec.str("compute"); c != "" && settings["default_compute"] == nil {
		settings["default_compute"] = c
	}
	def, _ := settings["default_compute"].(string)
	if def != "" {
		settings["default_compute"] = strings.TrimPrefix(def, "azureml:")
	}
	props["settings"] = settings
	// The pipeline's inputs and identity: a one-line command job maps them
	// the way command jobs are mapped.
	root := map[string]any{"command": "true", "compute": "x"}
	for _, k := range []string{"inputs", "identity"} {
		if v, ok := spec.m[k]; ok {
			root[k] = v
		}
	}
	rb, err := a.jobBody(ctx, ws, &mlSpec{m: root, dir: spec.dir})
	if err != nil {
		return nil, err
	}
	rp := rb["properties"].(map[string]any)
	props["inputs"] = rp["inputs"]
	if id, ok := rp["identity"]; ok {
		props["identity"] = id
	}
	outputs := map[string]any{}
	for name, v := range spec.sub("outputs") {
		m, _ := v.(map[string]any)
		t, _ := m["type"].(string)
		out := map[string]any{"jobOutputType": firstNonEmpty(t, "uri_folder")}
		if p, _ := m["path"].(string); p != "" {
			out["uri"] = p // where a step bound to it (${{parent.outputs.<name>}}) uploads
		}
		if mode, _ := m["mode"].(string); mode != "" {
			out["mode"] = mode
		}
		outputs[name] = out
	}
	props["outputs"] = outputs
	jobs, err := a.pipelineSteps(ctx, ws, spec, spec.sub("jobs"), strings.TrimPrefix(def, "azureml:"), "")
	if err != nil {
		return nil, err
	}
	props["jobs"] = jobs
	body := map[string]any{"properties": props}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	return body, nil
}

// pipelineSteps maps a jobs: map; a step of type pipeline is a pipeline
// component (inline under component:, or a file component: ./x.yml).
func (a *app) pipelineSteps(ctx context.Context, ws *wsCtx, spec *mlSpec, jobs map[string]any, def, level string) (map[string]any, error) {
	if len(jobs) == 0 {
		return nil, usageErr("the pipeline %shas no steps (jobs: {<name>: {type: command, command: …}})", map[bool]string{true: "component " + strings.TrimSuffix(level, "/") + " ", false: ""}[level != ""])
	}
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]any{}
	for _, name := range names {
		m, ok := jobs[name].(map[string]any)
		if !ok {
			return nil, usageErr("step %s%s must be a mapping", level, name)
		}
		t, _ := m["type"].(string)
		switch strings.ToLower(firstNonEmpty(t, "command")) {
		case "pipeline":
			comp, dir, err := componentOf(spec, m)
			if err != nil {
				return nil, usageErr("step %s%s: %v", level, name, err)
			}
			sub, _ := comp["jobs"].(map[string]any)
			cdef := def
			if s, ok := comp["settings"].(map[string]any); ok {
				if d, _ := s["default_compute"].(string); d != "" {
					cdef = strings.TrimPrefix(d, "azureml:")
				}
			}
			steps, err := a.pipelineSteps(ctx, ws, &mlSpec{m: comp, dir: dir}, sub, cdef, level+name+"/")
			if err != nil {
				return nil, err
			}
			st := map[string]any{"type": "pipeline", "jobs": steps}
			if id, ok := firstMap(m["identity"], comp["identity"]); ok {
				st["identity"] = id // recorded; DS-6 ignores it inside a component
			}
			out[name] = st
		case "command":
			cp := map[string]any{}
			for k, v := range m {
				if k != "type" && k != "component" {
					cp[k] = v
				}
			}
			if _, ok := cp["compute"]; !ok {
				if def == "" {
					return nil, usageErr("step %s%s names no compute and the pipeline has no settings.default_compute", level, name)
				}
				cp["compute"] = def
			}
			b, err := a.jobBody(ctx, ws, &mlSpec{m: cp, dir: spec.dir})
			if err != nil {
				return nil, usageErr("step %s%s: %v", level, name, err)
			}
			p := b["properties"].(map[string]any)
			p["type"] = "command"
			out[name] = p
		default:
			return nil, usageErr("step %s%s has type %q: amlid runs command steps and pipeline components", level, name, t)
		}
	}
	return out, nil
}

func firstMap(vs ...any) (map[string]any, bool) {
	for _, v := range vs {
		if m, ok := v.(map[string]any); ok && m != nil {
			return m, true
		}
	}
	return nil, false
}

// componentOf reads a pipeline step's component: inline, or a YAML file.
func componentOf(spec *mlSpec, step map[string]any) (map[string]any, string, error) {
	switch c := step["component"].(type) {
	case map[string]any:
		return c, spec.dir, nil
	case string:
		p := spec.path(strings.TrimPrefix(c, "file:"))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("cannot read its component %s: %v", c, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil || m == nil {
			return nil, "", fmt.Errorf("its component %s is not valid YAML", c)
		}
		return m, filepath.Dir(p), nil
	case nil:
		if j, ok := step["jobs"].(map[string]any); ok {
			return map[string]any{"jobs": j}, spec.dir, nil
		}
	}
	return nil, "", fmt.Errorf("a pipeline step needs its component (component: {type: pipeline, jobs: …} or component: ./component.yml)")
}

// hypotheticalPipeline is the pipeline job a `ml job create -f` would
// submit, as the signed-in principal, without uploading its steps' code.
func (a *app) hypotheticalPipeline(ctx context.Context, ws *wsCtx, spec *mlSpec) (*arm.Resource, error) {
	m := stripCode(spec.m).(map[string]any)
	body, err := a.pipelineBody(ctx, ws, &mlSpec{m: m, dir: spec.dir})
	if err != nil {
		return nil, err
	}
	props := body["properties"].(map[string]any)
	oid, err := a.callerObjectID(ctx)
	if err != nil {
		return nil, err
	}
	tenant := ""
	if t, _ := a.target(); t != nil {
		tenant = t.TenantID
	}
	props["amlidSubmittedBy"] = map[string]any{"objectId": oid, "tenantId": tenant}
	name := firstNonEmpty(spec.str("name"), "what-if")
	return &arm.Resource{ID: ws.path + "/jobs/" + url.PathEscape(name), Name: name, Type: catalog.TypeJob, Properties: props}, nil
}

// stripCode copies a pipeline YAML without its steps' code (what-if
// uploads nothing).
func stripCode(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if k == "code" {
				continue
			}
			out[k] = stripCode(x)
		}
		return out
	}
	return v
}
