package access

import (
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/rbac"
)

// Grant says how a principal may perform an action over a scope.
type Grant struct {
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType,omitempty"`
	Role          string `json:"role"`
	// AssignmentScope is where the assignment sits; Inherited when above the
	// asked scope (rule RBAC-2).
	AssignmentScope string `json:"assignmentScope"`
	AssignmentID    string `json:"assignmentId,omitempty"`
	Inherited       bool   `json:"inherited"`
	// ViaGroup is the group whose assignment it is, when the principal is a
	// member rather than the assignee.
	ViaGroup string `json:"viaGroup,omitempty"`
}

// WhoCanIndex answers "who may perform action A over scope S" from a set of
// assignments, indexed by scope so that a query reads only the assignments
// at the target's ancestors.
type WhoCanIndex struct {
	byScope map[string][]rbac.Assignment // lower-cased, trimmed scope
	roles   func(id string) (rbac.RoleDefinition, bool)
	// Members lists a group's direct members (users, service principals,
	// managed identities and groups); nil means no group expansion.
	Members func(groupID string) []Member
}

// Member is a principal in a group.
type Member struct {
	ID, Type string
}

// NewWhoCanIndex indexes assignments; roles resolves role definition IDs.
func NewWhoCanIndex(assignments []rbac.Assignment, roles func(id string) (rbac.RoleDefinition, bool)) *WhoCanIndex {
	x := &WhoCanIndex{byScope: make(map[string][]rbac.Assignment, len(assignments)/4+1), roles: roles}
	for _, a := range assignments {
		k := scopeKey(a.Scope)
		x.byScope[k] = append(x.byScope[k], a)
	}
	return x
}

func scopeKey(s string) string {
	s = strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
	if s == "" {
		return "/"
	}
	return s
}

// ancestors lists target and every scope above it on segment boundaries,
// the root last.
func ancestors(target string) []string {
	t := scopeKey(target)
	if t == "/" {
		return []string{"/"}
	}
	out := []string{t}
	for i := len(t) - 1; i > 0; i-- {
		if t[i] == '/' {
			out = append(out, t[:i])
		}
	}
	return append(out, "/")
}

// WhoCan lists every principal allowed the action over scope, with each
// assignment that allows it; group grants are expanded to members
// (transitively, once per group). Sorted by principal, then scope depth.
func (x *WhoCanIndex) WhoCan(scope, action string, data bool) []Grant {
	target := scopeKey(scope)
	grants := map[string]bool{} // role ID → grants the action
	var out []Grant
	for _, anc := range ancestors(target) {
		for _, a := range x.byScope[anc] {
			ok, known := grants[strings.ToLower(a.RoleDefinitionID)]
			var role rbac.RoleDefinition
			if r, found := x.roles(a.RoleDefinitionID); found {
				role = r
				if !known {
					ok = roleGrants(r, action, data)
					grants[strings.ToLower(a.RoleDefinitionID)] = ok
				}
			} else {
				ok = false
			}
			if !ok {
				continue
			}
			g := Grant{PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType, Role: role.RoleName, AssignmentScope: a.Scope,
				AssignmentID: a.ID, Inherited: anc != target}
			out = append(out, g)
			if x.Members != nil && strings.EqualFold(a.PrincipalType, "Group") {
				out = append(out, x.expand(a.PrincipalID, g, map[string]bool{strings.ToLower(a.PrincipalID): true})...)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := strings.ToLower(out[i].PrincipalID), strings.ToLower(out[j].PrincipalID)
		if pi != pj {
			return pi < pj
		}
		return len(out[i].AssignmentScope) > len(out[j].AssignmentScope)
	})
	return out
}

func (x *WhoCanIndex) expand(group string, g Grant, seen map[string]bool) []Grant {
	var out []Grant
	for _, m := range x.Members(group) {
		k := strings.ToLower(m.ID)
		if seen[k] {
			continue
		}
		seen[k] = true
		mg := g
		mg.PrincipalID, mg.PrincipalType = m.ID, m.Type
		if mg.ViaGroup == "" {
			mg.ViaGroup = group
		}
		out = append(out, mg)
		if strings.EqualFold(m.Type, "Group") {
			out = append(out, x.expand(m.ID, mg, seen)...)
		}
	}
	return out
}

// Principals lists the distinct principal IDs (lower-cased) of grants.
func Principals(gs []Grant) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range gs {
		k := strings.ToLower(g.PrincipalID)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// roleGrants reports whether any permission block of r grants the action.
func roleGrants(r rbac.RoleDefinition, action string, data bool) bool {
	for _, p := range r.Permissions {
		if p.Allows(action, data) {
			return true
		}
	}
	return false
}
