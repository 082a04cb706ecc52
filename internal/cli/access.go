package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
)

// The CLI evaluates the access wing's rules (internal/access) itself, fed
// only by standard ARM reads: resources by ID, role definitions and
// roleAssignments?$filter=assignedTo(). It reads no secret and would give
// the same answer against Azure.

// apiVersionFor is the api-version the CLI reads a resource type with.
func apiVersionFor(resourceType string) string {
	t := strings.ToLower(resourceType)
	switch {
	case strings.HasPrefix(t, "microsoft.machinelearningservices/"):
		return apiML
	case strings.HasPrefix(t, "microsoft.managedidentity/"):
		return apiMSI
	case strings.HasPrefix(t, "microsoft.storage/"):
		return apiStorage
	case strings.HasPrefix(t, "microsoft.keyvault/"):
		return apiKeyVault
	case strings.HasPrefix(t, "microsoft.containerregistry/"):
		return apiACR
	case strings.HasPrefix(t, "microsoft.insights/"):
		return "2020-02-02"
	}
	return "2021-04-01"
}

// armSource reads resources through ARM (access.Lister).
type armSource struct{ a *app }

func (s armSource) Get(ctx context.Context, id string) (*arm.Resource, error) {
	pid, err := arm.ParseID(id)
	if err != nil {
		return nil, usageErr("'%s' is not a resource ID: %v", id, err)
	}
	v, err := s.a.armRequest(ctx, http.MethodGet, pid.String(), apiVersionFor(pid.TypeName()), nil)
	var ce *cliError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil, access.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeResource(v)
}

