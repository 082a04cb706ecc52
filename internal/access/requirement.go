package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
)

// Requirement kinds.
const (
	KindRBAC    = "rbac"         // an action or data action, granted by a role
	KindPolicy  = "accessPolicy" // secret permissions in a vault using access policies
	KindNetwork = "network"      // a storage firewall letting the identity through
)

// Requirement is one thing a rule asks of an identity.
type Requirement struct {
	Rule       string   `json:"rule"`     // "EP-3"
	Resource   string   `json:"resource"` // the resource the rule is about
	Identity   Identity `json:"identity"`
	Kind       string   `json:"kind"`
	Action     string   `json:"action,omitempty"`
	DataAction bool     `json:"dataAction,omitempty"`
	Scope      string   `json:"scope"`
	// Role is the least-privileged built-in role that meets it (KindRBAC).
	Role string `json:"role,omitempty"`
	// SecretPermissions are the access-policy permissions needed (KindPolicy).
	SecretPermissions []string `json:"secretPermissions,omitempty"`
	Why               string   `json:"why"`
	// Optional requirements are reported but never fail a check.
	Optional bool `json:"optional,omitempty"`
}

// Need is "<role> on <scope>" (or the access-policy permissions) for messages.
func (r Requirement) Need() string {
	switch r.Kind {
	case KindPolicy:
		return "access policy on key vault " + r.Scope + ": secret permissions " + strings.Join(r.SecretPermissions, ", ")
	case KindNetwork:
		return "network access to " + r.Scope
	}
	return r.Role + " on " + r.Scope
}

// Finding is a requirement evaluated.
type Finding struct {
	Requirement
	Met bool `json:"met"`
	// Via says what meets it (the role and assignment scope) when met.
	Via string `json:"via,omitempty"`
	// Reason says why not, when unmet (the engine's explanation).
	Reason string `json:"reason,omitempty"`
	// Missing lists the access-policy permissions lacking (KindPolicy).
	Missing []string `json:"missing,omitempty"`
	Fix     string   `json:"fix,omitempty"`
}

// Decider answers RBAC questions. The server's authorization service and an
// engine fed by ARM reads (the CLI) both implement it.
type Decider interface {
	Check(ctx context.Context, tenant, principalID, action string, data bool, scope string) (rbac.Decision, error)
	// GroupsOf lists the groups the principal belongs to (transitively).
	GroupsOf(ctx context.Context, tenant, principalID string) ([]string, error)
	// AssignmentsAt lists the assignments of the principal (and its groups)
	// whose scope covers scope.
	AssignmentsAt(ctx context.Context, tenant, principalID, scope string) ([]rbac.Assignment, error)
	// Role finds a role definition by GUID or ID.
	Role(id string) (rbac.RoleDefinition, bool)
}

// Source reads resources by ID (the store on the server, ARM in the CLI).
type Source interface {
	Get(ctx context.Context, id string) (*arm.Resource, error)
}

// ErrNotFound is what a Source returns for a missing resource.
var ErrNotFound = errors.New("access: resource not found")

// Evaluate decides one requirement and writes its fix when unmet.
func Evaluate(ctx context.Context, d Decider, src Source, r Requirement) (Finding, error) {
	f := Finding{Requirement: r}
	tenant := r.Identity.TenantID
	switch r.Kind {
	case KindRBAC:
		dec, err := d.Check(ctx, tenant, r.Identity.PrincipalID, r.Action, r.DataAction, r.Scope)
		if err != nil {
			return f, err
		}
		f.Met = dec.Allowed
		if dec.Allowed {
			f.Via = fmt.Sprintf("%s at %s", dec.Role.RoleName, dec.Assignment.Scope)
			return f, nil
		}
		f.Reason = dec.Reason
		f.Fix = RoleFix(r.Identity.PrincipalID, "ServicePrincipal", r.Role, r.Scope)
	case KindPolicy:
		vault, err := src.Get(ctx, r.Scope)
		if err != nil {
			return f, err
		}
		groups, err := d.GroupsOf(ctx, tenant, r.Identity.PrincipalID)
		if err != nil {
			return f, err
		}
		vt := vault.StringProp("tenantId")
		if vt == "" {
			vt = tenant
		}
		got := SecretPermissionsOf(PoliciesOf(vault.Prop("accessPolicies")), vt, r.Identity.PrincipalID, r.Identity.ClientID, groups)
		for _, p := range r.SecretPermissions {
			if !got[p] {
				f.Missing = append(f.Missing, p)
			}
		}
		f.Met = len(f.Missing) == 0
		if f.Met {
			f.Via = "access policy of key vault " + vault.Name
			return f, nil
		}
		f.Reason = fmt.Sprintf("Key vault %s uses the access-policy model; its policies do not give principal %s the secret permissions %s.",
			vault.Name, r.Identity.PrincipalID, strings.Join(f.Missing, ", "))
		f.Fix = PolicyFix(vault.Name, r.Identity.PrincipalID, r.SecretPermissions)
	case KindNetwork:
		acct, err := src.Get(ctx, r.Scope)
		if err != nil {
			return f, err
		}
		f.Met, f.Reason = trustedServiceThrough(acct)
		if f.Met {
			f.Via = f.Reason
			f.Reason = ""
			return f, nil
		}
		f.Fix = fmt.Sprintf("amlid storage account update -n %s --bypass AzureServices", acct.Name)
	default:
		return f, fmt.Errorf("access: unknown requirement kind %q", r.Kind)
	}
	return f, nil
}

// trustedServiceThrough says whether a storage account's firewall lets a
// trusted Azure service (a workspace identity, rule DS-8) through.
func trustedServiceThrough(acct *arm.Resource) (bool, string) {
	acls, _ := acct.Prop("networkAcls").(map[string]any)
	def, _ := acls["defaultAction"].(string)
	if def == "" || strings.EqualFold(def, "Allow") {
		return true, "the account's firewall allows every network (defaultAction Allow)"
	}
	bypass, _ := acls["bypass"].(string)
	for _, b := range strings.Split(bypass, ",") {
		if strings.EqualFold(strings.TrimSpace(b), "AzureServices") {
			return true, "the account's firewall lets trusted Azure services through (bypass AzureServices)"
		}
	}
	return false, fmt.Sprintf("Storage account %s denies by default (networkAcls.defaultAction Deny) and bypass '%s' does not let trusted Azure services (the workspace identity) through.", acct.Name, bypass)
}

// EvaluateAll decides every requirement.
func EvaluateAll(ctx context.Context, d Decider, src Source, reqs []Requirement) ([]Finding, error) {
	out := make([]Finding, 0, len(reqs))
	for _, r := range reqs {
		f, err := Evaluate(ctx, d, src, r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Unmet returns the findings that fail (unmet and not optional).
func Unmet(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !f.Met && !f.Optional {
			out = append(out, f)
		}
	}
	return out
}

// Refusal is the message a server-side check returns when requirements are
// unmet: the rule, the identity, each missing grant and its fix.
func Refusal(rule string, id Identity, fs []Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rule %s: the %s (principal %s) lacks:", rule, id.Label(), id.PrincipalID)
	for _, f := range fs {
		fmt.Fprintf(&b, "\n- %s (%s)\n    %s", f.Need(), f.Why, f.Fix)
	}
	return b.String()
}
