package ml

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// Asset versions, the one implementation for every ML asset kept as a
// container {name} with versions {name}/versions/{v} (data, components,
// models, codes, environments):
//   - lists honour listViewType (ActiveOnly, the default as on Azure, hides
//     archived containers and versions; ArchivedOnly; All), what the SDK's
//     list(list_view_type=…) sends;
//   - version lists honour $orderBy=createdtime|modifiedtime [asc|desc]
//     with $top=N: the N first versions in that order (within the view) are
//     kept. That is how azure-ai-ml resolves the "latest" label
//     (get(name, label="latest"), azureml:<name>@latest: "createdtime
//     desc", $top=1). ARM lists come in key order, so $orderBy decides which
//     versions are kept, not their order on the page;
//   - containers present latestVersion (the highest version, numbers
//     compared as numbers) and nextVersion (the highest numeric version plus
//     one), which the SDK reads to number a new version.

// AssetVersionTypes declares a container type and its versions type with
// the list view, the version ordering and the container's computed
// properties. Hooks already set on container or versions are kept; a
// container's own ListFilter or Present, if any, runs after the shared one.
func (p *Provider) AssetVersionTypes(reg *arm.Registry, container, versions *arm.ResourceType) {
	present := container.Present
	container.Present = func(ctx context.Context, r *arm.Resource) {
		p.PresentContainer(ctx, r)
		if present != nil {
			present(ctx, r)
		}
	}
	filter := container.ListFilter
	container.ListFilter = func(c *arm.Call, r *arm.Resource) bool {
		return ListView(c, r) && (filter == nil || filter(c, r))
	}
	validate := container.Validate
	container.Validate = func(ctx context.Context, w *arm.Write) error {
		if w.New.Properties != nil { // computed, never stored
			delete(w.New.Properties, "latestVersion")
			delete(w.New.Properties, "nextVersion")
		}
		if validate != nil {
			return validate(ctx, w)
		}
		return nil
	}
	versions.ListPrepare = p.VersionsListPrepare
	reg.Register(container)
	reg.Register(versions)
}

// ListView answers the listViewType query of Azure ML's asset lists.
func ListView(c *arm.Call, r *arm.Resource) bool {
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

// VersionLess orders versions numerically when both are numbers; numbers
// sort after names, names in string order.
func VersionLess(a, b string) bool {
	x, e1 := strconv.Atoi(a)
	y, e2 := strconv.Atoi(b)
	if e1 == nil && e2 == nil {
		return x < y
	}
	if (e1 == nil) != (e2 == nil) {
		return e1 != nil
	}
	return a < b
}

// ListVersions reads the versions of the container containerID (any
// order; archived ones included).
func ListVersions(ctx context.Context, r store.Reader, containerID string) ([]*arm.Resource, error) {
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
		if err == nil && strings.HasSuffix(strings.ToLower(v.Type), "/versions") {
			out = append(out, v)
		}
	}
	return out, nil
}

// VersionsListPrepare is the arm.ResourceType.ListPrepare of a versions
// type: ListView, plus, with $orderBy and $top, the kept set of the
// request computed once from the container's versions.
func (p *Provider) VersionsListPrepare(c *arm.Call, parent arm.ID) (func(*arm.Resource) bool, error) {
	view := func(r *arm.Resource) bool { return ListView(c, r) }
	q := c.R.URL.Query()
	field, dir, _ := strings.Cut(strings.ToLower(strings.Join(strings.Fields(q.Get("$orderBy")), " ")), " ")
	top, err := strconv.Atoi(q.Get("$top"))
	if err != nil || top <= 0 || (field != "createdtime" && field != "modifiedtime") {
		return view, nil
	}
	vs, err := ListVersions(c.Ctx(), p.Store, parent.String())
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, v := range FirstVersions(vs, view, field == "modifiedtime", dir != "asc", top) {
		keep[strings.ToLower(v.ID)] = true
	}
	return func(r *arm.Resource) bool { return keep[strings.ToLower(r.ID)] }, nil
}

// FirstVersions keeps the versions in view, orders them by creation (or
// modification) time, ties by version, ascending or descending, and
// returns the first n.
func FirstVersions(vs []*arm.Resource, view func(*arm.Resource) bool, modified, desc bool, n int) []*arm.Resource {
	var in []*arm.Resource
	for _, v := range vs {
		if view(v) {
			in = append(in, v)
		}
	}
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
		return ta.Before(tb) || (ta.Equal(tb) && VersionLess(a.Name, b.Name))
	}
	sort.SliceStable(in, func(i, j int) bool {
		if desc {
			return before(in[j], in[i])
		}
		return before(in[i], in[j])
	})
	if len(in) > n {
		in = in[:n]
	}
	return in
}

// PresentContainer sets a container's latestVersion (the highest of its
// versions by VersionLess, archived ones included, absent without
// versions) and nextVersion (the highest numeric version plus one, "1"
// without any).
func (p *Provider) PresentContainer(ctx context.Context, r *arm.Resource) {
	vs, err := ListVersions(ctx, p.Store, r.ID)
	if err != nil {
		return
	}
	if r.Properties == nil {
		r.Properties = map[string]any{}
	}
	latest, maxNum := "", 0
	for _, v := range vs {
		if latest == "" || VersionLess(latest, v.Name) {
			latest = v.Name
		}
		if n, err := strconv.Atoi(v.Name); err == nil && n > maxNum {
			maxNum = n
		}
	}
	delete(r.Properties, "latestVersion")
	if latest != "" {
		r.Properties["latestVersion"] = latest
	}
	r.Properties["nextVersion"] = strconv.Itoa(maxNum + 1)
}

// LatestVersion is what the "latest" label names (azureml:<name>@latest,
// get(name, label="latest")): the most recently created version of the
// container that is not archived (ties: the highest version); nil when
// there is none.
func LatestVersion(ctx context.Context, r store.Reader, containerID string) (*arm.Resource, error) {
	vs, err := ListVersions(ctx, r, containerID)
	if err != nil {
		return nil, err
	}
	first := FirstVersions(vs, func(v *arm.Resource) bool { return v.Prop("isArchived") != true }, false, true, 1)
	if len(first) == 0 {
		return nil, nil
	}
	return first[0], nil
}
