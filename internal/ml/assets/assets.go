package assets

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/store"
)

// Assets a deployment refers to: models (modelUri), code (codeUri) and
// environments (image, condaFile), each a container {name} with versions
// {name}/versions/{v}, as the REST API has them. The CLI uploads model and
// code folders to the workspace's storage account (as azure-ai-ml does
// through the default datastore) and registers their blob URLs here.

var assetName = arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`),
	Hint: "letters, digits, '.', '-' and '_', starting with a letter or digit"}

var assetKinds = []struct {
	path, uriProp string
}{
	{"models", "modelUri"},
	{"codes", "codeUri"},
	{"environments", ""},
}

func (p *Provider) registerAssets(reg *arm.Registry) {
	for _, k := range assetKinds {
		k := k
		p.AssetVersionTypes(reg, &arm.ResourceType{
			Namespace: ml.Namespace, Path: "workspaces/" + k.path, APIVersions: ml.MLAPIVersions,
			CreateStatus: http.StatusOK, Name: assetName,
		}, &arm.ResourceType{
			Namespace: ml.Namespace, Path: "workspaces/" + k.path + "/versions", APIVersions: ml.MLAPIVersions,
			CreateStatus: http.StatusOK, Name: assetName,
			Prepare: p.prepareAssetVersion,
			Validate: func(ctx context.Context, w *arm.Write) error {
				return p.validateAssetVersion(ctx, w, k.path, k.uriProp)
			},
		})
	}
}

// prepareAssetVersion creates the asset's container on its first version
// (the REST API creates it implicitly).
func (p *Provider) prepareAssetVersion(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	if p.EnvHook != nil && len(id.Types) >= 3 && strings.EqualFold(id.Types[1], "environments") {
		if err := p.EnvHook(ctx, c, id, old, body); err != nil {
			return err
		}
	}
	parent := id.Parent()
	if _, err := p.Store.Get(ctx, arm.KindResource, parent.Key()); err == nil {
		return nil
	}
	_, _, err := p.ARM.Do(ctx, c.CallerOrSystem(), http.MethodPut, parent.String()+"?api-version="+c.APIVersion,
		map[string]any{"properties": map[string]any{}})
	return err
}

func (p *Provider) validateAssetVersion(ctx context.Context, w *arm.Write, kind, uriProp string) error {
	props := w.New.Properties
	if w.Old != nil && (kind == "models" || kind == "codes") {
		// Asset versions are immutable but for description and tags.
		for _, k := range []string{uriProp, "modelType"} {
			if w.Old.Prop(k) != nil {
				props[k] = w.Old.Prop(k)
			}
		}
	}
	switch kind {
	case "models", "codes":
		u, _ := props[uriProp].(string)
		if u == "" {
			return arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s is required: the blob URL of the uploaded folder.", uriProp)
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "azureml://") {
			return arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s must be an https:// blob URL or an azureml:// URI, not '%s'.", uriProp, u)
		}
		if kind == "models" && props["modelType"] == nil {
			props["modelType"] = "custom_model"
		}
		if kind == "models" && props["flavors"] == nil {
			// azure-ai-ml's Model._from_rest_object iterates flavors: a
			// model version always answers a map, as on Azure.
			props["flavors"] = map[string]any{}
		}
	case "environments":
		img, _ := props["image"].(string)
		build, _ := props["build"].(map[string]any)
		if img == "" && build == nil {
			return arm.Errorf(http.StatusBadRequest, "UserError", "An environment needs properties.image (a base image) or properties.build.")
		}
		if props["osType"] == nil {
			props["osType"] = "Linux"
		}
		// The conda file is recorded, not installed: amlid runs scoring code
		// with the machine's python3 (see README).
	}
	return nil
}

// loadAsset reads an asset version by ID within the workspace.
func Load(ctx context.Context, r store.Reader, id string) (*arm.Resource, error) {
	return ml.LoadResource(ctx, r, id)
}

// Provider declares models, code and environments over the ML core.
type Provider struct {
	*ml.Provider
	// EnvHook checks and builds an environment version naming an amlid
	// registry's image (issue 21: envimage.PrepareEnvironment).
	EnvHook func(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error
}

// Register declares the asset types on reg.
func (p *Provider) Register(reg *arm.Registry) {
	p.registerAssets(reg)
	p.registerComponents(reg)
}
