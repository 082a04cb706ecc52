package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/storage"
)

// Requirement kinds.
const (
	KindRBAC    = "rbac"         // an action or data action, granted by a role
	KindPolicy  = "accessPolicy" // secret permissions in a vault using access policies
	KindNetwork = "network"      // a storage firewall letting the identity through
	KindSubnet  = "subnet"       // a storage firewall letting a compute's network (its subnet) through
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
	// From is the compute whose network the requests come from (KindSubnet).
	From string `json:"from,omitempty"`
}

// Need is "<role> on <scope>" (or the access-policy permissions) for messages.
func (r Requirement) Need() string {
	switch r.Kind {
	case KindPolicy:
		return "access policy on key vault " + r.Scope + ": secret permissions " + strings.Join(r.SecretPermissions, ", ")
	case KindNetwork:
		return "network access to " + r.Scope
	case KindSubnet:
		return "network access from compute " + r.From + " to " + r.Scope
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
		f.Reason = dec.Reason()
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
	case KindSubnet:
		acct, err := src.Get(ctx, r.Scope)
		if err != nil {
			return f, err
		}
		comp, err := src.Get(ctx, r.From)
		if err != nil {
			return f, err
		}
		f.Met, f.Via, f.Reason, f.Fix = subnetThrough(acct, comp, r.Identity)
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

// subnetThrough says whether a storage account's firewall lets the
// requests of code on a compute through (rule DS-8): by the compute's
// subnet (virtualNetworkRules), by a resource access rule for the identity
// that reads, or — a compute in no subnet reaches storage from the public
// network, as the host does — by ipRules, which the analyzer cannot match
// against an address and takes as allowing.
func subnetThrough(acct, comp *arm.Resource, id Identity) (met bool, via, reason, fix string) {
	acls, _ := acct.Prop("networkAcls").(map[string]any)
	if def, _ := acls["defaultAction"].(string); def == "" || strings.EqualFold(def, "Allow") {
		return true, "the account's firewall allows every network (defaultAction Allow)", "", ""
	}
	subnet := SubnetOf(comp)
	var allowed []string
	vr, _ := acls["virtualNetworkRules"].([]any)
	for _, e := range vr {
		m, _ := e.(map[string]any)
		rid, _ := m["id"].(string)
		if act, _ := m["action"].(string); act != "" && !strings.EqualFold(act, "Allow") {
			continue
		}
		allowed = append(allowed, rid)
		if subnet != "" && strings.EqualFold(strings.TrimRight(rid, "/"), strings.TrimRight(subnet, "/")) {
			return true, fmt.Sprintf("virtualNetworkRules entry %s (compute %s's subnet)", rid, comp.Name), "", ""
		}
	}
	miRes := id.ResourceID
	if miRes == "" {
		miRes = id.Of
	}
	rar, _ := acls["resourceAccessRules"].([]any)
	for _, e := range rar {
		m, _ := e.(map[string]any)
		tid, _ := m["tenantId"].(string)
		rid, _ := m["resourceId"].(string)
		if miRes != "" && (id.TenantID == "" || strings.EqualFold(tid, id.TenantID)) && storage.ResourceRuleMatches(rid, miRes) {
			return true, "resourceAccessRules entry " + rid, "", ""
		}
	}
	ips, _ := acls["ipRules"].([]any)
	if subnet == "" && len(ips) > 0 {
		return true, fmt.Sprintf("compute %s sits in no subnet and reaches storage from the public network, as the host does: the account's %d ipRules entries decide", comp.Name, len(ips)), "", ""
	}
	list := "none"
	if len(allowed) > 0 {
		list = strings.Join(allowed, ", ")
	}
	rg := "<resource group>"
	if aid, err := arm.ParseID(acct.ID); err == nil {
		rg = aid.ResourceGroup
	}
	if subnet == "" {
		return false, "", fmt.Sprintf("Storage account %s denies by default (networkAcls.defaultAction Deny); compute %s sits in no subnet, so its requests come from the public network, which no rule allows (allowed subnets: %s).", acct.Name, comp.Name, list),
			fmt.Sprintf("create the compute in an allowed subnet (amlid ml compute create -n %s … --vnet-name <vnet> --subnet <subnet>; a compute's subnet is fixed at creation) or allow its address: amlid storage account network-rule add -g %s --account-name %s --ip-address <address>", comp.Name, rg, acct.Name)
	}
	return false, "", fmt.Sprintf("Storage account %s denies by default (networkAcls.defaultAction Deny); compute %s sits in subnet %s, which no virtualNetworkRules entry allows (allowed subnets: %s).", acct.Name, comp.Name, subnet, list),
		fmt.Sprintf("amlid storage account network-rule add -g %s --account-name %s --subnet %s", rg, acct.Name, subnet)
}

// denies reports whether a storage account's firewall denies by default.
func denies(acct *arm.Resource) bool {
	acls, _ := acct.Prop("networkAcls").(map[string]any)
	def, _ := acls["defaultAction"].(string)
	return strings.EqualFold(def, "Deny")
}

// SubnetRequirement is rule DS-8 for code on a compute that reads or
// writes a storage account which denies by default: the compute's network
// must get through (nil when the account allows every network or is not
// amlid's).
func SubnetRequirement(ctx context.Context, src Source, resource string, id Identity, comp *arm.Resource, acctID, why string) (*Requirement, error) {
	if comp == nil || acctID == "" {
		return nil, nil
	}
	acct, err := src.Get(ctx, acctID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !denies(acct) {
		return nil, nil
	}
	return &Requirement{Rule: "DS-8", Resource: resource, Identity: id, Kind: KindSubnet, Scope: acct.ID, From: comp.ID, Why: why}, nil
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
