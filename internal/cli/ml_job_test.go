package cli

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// jobBody maps a command job's YAML to azure-ai-ml's REST body without a
// request when nothing is uploaded (no code, remote inputs), and refuses
// what amlid cannot run with exit 2 naming the field to fix.
func TestJobBody(t *testing.T) {
	dir := t.TempDir()
	spec := func(t *testing.T, text string) *mlSpec {
		t.Helper()
		p := filepath.Join(dir, "job.yml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := loadMLSpec(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ws := &wsCtx{path: "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w", name: "w"}
	a := &app{}
	body, err := a.jobBody(context.Background(), ws, spec(t, `
command: python run.py ${{inputs.data}}
display_name: census
environment: azureml:env:1
compute: azureml:cpu
tags: {team: ml}
inputs:
  data: {type: uri_file, path: azureml://datastores/ds/paths/census.csv, mode: download}
  rate: 0.5
outputs:
  model: {path: azureml://datastores/ds/paths/out, mode: upload}
  plain: {}
identity: {type: managed, client_id: c1}
environment_variables: {A: "1"}
resources: {instance_count: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"tags": map[string]any{"team": "ml"},
		"properties": map[string]any{
			"jobType": "Command", "command": "python run.py ${{inputs.data}}", "displayName": "census",
			"environmentId": "azureml:env:1", "computeId": ws.path + "/computes/cpu",
			"inputs": map[string]any{
				"data": map[string]any{"jobInputType": "uri_file", "uri": "azureml://datastores/ds/paths/census.csv", "mode": "download"},
				"rate": map[string]any{"jobInputType": "literal", "value": "0.5"},
			},
			"outputs": map[string]any{
				"model": map[string]any{"jobOutputType": "uri_folder", "uri": "azureml://datastores/ds/paths/out", "mode": "upload"},
				"plain": map[string]any{"jobOutputType": "uri_folder"},
			},
			"identity":             map[string]any{"identityType": "Managed", "clientId": "c1"},
			"environmentVariables": map[string]any{"A": "1"},
			"resources":            map[string]any{"instanceCount": float64(2)},
		},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("jobBody:\n got %#v\nwant %#v", body, want)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"command: x\ncompute: c\ncolour: red\n", "unknown field(s): colour"},
		{"type: sweep\ncommand: x\ncompute: c\n", `job type "sweep" is not supported`},
		{"command: ' '\ncompute: c\n", "the job has no command"},
		{"command: x\n", "the job names no compute"},
		{"command: x\ncompute: c\ninputs: {d: {type: uri_folder}}\n", "input d has no path"},
		{"command: x\ncompute: c\nidentity: {type: root}\n", `identity type "root" is not user_identity, managed or aml_token`},
		{"command: x\ncompute: c\nresources: {instance_count: many}\n", "resources.instance_count must be a number"},
	} {
		_, err := a.jobBody(context.Background(), ws, spec(t, tc.yaml))
		ce, ok := err.(*cliError)
		if !ok || ce.Exit != exitUsage || !strings.Contains(ce.Message, tc.want) {
			t.Errorf("jobBody(%q) = %v, want exit %d saying %q", tc.yaml, err, exitUsage, tc.want)
		}
	}
}
