package datastore

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/datauri"
	"github.com/amlid/amlid/internal/store"
)

// Data assets: workspaces/data/{name} (the container) and
// workspaces/data/{name}/versions/{version}, with dataType uri_file,
// uri_folder or mltable and a dataUri that the resolver (package datauri)
// accepts and follows: a datastore the workspace has, no "..".

var dataName = arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`),
	Hint: "letters, digits, '.', '-' and '_', starting with a letter or digit"}

// DataTypes are the data asset types.
var DataTypes = []string{"uri_file", "uri_folder", "mltable"}

func (p *Provider) registerData(reg *arm.Registry) {
	p.ML.AssetVersionTypes(reg, &arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/data", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: dataName,
		Validate: func(ctx context.Context, w *arm.Write) error {
			if v, ok := w.New.Properties["isArchived"]; !ok || v == nil {
				w.New.Properties["isArchived"] = false
			} else if _, isBool := v.(bool); !isBool {
				return userErr("properties.isArchived must be true or false, not '%v'.", v)
			}
			return nil
		},
	}, &arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/data/versions", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: dataName,
		Prepare:  p.prepareDataVersion,
		Validate: validateDataVersion,
		Actions:  map[string]arm.Action{"preview": p.previewAction()},
	})
}

// Lookup is the datauri.Lookup of one workspace.
func (p *Provider) Lookup(workspaceID string) datauri.Lookup {
	return lookup{r: p.ML.Store, ws: strings.TrimRight(workspaceID, "/")}
}

// Resolve follows a data reference in a workspace (datauri.Resolve).
func (p *Provider) Resolve(ctx context.Context, workspaceID, uri string) (*datauri.Resolved, error) {
	return datauri.Resolve(ctx, p.Lookup(workspaceID), uri)
}

type lookup struct {
	r  store.Reader
	ws string
}

func (l lookup) get(ctx context.Context, id string) (*arm.Resource, error) {
	r, err := ml.LoadResource(ctx, l.r, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, datauri.ErrNotFound
	}
	return r, err
}

func (l lookup) Datastore(ctx context.Context, name string) (*arm.Resource, error) {
	return l.get(ctx, l.ws+"/datastores/"+name)
}

func (l lookup) DataVersion(ctx context.Context, name, version string) (*arm.Resource, error) {
	if version != "" {
		return l.get(ctx, l.ws+"/data/"+name+"/versions/"+version)
	}
	vs, err := ml.ListVersions(ctx, l.r, l.ws+"/data/"+name)
	if err != nil {
		return nil, err
	}
	var best *arm.Resource
	for _, v := range vs {
		if v.Prop("isArchived") == true {
			continue
		}
		if best == nil || ml.VersionLess(best.Name, v.Name) {
			best = v
		}
	}
	if best == nil {
		return nil, datauri.ErrNotFound
	}
	return best, nil
}

// prepareDataVersion checks the data type and resolves the data URI in the
// workspace (unknown datastore, unknown asset or ".." → 400), and creates
// the container on the first version.
func (p *Provider) prepareDataVersion(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	props, _ := body["properties"].(map[string]any)
	if props == nil {
		return userErr("A data asset version needs properties.dataType (uri_file, uri_folder or mltable) and properties.dataUri.")
	}
	dt, _ := props["dataType"].(string)
	canon, ok := canonical(dt, DataTypes)
	if !ok {
		return userErr("properties.dataType must be uri_file, uri_folder or mltable, not '%v'.", props["dataType"])
	}
	props["dataType"] = canon
	for _, f := range []string{"isArchived", "isAnonymous"} {
		if v, ok := props[f]; ok && v != nil {
			if _, isBool := v.(bool); !isBool {
				return userErr("properties.%s must be true or false, not '%v'.", f, v)
			}
		}
	}
	if v, ok := props["dataUri"]; ok && v != nil {
		if _, isString := v.(string); !isString {
			return userErr("properties.dataUri must be a string (YAML path), not '%v'.", v)
		}
	}
	uri, _ := props["dataUri"].(string)
	if uri == "" {
		return userErr("properties.dataUri is required (YAML path): an azureml://datastores/<datastore>/paths/<path> URI, an https:// or wasbs:// URL, or a local path the client uploads first.")
	}
	if old != nil {
		if prev := old.StringProp("dataUri"); prev != "" && prev != uri {
			return arm.Errorf(http.StatusBadRequest, "UserError",
				"Cannot update the path of an existing data asset version (%s is %s). Create a new version instead.", id.Name(), prev)
		}
	}
	wsID := id.Parent().Parent()
	res, err := p.Resolve(ctx, wsID.String(), uri)
	var de *datauri.Error
	if errors.As(err, &de) {
		return userErr("properties.dataUri: %s", de.Msg)
	}
	if err != nil {
		return err
	}
	if res.Kind == datauri.KindAsset {
		return userErr("properties.dataUri '%s' names another data asset; give its storage location (%s).", uri, res.URI)
	}
	if canon == "uri_file" && (strings.HasSuffix(res.Path, "/") || res.Path == "") {
		return userErr("A uri_file data asset must point at a file, not a folder ('%s'); use type uri_folder for folders.", uri)
	}
	// The container on the first version (the REST API creates it
	// implicitly).
	parent := id.Parent()
	if _, err := p.ML.Store.Get(ctx, arm.KindResource, parent.Key()); errors.Is(err, store.ErrNotFound) {
		cprops := map[string]any{"dataType": canon}
		if d, ok := props["description"].(string); ok {
			cprops["description"] = d
		}
		if _, _, err := p.ML.ARM.Do(ctx, c.CallerOrSystem(), http.MethodPut, parent.String()+"?api-version="+c.APIVersion,
			map[string]any{"properties": cprops}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return nil
}

func validateDataVersion(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	for k, def := range map[string]any{"isArchived": false, "isAnonymous": false} {
		if v, ok := props[k]; !ok || v == nil {
			props[k] = def
		}
	}
	if w.Old != nil && !strings.EqualFold(w.Old.StringProp("dataType"), w.New.StringProp("dataType")) {
		return userErr("The type of data asset version %s is %s; it cannot change to %s.", w.ID.Name(), w.Old.StringProp("dataType"), w.New.StringProp("dataType"))
	}
	return nil
}
