package assets

import (
	"context"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
)

// Components (workspaces/components/{name}/versions/{v}): what azure-ai-ml
// registers before it submits a pipeline job whose steps refer to them by
// componentId. A version carries properties.componentSpec, the component's
// YAML as a dictionary (type, command, code, environment, inputs, outputs,
// or jobs for a pipeline component). Anonymous components (the SDK's
// command() steps) live under the name azureml_anonymous with a hash as
// version. Lists, "latest" and the container's latestVersion/nextVersion
// are the ML core's (ml.AssetVersionTypes).

func (p *Provider) registerComponents(reg *arm.Registry) {
	p.AssetVersionTypes(reg, &arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/components", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: assetName,
	}, &arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/components/versions", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: assetName,
		Prepare:  p.prepareAssetVersion,
		Validate: p.validateComponentVersion,
	})
}

// validateComponentVersion checks a component's spec: a command component
// needs a command; its code, when it names a workspace code version, must
// exist. Versions are immutable but for description, tags and isArchived.
func (p *Provider) validateComponentVersion(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	if w.Old != nil {
		if old, ok := w.Old.Prop("componentSpec").(map[string]any); ok {
			props["componentSpec"] = old
		}
		return nil
	}
	spec, ok := props["componentSpec"].(map[string]any)
	if !ok {
		return arm.Errorf(http.StatusBadRequest, "UserError", "properties.componentSpec is required: the component's definition (type, command, code, environment, inputs, outputs).")
	}
	t := strings.ToLower(firstString(spec["type"], "command"))
	switch t {
	case "command":
		if c, _ := spec["command"].(string); strings.TrimSpace(c) == "" {
			return arm.Errorf(http.StatusBadRequest, "UserError", "componentSpec.command is required for a command component.")
		}
		if code, _ := spec["code"].(string); code != "" {
			id := strings.TrimPrefix(code, "azureml:")
			if strings.HasPrefix(id, "/") {
				if _, err := ml.LoadResource(ctx, p.Store, id); err != nil {
					return arm.Errorf(http.StatusBadRequest, "UserError", "componentSpec.code names the code version %s, which does not exist: upload the code first.", id)
				}
			}
		}
	case "pipeline":
		if jobs, _ := spec["jobs"].(map[string]any); len(jobs) == 0 {
			return arm.Errorf(http.StatusBadRequest, "UserError", "componentSpec.jobs is required for a pipeline component.")
		}
	default:
		return arm.Errorf(http.StatusBadRequest, "UserError", "componentSpec.type '%s' is not supported: amlid runs command and pipeline components.", t)
	}
	for _, k := range []string{"inputs", "outputs"} {
		if v, ok := spec[k]; ok && v != nil {
			if _, ok := v.(map[string]any); !ok {
				return arm.Errorf(http.StatusBadRequest, "UserError", "componentSpec.%s must be an object of named %s.", k, k)
			}
		}
	}
	return nil
}

func firstString(v any, def string) string {
	if s, _ := v.(string); s != "" {
		return s
	}
	return def
}
