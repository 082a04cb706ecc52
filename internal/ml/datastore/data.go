package datastore

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
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
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/data", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: dataName,
		Validate: func(ctx context.Context, w *arm.Write) error {
			if v, ok := w.New.Properties["isArchived"]; !ok || v == nil {
				w.New.Properties["isArchived"] = false
			} else if _, isBool := v.(bool); !isBool {
				return userErr("properties.isArchived must be true or false, not '%v'.", v)
			}
			delete(w.New.Properties, "latestVersion")
			delete(w.New.Properties, "nextVersion")
			return nil
		},
		Present:    p.presentDataContainer,
		ListFilter: listView,
	})
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/data/versions", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK, Name: dataName,
		Prepare:    p.prepareDataVersion,
		Validate:   validateDataVersion,
		ListFilter: p.listVersionsFilter,
		Actions:    map[string]arm.Action{"preview": p.previewAction()},
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
	vs, err := listVersions(ctx, l.r, l.ws+"/data/"+name)
	if err != nil {
		return nil, err
	}
	var best *arm.Resource
	for _, v := range vs {
		if v.Prop("isArchived") == true {
			continue
		}
		if best == nil || versionLess(best.Name, v.Name) {
			best = v
		}
	}
	if best == nil {
		return nil, datauri.ErrNotFound
	}
	return best, nil
}

func listVersions(ctx context.Context, r store.Reader, containerID string) ([]*arm.Resource, error) {
	cid, err := arm.ParseID(containerID)
	if err != nil {
		return nil, err
	}
	recs, err := r.List(ctx, arm.KindResource, store.ListOptions{Parent: cid.Key()})
	if err != nil {
		return nil, err
	}
	var out []*arm.Resource
	for _, rec := range recs {
		v, err := arm.DecodeResource(rec.Value)
		if err == nil && strings.EqualFold(v.Type, catalog.TypeDataVersion) {
			out = append(out, v)
		}
	}
	return out, nil
}

// versionLess orders versions numerically when both are numbers.
func versionLess(a, b string) bool {
	x, e1 := strconv.Atoi(a)
	y, e2 := strconv.Atoi(b)
	if e1 == nil && e2 == nil {
		return x < y
	}
	if (e1 == nil) != (e2 == nil) {
		return e1 != nil // numbers sort after names
	}
	return a < b
}

// presentDataContainer adds latestVersion and nextVersion (what azure-ai-ml
// reads to auto-increment a version).
func (p *Provider) presentDataContainer(ctx context.Context, r *arm.Resource) {
	vs, err := listVersions(ctx, p.ML.Store, r.ID)
	if err != nil {
		return
	}
	latest, maxNum := "", 0
	for _, v := range vs {
		if latest == "" || versionLess(latest, v.Name) {
			latest = v.Name
		}
		if n, err := strconv.Atoi(v.Name); err == nil && n > maxNum {
			maxNum = n
		}
	}
	if latest != "" {
		r.SetProp("latestVersion", latest)
	}
	r.SetProp("nextVersion", strconv.Itoa(maxNum+1))
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

// listView answers the listViewType query of Azure ML's asset lists:
// ActiveOnly (the default, as on Azure) hides archived containers and
// versions, ArchivedOnly shows only them, All shows both. azure-ai-ml's
// data.list(list_view_type=…) sends it.
func listView(c *arm.Call, r *arm.Resource) bool {
	archived := r.Prop("isArchived") == true
	switch strings.ToLower(c.R.URL.Query().Get("listViewType")) {
	case "all":
		return true
	case "archivedonly":
		return archived
	default:
		return !archived
	}
}

// newestByCall memoizes, per list request, the versions the request's
// $orderBy and $top keep (see listVersionsFilter).
var newestByCall sync.Map // *arm.Call → map[lower(version ID)]bool

// listVersionsFilter is listView plus $orderBy=createdtime|modifiedtime
// [asc|desc] with $top=N: the N first versions in that order (within the
// view) are kept. That is how azure-ai-ml finds a data asset's latest
// version (data.get(label="latest"): "createdtime desc", $top=1). ARM
// lists come in key order, so only which versions are kept follows
// $orderBy, not their order on the page.
func (p *Provider) listVersionsFilter(c *arm.Call, r *arm.Resource) bool {
	if !listView(c, r) {
		return false
	}
	q := c.R.URL.Query()
	field, dir, _ := strings.Cut(strings.ToLower(strings.TrimSpace(q.Get("$orderBy"))), " ")
	top, err := strconv.Atoi(q.Get("$top"))
	if field == "" || err != nil || top <= 0 {
		return true
	}
	if field != "createdtime" && field != "modifiedtime" {
		return true
	}
	keep, ok := newestByCall.Load(c)
	if !ok {
		keep = p.firstVersions(c, r, field == "modifiedtime", strings.TrimSpace(dir) != "asc", top)
		if c.Ctx().Done() != nil { // forgotten when the request ends; a context that never ends is not memoized
			newestByCall.Store(c, keep)
			context.AfterFunc(c.Ctx(), func() { newestByCall.Delete(c) })
		}
	}
	return keep.(map[string]bool)[strings.ToLower(r.ID)]
}

// firstVersions lists the versions next to r in the request's view,
// orders them by creation (or modification) time and keeps the first n.
func (p *Provider) firstVersions(c *arm.Call, r *arm.Resource, modified, desc bool, n int) map[string]bool {
	keep := map[string]bool{}
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return keep
	}
	vs, err := listVersions(c.Ctx(), p.ML.Store, id.Parent().String())
	if err != nil {
		return keep
	}
	vs = slicesFilter(vs, func(v *arm.Resource) bool { return listView(c, v) })
	at := func(v *arm.Resource) time.Time {
		if v.SystemData == nil {
			return time.Time{}
		}
		if modified {
			return v.SystemData.LastModifiedAt
		}
		return v.SystemData.CreatedAt
	}
	before := func(a, b *arm.Resource) bool {
		ta, tb := at(a), at(b)
		return ta.Before(tb) || (ta.Equal(tb) && versionLess(a.Name, b.Name))
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if desc {
			return before(vs[j], vs[i])
		}
		return before(vs[i], vs[j])
	})
	for i := 0; i < len(vs) && i < n; i++ {
		keep[strings.ToLower(vs[i].ID)] = true
	}
	return keep
}

func slicesFilter(vs []*arm.Resource, keep func(*arm.Resource) bool) []*arm.Resource {
	out := vs[:0]
	for _, v := range vs {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}
