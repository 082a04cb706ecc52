package assets

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/store"
)

// Components (workspaces/components/{name}/versions/{v}): what azure-ai-ml
// registers before it submits a pipeline job whose steps refer to them by
// componentId. A version carries properties.componentSpec, the component's
// YAML as a dictionary (type, command, code, environment, inputs, outputs,
// or jobs for a pipeline component). Anonymous components (the SDK's
// command() steps) live under the name azureml_anonymous with a hash as
// version. The container answers latestVersion and nextVersion, which the
// SDK reads to number a named component's next version.

func (p *Provider) registerComponents(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/components", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: assetName,
		Present: p.presentComponentContainer,
	})
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/components/versions", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: assetName,
		Prepare:    p.prepareAssetVersion,
		Validate:   p.validateComponentVersion,
		ListFilter: p.latestOnly,
	})
}

// latestOnly honours the one ordering azure-ai-ml asks of a version list:
// $orderBy=createdtime desc with $top=1, its "latest" label
// (components.get(name, label="latest"), azureml:<name>@latest). The list
// then holds the most recently created version only. Other lists are in
// version order.
func (p *Provider) latestOnly(c *arm.Call, r *arm.Resource) bool {
	q := c.R.URL.Query()
	if !strings.EqualFold(strings.Join(strings.Fields(q.Get("$orderBy")), " "), "createdtime desc") || q.Get("$top") != "1" {
		return true
	}
	id, err := arm.ParseID(r.ID)
	if err != nil || r.SystemData == nil {
		return true
	}
	recs, err := p.Store.List(c.Ctx(), arm.KindResource, store.ListOptions{KeyPrefix: id.Parent().Key() + "/versions/"})
	if err != nil {
		return true
	}
	for _, rec := range recs {
		v, err := arm.DecodeResource(rec.Value)
		if err == nil && v.SystemData != nil && v.SystemData.CreatedAt.After(r.SystemData.CreatedAt) {
			return false
		}
	}
	return true
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

// presentComponentContainer fills latestVersion and nextVersion from the
// container's versions (nextVersion: the highest numeric version plus one).
func (p *Provider) presentComponentContainer(ctx context.Context, r *arm.Resource) {
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	recs, err := p.Store.List(ctx, arm.KindResource, store.ListOptions{KeyPrefix: strings.ToLower(r.ID + "/versions/")})
	if err != nil {
		return
	}
	var versions []string
	for _, rec := range recs {
		v, err := arm.DecodeResource(rec.Value)
		if err == nil {
			versions = append(versions, v.Name)
		}
	}
	next, latest := 1, ""
	sort.Strings(versions)
	for _, v := range versions {
		if n, err := strconv.Atoi(v); err == nil && n >= next {
			next, latest = n+1, v
		}
	}
	if latest == "" && len(versions) > 0 {
		latest = versions[len(versions)-1]
	}
	if latest != "" {
		r.Properties["latestVersion"] = latest
	}
	r.Properties["nextVersion"] = strconv.Itoa(next)
}

func firstString(v any, def string) string {
	if s, _ := v.(string); s != "" {
		return s
	}
	return def
}
