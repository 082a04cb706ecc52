package storage

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/arm"
)

// NetworkACLs is an account's networkAcls (rule DS-8).
type NetworkACLs struct {
	// DefaultAction is "Allow" or "Deny".
	DefaultAction string
	// Bypass lists the traffic that passes a Deny: None, Logging, Metrics,
	// AzureServices.
	Bypass              []string
	IPRules             []IPRule
	VirtualNetworkRules []VirtualNetworkRule
	ResourceAccessRules []ResourceAccessRule
}

// IPRule allows an IPv4 address or CIDR range.
type IPRule struct {
	Value  string `json:"value"`
	Action string `json:"action"`

	prefix netip.Prefix
}

// VirtualNetworkRule allows a subnet: requests from workloads whose compute
// sits in it (properties.properties.subnet.id), as amlid's proxy tells them
// (package netorigin).
type VirtualNetworkRule struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	State  string `json:"state"`
}

// ResourceAccessRule allows a resource instance (through its managed
// identity) of a tenant; ResourceID may use * for a whole segment.
type ResourceAccessRule struct {
	TenantID   string `json:"tenantId"`
	ResourceID string `json:"resourceId"`
}

// Denies reports whether the default action is Deny.
func (n NetworkACLs) Denies() bool { return strings.EqualFold(n.DefaultAction, "Deny") }

// Bypasses reports whether bypass contains b (case-insensitive).
func (n NetworkACLs) Bypasses(b string) bool {
	for _, x := range n.Bypass {
		if strings.EqualFold(x, b) {
			return true
		}
	}
	return false
}

// AllowsIP returns the first IP rule matching addr ("" when none).
func (n NetworkACLs) AllowsIP(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, r := range n.IPRules {
		if r.prefix.IsValid() && r.prefix.Contains(addr) {
			return r.Value
		}
	}
	return ""
}

// AllowsSubnet returns the ID of the first Allow virtual-network rule for
// subnet (resource IDs compared case-insensitively, a trailing "/"
// ignored), "" when none; an empty subnet (the public network) matches
// nothing.
func (n NetworkACLs) AllowsSubnet(subnet string) string {
	subnet = strings.TrimRight(strings.TrimSpace(subnet), "/")
	if subnet == "" {
		return ""
	}
	for _, r := range n.VirtualNetworkRules {
		if !strings.EqualFold(r.Action, "Allow") {
			continue
		}
		if strings.EqualFold(strings.TrimRight(r.ID, "/"), subnet) {
			return r.ID
		}
	}
	return ""
}

// SubnetRules lists the IDs of the Allow virtual-network rules.
func (n NetworkACLs) SubnetRules() []string {
	var out []string
	for _, r := range n.VirtualNetworkRules {
		if strings.EqualFold(r.Action, "Allow") {
			out = append(out, r.ID)
		}
	}
	return out
}

// AllowsResource returns the first resource access rule that covers the
// managed identity resource ID of a token of tenant ("" when none).
func (n NetworkACLs) AllowsResource(tenant, resourceID string) string {
	if resourceID == "" {
		return ""
	}
	for _, r := range n.ResourceAccessRules {
		if !strings.EqualFold(r.TenantID, tenant) {
			continue
		}
		if ResourceRuleMatches(r.ResourceID, resourceID) {
			return r.ResourceID
		}
	}
	return ""
}

// ResourceRuleMatches is a resource access rule's match (enforced here,
// explained by the access analyzer): pattern and id compared segment by
// segment, case insensitively; a "*" segment matches any one segment, and
// a pattern that ends in "*" also matches deeper IDs (a workspace's
// children).
func ResourceRuleMatches(pattern, id string) bool {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	is := strings.Split(strings.Trim(id, "/"), "/")
	if len(is) < len(ps) {
		return false
	}
	for i, p := range ps {
		if p != "*" && !strings.EqualFold(p, is[i]) {
			return false
		}
	}
	if len(is) > len(ps) {
		return ps[len(ps)-1] == "*"
	}
	return true
}

// JSON is the wire form of the ACLs.
func (n NetworkACLs) JSON() map[string]any {
	ips := []any{}
	for _, r := range n.IPRules {
		ips = append(ips, map[string]any{"value": r.Value, "action": r.Action})
	}
	vnets := []any{}
	for _, r := range n.VirtualNetworkRules {
		vnets = append(vnets, map[string]any{"id": r.ID, "action": r.Action, "state": r.State})
	}
	m := map[string]any{
		"bypass":              strings.Join(n.Bypass, ", "),
		"defaultAction":       n.DefaultAction,
		"ipRules":             ips,
		"virtualNetworkRules": vnets,
	}
	if len(n.ResourceAccessRules) > 0 {
		rs := []any{}
		for _, r := range n.ResourceAccessRules {
			rs = append(rs, map[string]any{"tenantId": r.TenantID, "resourceId": r.ResourceID})
		}
		m["resourceAccessRules"] = rs
	}
	return m
}

