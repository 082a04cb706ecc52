package access

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/rbac"
)

// Excess is a role assignment wider than what the rules need of an identity:
// a role with wildcard permissions (Owner, Contributor, …) over a scope where
// the rules ask only narrower roles.
type Excess struct {
	Identity     Identity `json:"identity"`
	Role         string   `json:"role"`
	Scope        string   `json:"scope"`
	AssignmentID string   `json:"assignmentId,omitempty"`
	// Needed are the roles the rules ask of the identity under that scope.
	Needed []string `json:"needed"`
	Fix    string   `json:"fix"`
}

// RoleAt is a role over a scope.
type RoleAt struct {
	Role  string   `json:"role"`
	Scope string   `json:"scope"`
	Rules []string `json:"rules"`
}

// Privilege is the least-privilege answer for one identity.
type Privilege struct {
	Identity Identity `json:"identity"`
	// Needed is the smallest set of built-in roles that satisfies every rule.
	Needed []RoleAt `json:"needed"`
	// SecretPermissions are access-policy permissions needed, per vault.
	AccessPolicies []Requirement `json:"accessPolicies,omitempty"`
	Excess         []Excess      `json:"excess,omitempty"`
}

// LeastPrivilege computes, for each identity in reqs, the roles its rules
// need and the grants wider than that.
func LeastPrivilege(ctx context.Context, d Decider, reqs []Requirement) ([]Privilege, error) {
	byID := map[string]*Privilege{}
	reqsOf := map[string][]Requirement{}
	var order []string
	for _, q := range reqs {
		k := strings.ToLower(q.Identity.PrincipalID)
		p := byID[k]
		if p == nil {
			p = &Privilege{Identity: q.Identity}
			byID[k] = p
			order = append(order, k)
		}
		reqsOf[k] = append(reqsOf[k], q)
		switch q.Kind {
		case KindRBAC:
			addRole(p, q)
		case KindPolicy:
			p.AccessPolicies = append(p.AccessPolicies, q)
		}
	}
	var out []Privilege
	for _, k := range order {
		p := byID[k]
		ex, err := excessOf(ctx, d, p.Identity, reqsOf[k])
		if err != nil {
			return nil, err
		}
		p.Excess = ex
		out = append(out, *p)
	}
	return out, nil
}

func addRole(p *Privilege, q Requirement) {
	for i, r := range p.Needed {
		if strings.EqualFold(r.Role, q.Role) && strings.EqualFold(r.Scope, q.Scope) {
			if !containsFold(r.Rules, q.Rule) {
				p.Needed[i].Rules = append(p.Needed[i].Rules, q.Rule)
			}
			return
		}
	}
	p.Needed = append(p.Needed, RoleAt{Role: q.Role, Scope: q.Scope, Rules: []string{q.Rule}})
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// broad reports whether a role has wildcard permissions: granting it where a
// narrower role suffices widens what the identity may do.
func broad(r rbac.RoleDefinition) bool {
	for _, p := range r.Permissions {
		for _, a := range append(append([]string{}, p.Actions...), p.DataActions...) {
			if a == "*" || strings.HasSuffix(a, "/*") {
				return true
			}
		}
	}
	return false
}

// excessOf finds the identity's own assignments (not its groups') that
// cover a requirement's scope with a broad role no requirement under that
// assignment's scope asks for. reqs are the identity's requirements.
func excessOf(ctx context.Context, d Decider, id Identity, reqs []Requirement) ([]Excess, error) {
	if id.Kind == "User" {
		return nil, nil // a person's roles serve more than the workloads' rules
	}
	var mine []Requirement
	for _, q := range reqs {
		if strings.EqualFold(q.Identity.PrincipalID, id.PrincipalID) && (q.Kind == KindRBAC || q.Kind == KindPolicy) {
			mine = append(mine, q)
		}
	}
	seen := map[string]bool{}
	var out []Excess
	for _, q := range mine {
		as, err := d.AssignmentsAt(ctx, id.TenantID, id.PrincipalID, q.Scope)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if !strings.EqualFold(a.PrincipalID, id.PrincipalID) {
				continue // a group's grant is not this identity's to drop
			}
			key := strings.ToLower(a.Scope + "|" + a.RoleDefinitionID)
			if seen[key] {
				continue
			}
			role, ok := d.Role(a.RoleDefinitionID)
			if !ok || !broad(role) {
				continue
			}
			var needed []string
			wanted := false
			for _, o := range mine {
				if !covers(a.Scope, o.Scope) {
					continue
				}
				need := o.Role
				if o.Kind == KindPolicy {
					need = "access policy (" + strings.Join(o.SecretPermissions, " ") + ")"
				}
				if strings.EqualFold(o.Role, role.RoleName) {
					wanted = true
				}
				if !containsFold(needed, need) {
					needed = append(needed, need)
				}
			}
			seen[key] = true
			if wanted {
				continue
			}
			sort.Strings(needed)
			out = append(out, Excess{Identity: id, Role: role.RoleName, Scope: a.Scope, AssignmentID: a.ID, Needed: needed,
				Fix: RoleRemoveFix(id.PrincipalID, role.RoleName, a.Scope)})
		}
	}
	return out, nil
}

// covers reports whether an assignment at scope applies to target (segment
// boundaries, case-insensitive; "/" covers everything).
func covers(scope, target string) bool {
	s := strings.ToLower(strings.TrimRight(scope, "/"))
	t := strings.ToLower(strings.TrimRight(target, "/"))
	return s == "" || s == t || strings.HasPrefix(t, s+"/")
}

// excess runs the least-privilege pass over every finding of a report.
func (a *Analyzer) excess(ctx context.Context, rep *Report) ([]Excess, error) {
	var reqs []Requirement
	for _, rr := range rep.Resources {
		for _, f := range rr.Findings {
			reqs = append(reqs, f.Requirement)
		}
	}
	ps, err := LeastPrivilege(ctx, a.Decider, reqs)
	if err != nil {
		return nil, err
	}
	var out []Excess
	for _, p := range ps {
		out = append(out, p.Excess...)
	}
	return out, nil
}

func (e Excess) String() string {
	return fmt.Sprintf("%s holds %s at %s; its rules need only %s", e.Identity.Label(), e.Role, e.Scope, strings.Join(e.Needed, ", "))
}
