package rbac

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Bound of the per-role-table cache of GrantingRoles answers.
const grantingCacheMax = 4096

type compiledRole struct {
	def        RoleDefinition
	guid       string
	perms      []compiledPermission
	assignable []string // trimmed AssignableScopes
	builtin    bool
	// Privilege order (least first): writeScore, readScore, then more
	// NotActions, then name.
	writeScore, readScore, denies int
}

func (r *compiledRole) allows(action string, data bool) bool {
	for i := range r.perms {
		if r.perms[i].allows(action, data) {
			return true
		}
	}
	return false
}

func (r *compiledRole) assignableAt(scope string) bool {
	for _, a := range r.assignable {
		if coversFold(a, scope) {
			return true
		}
	}
	return false
}

func lessPrivileged(a, b *compiledRole) int {
	return cmp.Or(cmp.Compare(a.writeScore, b.writeScore), cmp.Compare(a.readScore, b.readScore),
		cmp.Compare(b.denies, a.denies), cmp.Compare(lowerASCII(a.def.RoleName), lowerASCII(b.def.RoleName)))
}

// compileRole validates and compiles a role definition.
func compileRole(r RoleDefinition) (*compiledRole, error) {
	r = r.Clone()
	r.ID = RoleGUID(r.ID)
	r.RoleName = strings.TrimSpace(r.RoleName)
	if r.ID == "" {
		return nil, errorf(ErrInvalidRole, "The role definition '%s' has no ID (GUID).", r.RoleName)
	}
	if r.RoleName == "" {
		return nil, errorf(ErrInvalidRole, "The role definition '%s' has no roleName.", r.ID)
	}
	switch {
	case r.RoleType == "":
		r.RoleType = CustomRole
	case strings.EqualFold(r.RoleType, BuiltInRole):
		r.RoleType = BuiltInRole
	case strings.EqualFold(r.RoleType, CustomRole):
		r.RoleType = CustomRole
	default:
		return nil, errorf(ErrInvalidRole, "The role definition '%s' has roleType '%s': expected BuiltInRole or CustomRole.", r.RoleName, r.RoleType)
	}
	if len(r.AssignableScopes) == 0 {
		return nil, errorf(ErrInvalidRole, "The role definition '%s' has no assignableScopes.", r.RoleName)
	}
	c := &compiledRole{def: r, guid: r.ID, builtin: r.RoleType == BuiltInRole}
	for _, s := range r.AssignableScopes {
		if err := ValidateScope(s); err != nil {
			return nil, errorf(ErrInvalidRole, "The role definition '%s' has an invalid assignable scope: %s", r.RoleName, err.Error())
		}
		c.assignable = append(c.assignable, trimScope(s))
	}
	for _, p := range r.Permissions {
		for _, list := range [][]string{p.Actions, p.NotActions, p.DataActions, p.NotDataActions} {
			for _, s := range list {
				if strings.TrimSpace(s) == "" {
					return nil, errorf(ErrInvalidRole, "The role definition '%s' has an empty permission string.", r.RoleName)
				}
			}
		}
		cp := compilePermission(p)
		c.perms = append(c.perms, cp)
		for _, set := range []patternSet{cp.actions, cp.dataActions} {
			for _, pt := range set {
				if pt.readOnly() {
					c.readScore += pt.breadth()
				} else {
					c.writeScore += pt.breadth()
				}
			}
		}
		c.denies += len(p.NotActions) + len(p.NotDataActions)
	}
	return c, nil
}

// roleSlot is the stable home of a role GUID: assignments point to it, and
// a role update or delete stores into it.
type roleSlot struct {
	guid string
	p    atomic.Pointer[compiledRole] // nil: no such role (grants nothing)
}

// roleTable is immutable once published (slots' contents aside).
type roleTable struct {
	slots   map[string]*roleSlot // guid → slot, including roles not (yet) defined
	byName  map[string]*roleSlot // lower-case name → slot of a defined role
	ordered []*compiledRole      // defined roles, least-privileged first

	grantCache [2]sync.Map // [0] actions, [1] data actions: action → *grantInfo
	grantingN  atomic.Int32
}

func emptyRoleTable() *roleTable {
	return &roleTable{slots: map[string]*roleSlot{}, byName: map[string]*roleSlot{}}
}

func (t *roleTable) get(idOrGUID string) *compiledRole {
	if s := t.slots[RoleGUID(idOrGUID)]; s != nil {
		return s.p.Load()
	}
	return nil
}

// grantInfo is the cached answer to "which roles grant this action".
type grantInfo struct {
	roles []*compiledRole // least-privileged first
	names []string        // built-in role names, or custom ones if no built-in grants
}

// granting returns the roles granting an action, cached per action string
// (as given) in this role table. No allocation on a cache hit.
func (t *roleTable) granting(action string, data bool) *grantInfo {
	cache := &t.grantCache[0]
	if data {
		cache = &t.grantCache[1]
	}
	if v, ok := cache.Load(action); ok {
		return v.(*grantInfo)
	}
	g := &grantInfo{}
	var custom []string
	for _, r := range t.ordered {
		if r.allows(action, data) {
			g.roles = append(g.roles, r)
			if r.builtin {
				g.names = append(g.names, r.def.RoleName)
			} else {
				custom = append(custom, r.def.RoleName)
			}
		}
	}
	if len(g.names) == 0 {
		g.names = custom
	}
	g.names = slices.Clip(g.names)
	if t.grantingN.Load() < grantingCacheMax {
		if _, loaded := cache.LoadOrStore(action, g); !loaded {
			t.grantingN.Add(1)
		}
	}
	return g
}

// newRoleTable builds a table whose defined roles are roles; slots are
// reused from old (so assignments keep pointing at them) or created.
// It does not store into slots; commit does.
func newRoleTable(old map[string]*roleSlot, roles []*compiledRole, keepGUIDs func(string) bool) (*roleTable, error) {
	t := &roleTable{slots: make(map[string]*roleSlot, len(roles)), byName: make(map[string]*roleSlot, len(roles))}
	for g, s := range old {
		if keepGUIDs(g) {
			t.slots[g] = s
		}
	}
	seen := make(map[string]bool, len(roles))
	for _, r := range roles {
		if seen[r.guid] {
			return nil, errorf(ErrInvalidRole, "The role definition ID '%s' appears twice.", r.guid)
		}
		seen[r.guid] = true
		s := t.slots[r.guid]
		if s == nil {
			s = &roleSlot{guid: r.guid}
			t.slots[r.guid] = s
		}
		name := lowerASCII(r.def.RoleName)
		if other := t.byName[name]; other != nil {
			return nil, errorf(ErrRoleNameExists, "A role definition named '%s' already exists (ID '%s'); role names are unique.", r.def.RoleName, other.guid)
		}
		t.byName[name] = s
		t.ordered = append(t.ordered, r)
	}
	slices.SortStableFunc(t.ordered, lessPrivileged)
	return t, nil
}

// commit stores each role into its slot and clears slots of roles that are
// no longer defined.
func (t *roleTable) commit(roles []*compiledRole) {
	defined := make(map[string]*compiledRole, len(roles))
	for _, r := range roles {
		defined[r.guid] = r
	}
	for g, s := range t.slots {
		s.p.Store(defined[g])
	}
}