func aclError(field, why string) error {
	return arm.Errorf(http.StatusBadRequest, "NetworkAclsValidationFailure",
		"Values for request parameters are invalid: networkAcls.%s. %s For more information, see - https://aka.ms/storagenetworkruleset", field, why)
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParseNetworkACLs validates and normalises a networkAcls value (nil gives
// the default: Allow, bypass AzureServices).
func ParseNetworkACLs(v any) (NetworkACLs, error) {
	n := NetworkACLs{DefaultAction: "Allow", Bypass: []string{"AzureServices"}}
	if v == nil {
		return n, nil
	}
	b, _ := json.Marshal(v)
	var raw struct {
		Bypass              *string              `json:"bypass"`
		DefaultAction       string               `json:"defaultAction"`
		IPRules             []IPRule             `json:"ipRules"`
		VirtualNetworkRules []VirtualNetworkRule `json:"virtualNetworkRules"`
		ResourceAccessRules []ResourceAccessRule `json:"resourceAccessRules"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return n, aclError("*", "The value is not a valid network rule set: "+err.Error()+".")
	}
	switch {
	case raw.DefaultAction == "":
		return n, aclError("defaultAction", "defaultAction is required: Allow or Deny.")
	case strings.EqualFold(raw.DefaultAction, "allow"):
		n.DefaultAction = "Allow"
	case strings.EqualFold(raw.DefaultAction, "deny"):
		n.DefaultAction = "Deny"
	default:
		return n, aclError("defaultAction", "'"+raw.DefaultAction+"' is not Allow or Deny.")
	}
	if raw.Bypass != nil {
		n.Bypass = nil
		seen := map[string]bool{}
		for _, part := range strings.Split(*raw.Bypass, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			var c string
			for _, known := range []string{"None", "Logging", "Metrics", "AzureServices"} {
				if strings.EqualFold(part, known) {
					c = known
				}
			}
			if c == "" {
				return n, aclError("bypass", "'"+part+"' is not one of None, Logging, Metrics, AzureServices.")
			}
			if !seen[c] {
				seen[c] = true
				n.Bypass = append(n.Bypass, c)
			}
		}
		if len(n.Bypass) > 1 && seen["None"] {
			return n, aclError("bypass", "None cannot be combined with other values.")
		}
		if len(n.Bypass) == 0 {
			n.Bypass = []string{"None"}
		}
	}
	for i, r := range raw.IPRules {
		val := strings.TrimSpace(r.Value)
		var pfx netip.Prefix
		if strings.Contains(val, "/") {
			p, err := netip.ParsePrefix(val)
			if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
				return n, aclError("ipRules[*].value", "'"+r.Value+"' is not an IPv4 address or an IPv4 CIDR range of /30 or wider.")
			}
			pfx = p.Masked()
		} else {
			a, err := netip.ParseAddr(val)
			if err != nil || !a.Is4() {
				return n, aclError("ipRules[*].value", "'"+r.Value+"' is not an IPv4 address or an IPv4 CIDR range.")
			}
			pfx = netip.PrefixFrom(a, 32)
		}
		act := r.Action
		if act == "" || strings.EqualFold(act, "allow") {
			act = "Allow"
		} else {
			return n, aclError("ipRules[*].action", "the only IP rule action is Allow.")
		}
		n.IPRules = append(n.IPRules, IPRule{Value: val, Action: act, prefix: pfx})
		_ = i
	}
	for _, r := range raw.VirtualNetworkRules {
		id, err := arm.ParseID(r.ID)
		if err != nil || !strings.EqualFold(id.TypeName(), "Microsoft.Network/virtualNetworks/subnets") {
			return n, aclError("virtualNetworkRules[*].id", "'"+r.ID+"' is not a subnet resource ID.")
		}
		act := r.Action
		if act == "" || strings.EqualFold(act, "allow") {
			act = "Allow"
		} else {
			return n, aclError("virtualNetworkRules[*].action", "the only virtual network rule action is Allow.")
		}
		st := r.State
		if st == "" {
			st = "Succeeded"
		}
		n.VirtualNetworkRules = append(n.VirtualNetworkRules, VirtualNetworkRule{ID: r.ID, Action: act, State: st})
	}
	for _, r := range raw.ResourceAccessRules {
		if !guidRE.MatchString(r.TenantID) {
			return n, aclError("resourceAccessRules[*].tenantId", "'"+r.TenantID+"' is not a tenant ID (a GUID).")
		}
		if !strings.HasPrefix(strings.ToLower(r.ResourceID), "/subscriptions/") {
			return n, aclError("resourceAccessRules[*].resourceId", "'"+r.ResourceID+"' is not a resource ID (a '*' may stand for a segment).")
		}
		n.ResourceAccessRules = append(n.ResourceAccessRules, ResourceAccessRule{TenantID: strings.ToLower(r.TenantID), ResourceID: r.ResourceID})
	}
	return n, nil
}

// RemoteAddr parses an http.Request.RemoteAddr ("ip:port").
func RemoteAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