func decodeResource(v any) (*arm.Resource, error) {
	b, _ := json.Marshal(v)
	var r arm.Resource
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// List lists resources of one type under scope: a workspace's children
// through their collection, top-level types through /resources.
func (s armSource) List(ctx context.Context, scope, resourceType string) ([]*arm.Resource, error) {
	var items []any
	var err error
	parent, perr := arm.ParseID(scope)
	switch {
	case perr == nil && len(parent.Types) > 0:
		child := resourceType[strings.LastIndex(resourceType, "/")+1:]
		items, err = s.a.armList(ctx, parent.String()+"/"+child, apiVersionFor(resourceType), nil)
	default:
		items, err = s.a.armList(ctx, strings.TrimRight(scope, "/")+"/resources", "2021-04-01",
			url.Values{"$filter": {"resourceType eq '" + resourceType + "'"}})
	}
	var ce *cliError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*arm.Resource
	for _, it := range items {
		r, err := decodeResource(it)
		if err != nil {
			return nil, err
		}
		if perr != nil || len(parent.Types) == 0 {
			// /resources returns the generic envelope: read the resource itself.
			if r, err = s.Get(ctx, r.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// principalView is what the CLI knows of one principal's RBAC: the
// assignments ARM lists for assignedTo(principal) and its groups.
type principalView struct {
	engine *rbac.Engine
	groups []string
	ptype  string
}

// armDecider runs the RBAC engine over ARM reads (access.Decider).
type armDecider struct {
	a     *app
	sub   string
	rg    string // the analyzed resource's group: listed when the subscription may not be
	roles []rbac.RoleDefinition
	byID  *rbac.Engine // roles only, for Role()
	views map[string]*principalView
}

func (a *app) decider(ctx context.Context, scope string) (*armDecider, error) {
	listScope := ""
	if parts := strings.Split(strings.Trim(scope, "/"), "/"); len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		listScope = "/subscriptions/" + parts[1]
	}
	if listScope == "" {
		sub, err := a.subscriptionID()
		if err != nil {
			return nil, err
		}
		listScope = "/subscriptions/" + sub
	}
	d := &armDecider{a: a, sub: listScope, views: map[string]*principalView{}}
	if id, err := arm.ParseID(scope); err == nil && id.ResourceGroup != "" {
		d.rg = id.ResourceGroupID()
	}
	defs, err := a.armList(ctx, listScope+"/providers/Microsoft.Authorization/roleDefinitions", apiRoleDefinitions, nil)
	var ce *cliError
	if errors.As(err, &ce) && ce.Status == http.StatusForbidden && d.rg != "" {
		defs, err = a.armList(ctx, d.rg+"/providers/Microsoft.Authorization/roleDefinitions", apiRoleDefinitions, nil)
	}
	if err != nil {
		return nil, err
	}
	for _, def := range defs {
		b, _ := json.Marshal(flattenRoleDefinition(def))
		var rd struct {
			Name             string            `json:"name"`
			RoleName         string            `json:"roleName"`
			RoleType         string            `json:"roleType"`
			Description      string            `json:"description"`
			AssignableScopes []string          `json:"assignableScopes"`
			Permissions      []rbac.Permission `json:"permissions"`
		}
		if err := json.Unmarshal(b, &rd); err != nil {
			return nil, err
		}
		d.roles = append(d.roles, rbac.RoleDefinition{ID: rd.Name, RoleName: rd.RoleName, RoleType: rd.RoleType, Description: rd.Description,
			AssignableScopes: rd.AssignableScopes, Permissions: rd.Permissions})
	}
	d.byID = rbac.NewEngine()
	if err := d.byID.Load(d.roles, nil); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *armDecider) view(ctx context.Context, oid string) (*principalView, error) {
	k := strings.ToLower(oid)
	if v := d.views[k]; v != nil {
		return v, nil
	}
	filter := url.Values{"$filter": {"assignedTo('" + oid + "')"}}
	items, err := d.a.armList(ctx, d.sub+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, filter)
	var ce *cliError
	if errors.As(err, &ce) && ce.Status == http.StatusForbidden && d.rg != "" {
		// A caller who may read role assignments only in the resource's
		// group sees those at, above and below it there.
		items, err = d.a.armList(ctx, d.rg+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, filter)
	}
	if err != nil {
		return nil, err
	}
	v := &principalView{}
	var assignments []rbac.Assignment
	groups := map[string]bool{}
	for _, it := range items {
		m := it.(map[string]any)
		p, _ := m["properties"].(map[string]any)
		as := rbac.Assignment{ID: str(m["id"]), Name: str(m["name"]), Scope: str(p["scope"]), RoleDefinitionID: str(p["roleDefinitionId"]),
			PrincipalID: str(p["principalId"]), PrincipalType: str(p["principalType"])}
		if !strings.EqualFold(as.PrincipalID, oid) {
			if !groups[strings.ToLower(as.PrincipalID)] {
				groups[strings.ToLower(as.PrincipalID)] = true
				v.groups = append(v.groups, as.PrincipalID)
			}
		} else if v.ptype == "" {
			v.ptype = as.PrincipalType
		}
		assignments = append(assignments, as)
	}
	v.engine = rbac.NewEngine()
	if err := v.engine.Load(d.roles, assignments); err != nil {
		return nil, err
	}
	d.views[k] = v
	return v, nil
}

func (d *armDecider) Check(ctx context.Context, _, principalID, action string, data bool, scope string) (rbac.Decision, error) {
	v, err := d.view(ctx, principalID)
	if err != nil {
		return rbac.Decision{}, err
	}
	return v.engine.Check(rbac.Request{PrincipalID: principalID, GroupIDs: v.groups, Action: action, DataAction: data, Scope: scope}), nil
}

func (d *armDecider) GroupsOf(ctx context.Context, _, principalID string) ([]string, error) {
	v, err := d.view(ctx, principalID)
	if err != nil {
		return nil, err
	}
	return v.groups, nil
}

func (d *armDecider) AssignmentsAt(ctx context.Context, _, principalID, scope string) ([]rbac.Assignment, error) {
	v, err := d.view(ctx, principalID)
	if err != nil {
		return nil, err
	}
	return v.engine.AssignmentsFor(principalID, v.groups, scope), nil
}

func (d *armDecider) Role(id string) (rbac.RoleDefinition, bool) { return d.byID.Role(id) }

var (
	_ access.Decider = (*armDecider)(nil)
	_ access.Lister  = armSource{}
	_                = catalog.Owner
)
