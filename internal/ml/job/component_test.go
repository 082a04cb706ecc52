package job

import (
	"fmt"
	"strings"
	"testing"
)

// A node as azure-ai-ml 1.4.0 sends it in a pipeline's jobs, with its
// component's spec, becomes a command step the DS-6 runner reads.
func TestNormalizeStepFromComponent(t *testing.T) {
	spec := map[string]any{
		"type": "command", "command": "python train.py ${{inputs.data}} ${{inputs.lr}} ${{inputs.opt}} ${{outputs.model}}",
		"code":        "azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/codes/c/versions/1",
		"environment": "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
		"inputs": map[string]any{"data": map[string]any{"type": "uri_folder"}, "lr": map[string]any{"type": "number", "default": 0.1},
			"opt": map[string]any{"type": "string", "optional": true}},
		"outputs":               map[string]any{"model": map[string]any{"type": "uri_folder"}, "extra": map[string]any{"type": "uri_file"}},
		"environment_variables": map[string]any{"A": "1"},
	}
	node := map[string]any{
		"type": "command", "componentId": "/subscriptions/s/…/components/azureml_anonymous/versions/x",
		"inputs":                map[string]any{"data": map[string]any{"job_input_type": "literal", "value": "${{parent.jobs.prep.outputs.out}}"}},
		"outputs":               map[string]any{"model": map[string]any{"value": "${{parent.outputs.model}}", "type": "literal"}},
		"identity":              map[string]any{"type": "user_identity"},
		"resources":             map[string]any{"instance_count": 2.0},
		"environment_variables": map[string]any{"B": "2"},
		"computeId":             "cpu",
	}
	st, err := normalizeStep("train", node, spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSpec(st)
	if err != nil {
		t.Fatalf("the normalized step does not parse: %v\n%v", err, st)
	}
	if !strings.HasPrefix(s.CodeID, "/subscriptions/") || s.Identity.Type != "UserIdentity" || s.Instances != 2 || s.Env["A"] != "1" || s.Env["B"] != "2" {
		t.Errorf("spec: %+v", s)
	}
	if s.Inputs["data"].Value != "${{parent.jobs.prep.outputs.out}}" || s.Inputs["lr"].Value != "0.1" || s.Inputs["opt"].Value != "" {
		t.Errorf("inputs: %+v", s.Inputs)
	}
	if s.Outputs["model"].Parent != "model" || s.Outputs["model"].Type != "uri_folder" || s.Outputs["extra"].Type != "uri_file" {
		t.Errorf("outputs: %+v", s.Outputs)
	}

	// Bad nodes get a message naming the step and the input or output.
	bad := []struct {
		name string
		node map[string]any
		want string
	}{
		{"undeclared input", map[string]any{"inputs": map[string]any{"data": "x", "nope": "1"}}, "binds input nope"},
		{"missing required input", map[string]any{"inputs": map[string]any{}}, "does not bind input data"},
		{"undeclared output", map[string]any{"inputs": map[string]any{"data": "x"}, "outputs": map[string]any{"zzz": map[string]any{}}}, "binds output zzz"},
		{"bad output", map[string]any{"inputs": map[string]any{"data": "x"}, "outputs": map[string]any{"model": 3.0}}, "output model must be"},
		{"bad input", map[string]any{"inputs": map[string]any{"data": []any{}}}, "input data"},
	}
	for _, c := range bad {
		if _, err := normalizeStep("train", c.node, spec); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "train") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// A pipeline whose step binds an output to a pipeline output it does not
// declare is refused; a declared one parses with its path.
func TestPipelineOutputBinding(t *testing.T) {
	step := func() map[string]any {
		return map[string]any{"type": "command", "command": "echo ${{outputs.o}}", "computeId": "cpu",
			"outputs": map[string]any{"o": map[string]any{"jobOutputType": "uri_folder", "value": "${{parent.outputs.model}}"}}}
	}
	props := map[string]any{"jobType": "Pipeline", "jobs": map[string]any{"s": step()}}
	if _, err := parsePipeline(props, nil, "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"); err == nil ||
		!strings.Contains(err.Error(), "pipeline output model, which the pipeline does not declare") {
		t.Fatalf("undeclared pipeline output: %v", err)
	}
	props["outputs"] = map[string]any{"model": map[string]any{"jobOutputType": "uri_folder", "uri": "azureml://datastores/d/paths/m/"}}
	pl, err := parsePipeline(props, nil, "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w")
	if err != nil {
		t.Fatal(err)
	}
	if pl.Outputs["model"].URI != "azureml://datastores/d/paths/m/" || pl.Steps[0].Spec.Outputs["o"].Parent != "model" {
		t.Fatalf("pipeline: %+v %+v", pl.Outputs, pl.Steps[0].Spec.Outputs)
	}
}

// A pipeline component's outputs: the inner step bound to the component's
// output o feeds a later step that reads ${{parent.jobs.<component>.outputs.o}}
// and, when the component's node binds o to a pipeline output, uploads there.
func TestComponentOutputsResolve(t *testing.T) {
	jobs := map[string]any{
		"s": map[string]any{"type": "pipeline", "outputs": map[string]any{"o": "${{parent.outputs.mid}}"},
			"jobs": map[string]any{"a": map[string]any{"type": "command", "command": "echo ${{outputs.prepped}}", "computeId": "cpu",
				"outputs": map[string]any{"prepped": map[string]any{"jobOutputType": "uri_folder", "value": "${{parent.outputs.o}}"}}}}},
		"t": map[string]any{"type": "command", "command": "cat ${{inputs.d}}", "computeId": "cpu",
			"inputs": map[string]any{"d": map[string]any{"jobInputType": "literal", "value": "${{parent.jobs.s.outputs.o}}"}}},
	}
	p := &Provider{}
	before := fmt.Sprint(jobs)
	resolved, err := p.resolveSteps(t.Context(), "/ws", deepCopy(jobs).(map[string]any), "")
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]any{"jobType": "Pipeline", "outputs": map[string]any{"mid": map[string]any{"jobOutputType": "uri_folder"}}}
	pl, err := parsePipeline(props, resolved, "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(jobs) != before {
		t.Errorf("resolving changed the body:\n%s\n%s", before, fmt.Sprint(jobs))
	}
	if len(pl.Steps) != 2 || pl.Steps[0].Name != "s/a" || pl.Steps[1].Name != "t" {
		t.Fatalf("steps: %+v", pl.Steps)
	}
	if b := pl.Steps[1].Binds["d"]; b.Step != "s/a" || b.Output != "prepped" {
		t.Errorf("t reads %+v, want s/a's prepped", b)
	}
	if o := pl.Steps[0].Spec.Outputs["prepped"]; o.Parent != "mid" {
		t.Errorf("s/a's output should upload to the pipeline output mid: %+v", o)
	}
	// Not bound by the component's node: the output stays with its step.
	delete(jobs["s"].(map[string]any), "outputs")
	resolved, err = p.resolveSteps(t.Context(), "/ws", jobs, "")
	if err != nil {
		t.Fatal(err)
	}
	if pl, err = parsePipeline(props, resolved, "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w"); err != nil {
		t.Fatal(err)
	}
	if o := pl.Steps[0].Spec.Outputs["prepped"]; o.Parent != "" {
		t.Errorf("unbound component output: %+v", o)
	}
}

// Input and output names are folders (of the job's folder, of an output's
// default path): they may not climb out.
func TestOutputNamesAreFolders(t *testing.T) {
	props := map[string]any{"jobType": "Command", "command": "true", "computeId": "c",
		"outputs": map[string]any{"../other/out": map[string]any{"jobOutputType": "uri_folder"}}}
	if _, err := parseSpec(props); err == nil || !strings.Contains(err.Error(), "output name") {
		t.Errorf("command job: %v", err)
	}
	props["outputs"] = nil
	props["inputs"] = map[string]any{"../../in": map[string]any{"jobInputType": "literal", "value": "1"}}
	if _, err := parseSpec(props); err == nil || !strings.Contains(err.Error(), "input name") {
		t.Errorf("command job input: %v", err)
	}
	pl := map[string]any{"jobType": "Pipeline", "outputs": map[string]any{"a/../../b": map[string]any{}},
		"jobs": map[string]any{"s": map[string]any{"command": "true", "computeId": "c"}}}
	if _, err := parsePipeline(pl, nil, "/ws"); err == nil || !strings.Contains(err.Error(), "output name") {
		t.Errorf("pipeline: %v", err)
	}
	if _, _, err := (&Provider{}).publishOutput(t.Context(), nil, "job", "../x", t.TempDir()); err == nil {
		t.Errorf("publishOutput accepted ../x")
	}
}

// azure-ai-ml's pipeline settings: default_datastore as an ARM ID, and
// continue_on_step_failure.
func TestPipelineSettings(t *testing.T) {
	props := map[string]any{"jobType": "Pipeline", "settings": map[string]any{"_source": "DSL", "continue_on_step_failure": true,
		"default_datastore": "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/datastores/mydata"},
		"jobs": map[string]any{"s": map[string]any{"command": "true", "computeId": "c"}}}
	pl, err := parsePipeline(props, nil, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	if pl.DefaultDatastore != "mydata" || !pl.ContinueOnStepFailure {
		t.Errorf("settings: %+v", pl)
	}
	props["settings"] = map[string]any{"default_datastore": "azureml:../../x y"}
	if _, err := parsePipeline(props, nil, "/ws"); err == nil || !strings.Contains(err.Error(), "default_datastore") {
		t.Errorf("bad default_datastore: %v", err)
	}
}
