package assets_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

const api = "2022-10-01"

// Components through ARM in-process, as azure-ai-ml registers them: a
// version's componentSpec is kept; the container numbers the next version
// and answers the SDK's "latest" list; bad specs, and pipeline jobs naming
// components that do not fit, get a 400 that says what is wrong.
func TestComponentsAndBadInput(t *testing.T) {
	e := testenv.New(t, testenv.Options{Quiet: true})
	rg := e.CreateGroup("comp")
	ws := rg + "/providers/Microsoft.MachineLearningServices/workspaces/comp-ws"
	if st, b := e.ARM(e.Admin, http.MethodPut, ws, api, map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"}}); st >= 300 {
		t.Fatalf("workspace: %d %v", st, b)
	}
	spec := func(cmd string) map[string]any {
		return map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"type": "command", "command": cmd,
			"inputs": map[string]any{"x": map[string]any{"type": "string"}}, "outputs": map[string]any{"o": map[string]any{"type": "uri_folder"}}}}}
	}
	c := ws + "/components/train"
	if st, b := e.ARM(e.Admin, http.MethodGet, c, api, nil); st != http.StatusNotFound {
		t.Fatalf("a component not yet registered: %d %v", st, b)
	}
	for _, v := range []string{"1", "7", "3"} {
		if st, b := e.ARM(e.Admin, http.MethodPut, c+"/versions/"+v, api, spec("echo "+v+" ${{inputs.x}}")); st != http.StatusOK {
			t.Fatalf("version %s: %d %v", v, st, b)
		}
	}
	st, b := e.ARM(e.Admin, http.MethodGet, c, api, nil)
	if props, _ := b["properties"].(map[string]any); st != http.StatusOK || props["nextVersion"] != "8" || props["latestVersion"] != "7" {
		t.Fatalf("container: %d %v", st, b)
	}
	// Immutable spec: a second PUT keeps the first command.
	e.ARM(e.Admin, http.MethodPut, c+"/versions/1", api, spec("echo changed"))
	if _, b := e.ARM(e.Admin, http.MethodGet, c+"/versions/1", api, nil); !strings.Contains(fmt.Sprint(b), "echo 1 ") {
		t.Fatalf("version 1 after a re-PUT: %v", b)
	}
	// The SDK's latest label: the most recently created version, "3".
	_, b = e.ARM(e.Admin, http.MethodGet, c+"/versions?api-version="+api+"&$orderBy=createdtime%20desc&$top=1", "", nil)
	var latest []any
	for i := 0; i < 5; i++ { // the SDK follows nextLink until an item comes
		latest, _ = b["value"].([]any)
		next, _ := b["nextLink"].(string)
		if len(latest) > 0 || next == "" {
			break
		}
		_, b = e.ARM(e.Admin, http.MethodGet, strings.TrimPrefix(next, strings.TrimSuffix(e.URL(), "/")), "", nil)
	}
	if len(latest) != 1 || latest[0].(map[string]any)["name"] != "3" {
		t.Fatalf("latest: %v", b)
	}
	if _, b := e.ARM(e.Admin, http.MethodGet, c+"/versions", api, nil); len(b["value"].([]any)) != 3 {
		t.Fatalf("all versions: %v", b)
	}

	bad := []struct {
		name string
		body map[string]any
		want string
	}{
		{"no spec", map[string]any{"properties": map[string]any{}}, "componentSpec is required"},
		{"sweep", map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"type": "sweep"}}}, "'sweep' is not supported"},
		{"no command", map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"type": "command"}}}, "command is required"},
		{"ghost code", map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"command": "x", "code": "azureml:" + ws + "/codes/ghost/versions/1"}}}, "does not exist"},
		{"inputs list", map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"command": "x", "inputs": []any{"a"}}}}, "inputs must be an object"},
		{"empty pipeline", map[string]any{"properties": map[string]any{"componentSpec": map[string]any{"type": "pipeline"}}}, "jobs is required"},
	}
	for _, tc := range bad {
		st, b := e.ARM(e.Admin, http.MethodPut, ws+"/components/bad/versions/1", api, tc.body)
		if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(b), tc.want) {
			t.Errorf("%s: %d %v", tc.name, st, b)
		}
	}

	// Pipeline jobs as azure-ai-ml sends them, naming components that do
	// not exist or do not fit.
	pipeline := func(step map[string]any) map[string]any {
		return map[string]any{"properties": map[string]any{"jobType": "Pipeline", "computeId": ws + "/computes/none",
			"jobs": map[string]any{"a": step}}}
	}
	jobs := []struct {
		name string
		step map[string]any
		want string
	}{
		{"ghost component", map[string]any{"type": "command", "componentId": ws + "/components/ghost/versions/1"}, "component " + ws + "/components/ghost/versions/1 was not found"},
		{"other workspace", map[string]any{"type": "command", "componentId": rg + "/providers/Microsoft.MachineLearningServices/workspaces/other/components/train/versions/1"}, "was not found in workspace"},
		{"undeclared input", map[string]any{"type": "command", "componentId": c + "/versions/1",
			"inputs": map[string]any{"x": map[string]any{"job_input_type": "literal", "value": "1"}, "y": map[string]any{"job_input_type": "literal", "value": "2"}}}, "binds input y"},
		{"unbound input", map[string]any{"type": "command", "componentId": c + "/versions/1"}, "does not bind input x"},
		{"bad identity", map[string]any{"type": "command", "componentId": c + "/versions/1",
			"inputs": map[string]any{"x": map[string]any{"job_input_type": "literal", "value": "1"}}, "identity": map[string]any{"type": "root_identity"}}, "root_identity"},
		{"unknown pipeline output", map[string]any{"type": "command", "componentId": c + "/versions/1",
			"inputs":  map[string]any{"x": map[string]any{"job_input_type": "literal", "value": "1"}},
			"outputs": map[string]any{"o": map[string]any{"value": "${{parent.outputs.nope}}", "type": "literal"}}}, "pipeline output nope"},
	}
	for _, tc := range jobs {
		st, b := e.ARM(e.Admin, http.MethodPut, ws+"/jobs/pl-"+strings.ReplaceAll(tc.name, " ", "-"), api, pipeline(tc.step))
		if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(b), tc.want) || !strings.Contains(fmt.Sprint(b), "step a") {
			t.Errorf("%s: %d %v", tc.name, st, b)
		}
	}
}
