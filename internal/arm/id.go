package arm

import (
	"net/http"
	"strings"
)

// ID is a parsed ARM resource ID:
// /subscriptions/{s}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}(/{childType}/{childName})*]
// Segment names are matched case-insensitively (clients send both
// resourceGroups and resourcegroups); String returns canonical casing.
type ID struct {
	Subscription  string
	ResourceGroup string
	Namespace     string   // e.g. Microsoft.ManagedIdentity
	Types         []string // e.g. [workspaces onlineEndpoints]
	Names         []string // same length as Types
}

// SubscriptionID returns /subscriptions/{s}.
func (id ID) SubscriptionID() string { return "/subscriptions/" + id.Subscription }

// ResourceGroupID returns /subscriptions/{s}/resourceGroups/{rg}.
func (id ID) ResourceGroupID() string {
	return id.SubscriptionID() + "/resourceGroups/" + id.ResourceGroup
}

// String is the canonical ID.
func (id ID) String() string {
	var b strings.Builder
	b.WriteString(id.SubscriptionID())
	if id.ResourceGroup != "" {
		b.WriteString("/resourceGroups/" + id.ResourceGroup)
	}
	if id.Namespace != "" {
		b.WriteString("/providers/" + id.Namespace)
		for i := range id.Types {
			b.WriteString("/" + id.Types[i] + "/" + id.Names[i])
		}
	}
	return b.String()
}

// Key is the store key: the lower-cased canonical ID.
func (id ID) Key() string { return strings.ToLower(id.String()) }

// TypeName is ns/type[/childType…], as in a resource's "type" field.
func (id ID) TypeName() string {
	return id.Namespace + "/" + strings.Join(id.Types, "/")
}

// Name is the last name segment.
func (id ID) Name() string {
	if len(id.Names) == 0 {
		return id.ResourceGroup
	}
	return id.Names[len(id.Names)-1]
}

// Parent is the ID of the enclosing resource, or of the resource group for
// a top-level resource.
func (id ID) Parent() ID {
	if len(id.Types) <= 1 {
		return ID{Subscription: id.Subscription, ResourceGroup: id.ResourceGroup}
	}
	p := id
	p.Types = id.Types[:len(id.Types)-1]
	p.Names = id.Names[:len(id.Names)-1]
	return p
}

// ParentKey is the store parent of a record for this ID.
func (id ID) ParentKey() string { return id.Parent().Key() }

// ParseID parses a full resource ID (or a resource group or subscription
// ID). Errors are ARM 400 InvalidResourceId / LinkedInvalidPropertyId.
func ParseID(s string) (ID, error) {
	segs, err := splitPath(s)
	if err != nil {
		return ID{}, err
	}
	var id ID
	bad := func() (ID, error) {
		return ID{}, Errorf(http.StatusBadRequest, "InvalidResourceId", "The resource ID '%s' is not valid: expected /subscriptions/{subscriptionId}[/resourceGroups/{resourceGroupName}[/providers/{namespace}/{type}/{name}…]].", s)
	}
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return bad()
	}
	id.Subscription = segs[1]
	rest := segs[2:]
	if len(rest) == 0 {
		return id, nil
	}
	if len(rest) < 2 || !strings.EqualFold(rest[0], "resourceGroups") {
		return bad()
	}
	id.ResourceGroup = rest[1]
	rest = rest[2:]
	if len(rest) == 0 {
		return id, nil
	}
	if len(rest) < 4 || !strings.EqualFold(rest[0], "providers") || len(rest)%2 != 0 {
		return bad()
	}
	id.Namespace = rest[1]
	for i := 2; i < len(rest); i += 2 {
		id.Types = append(id.Types, rest[i])
		id.Names = append(id.Names, rest[i+1])
	}
	return id, nil
}

// splitPath splits an URL path into segments, refusing path tricks: empty
// segments (double slashes), "." and "..", and backslashes.
func splitPath(p string) ([]string, error) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil, nil
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "\\\x00") {
			return nil, Errorf(http.StatusBadRequest, "InvalidRequestUri", "The request URI path '%s' is not valid: empty, '.' or '..' segments and backslashes are not allowed.", "/"+p)
		}
	}
	return segs, nil
}

// Normalize lower-cases a scope for comparisons and keys.
func Normalize(scope string) string { return strings.ToLower(strings.TrimSuffix(scope, "/")) }
