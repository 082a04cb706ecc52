package job

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/arm"
)

// parseSpec reads a command job's inputs, outputs (with a pipeline
// binding) and identity, and refuses with a 400 naming the field what it
// cannot run; the pipeline's inputs, outputs and identity go through the
// same reading.
func TestParseSpecInputsOutputsIdentity(t *testing.T) {
	base := func(extra map[string]any) map[string]any {
		p := map[string]any{"jobType": "Command", "command": "python x.py", "computeId": "azureml:cpu"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	s, err := parseSpec(base(map[string]any{
		"inputs":   map[string]any{"data": map[string]any{"jobInputType": "uri_folder", "uri": "azureml://datastores/ds/paths/d", "mode": "download"}},
		"outputs":  map[string]any{"model": map[string]any{"jobOutputType": "uri_folder", "value": " ${{parent.outputs.trained}} "}},
		"identity": map[string]any{"identityType": "Managed", "clientId": "c1"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if in := s.Inputs["data"]; in != (input{Type: "uri_folder", URI: "azureml://datastores/ds/paths/d", Mode: "download"}) {
		t.Errorf("input: %+v", in)
	}
	if o := s.Outputs["model"]; o.Type != "uri_folder" || o.Parent != "trained" {
		t.Errorf("output: %+v", o)
	}
	if s.Identity != (jobIdentity{Type: "Managed", ClientID: "c1"}) {
		t.Errorf("identity: %+v", s.Identity)
	}
	refused := func(name string, err error, want string) {
		t.Helper()
		var ae *arm.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, want) {
			t.Errorf("%s: %v, want a 400 saying %q", name, err, want)
		}
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  string
	}{
		{"input not an object", map[string]any{"inputs": map[string]any{"d": "x"}}, "properties.inputs.d must be an object."},
		{"input name", map[string]any{"inputs": map[string]any{"../d": map[string]any{"jobInputType": "literal"}}}, `The input name "../d" is not valid`},
		{"input type", map[string]any{"inputs": map[string]any{"d": map[string]any{"uri": "u"}}}, "properties.inputs.d.jobInputType is required"},
		{"output not an object", map[string]any{"outputs": map[string]any{"o": 1}}, "properties.outputs.o must be an object."},
		{"output name", map[string]any{"outputs": map[string]any{"a b": map[string]any{}}}, `The output name "a b" is not valid`},
		{"identity type", map[string]any{"identity": map[string]any{"identityType": "Root"}}, "identityType 'Root' is not UserIdentity, Managed or AMLToken."},
	} {
		_, err := parseSpec(base(tc.extra))
		refused(tc.name, err, tc.want)
	}
	for _, tc := range []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"pipeline input not an object", map[string]any{"inputs": map[string]any{"d": []any{}}}, "properties.inputs.d must be an object."},
		{"pipeline output name", map[string]any{"outputs": map[string]any{"a/b": map[string]any{}}}, `The pipeline output name "a/b" is not valid`},
		{"pipeline identity type", map[string]any{"identity": map[string]any{"identityType": "Nobody"}}, "identityType 'Nobody' is not UserIdentity"},
	} {
		_, err := parsePipeline(tc.props, map[string]any{}, "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w")
		refused(tc.name, err, tc.want)
	}
}
