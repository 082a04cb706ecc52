// Package rbac is amlid's Azure RBAC engine: role definitions (with the
// built-in roles and their Azure GUIDs), action matching, scope ancestry and
// an in-memory index of role assignments that answers "may principal P
// perform action A over scope S?" in about a microsecond.
//
// It implements rules RBAC-1..RBAC-4 of docs/identity-rules.md and the
// matching rules of docs/arm-and-rbac.md §3. It is pure: standard library
// only, no I/O, no clock.
package rbac

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// Role types (RoleDefinition.RoleType; the ARM wire field is properties.type).
const (
	BuiltInRole = "BuiltInRole"
	CustomRole  = "CustomRole"
)

const roleDefinitionsPath = "/providers/Microsoft.Authorization/roleDefinitions/"

// Permission is one permission block of a role definition (rule RBAC-1).
// Strings are Azure action patterns: case-insensitive, '*' matches any run
// of characters including '/'.
type Permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

// Allows reports whether this block grants the action: it matches some
// Actions (DataActions) pattern and no NotActions (NotDataActions) pattern.
// It compiles the patterns on every call; the Engine uses compiled forms.
func (p Permission) Allows(action string, dataAction bool) bool {
	allow, deny := p.Actions, p.NotActions
	if dataAction {
		allow, deny = p.DataActions, p.NotDataActions
	}
	ok := false
	for _, s := range allow {
		if MatchAction(s, action) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, s := range deny {
		if MatchAction(s, action) {
			return false
		}
	}
	return true
}

// clone returns a deep copy with nil lists replaced by empty ones (so JSON
// shows [] rather than null, as Azure does).
func (p Permission) clone() Permission {
	c := func(s []string) []string { return append(make([]string, 0, len(s)), s...) }
	return Permission{Actions: c(p.Actions), NotActions: c(p.NotActions), DataActions: c(p.DataActions), NotDataActions: c(p.NotDataActions)}
}

// RoleDefinition is a built-in or custom role.
type RoleDefinition struct {
	// ID is the role's GUID (the ARM "name"; the ARM "id" is
	// ResourceID(subscription)).
	ID               string       `json:"id"`
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	RoleType         string       `json:"roleType"` // BuiltInRole or CustomRole
	AssignableScopes []string     `json:"assignableScopes"`
	Permissions      []Permission `json:"permissions"`
}

// Clone returns a deep copy.
func (r RoleDefinition) Clone() RoleDefinition {
	c := r
	c.AssignableScopes = append(make([]string, 0, len(r.AssignableScopes)), r.AssignableScopes...)
	c.Permissions = make([]Permission, len(r.Permissions))
	for i, p := range r.Permissions {
		c.Permissions[i] = p.clone()
	}
	return c
}

// ResourceID is the role definition's ARM ID: subscription-scoped
// (/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid})
// as ARM returns built-ins at any list scope, or tenant-level
// (/providers/…/{guid}) when subscription is empty.
func (r RoleDefinition) ResourceID(subscription string) string {
	if subscription == "" {
		return roleDefinitionsPath + r.ID
	}
	return "/subscriptions/" + subscription + roleDefinitionsPath + r.ID
}

// Allows reports whether any permission block of the role grants the action.
func (r RoleDefinition) Allows(action string, dataAction bool) bool {
	for _, p := range r.Permissions {
		if p.Allows(action, dataAction) {
			return true
		}
	}
	return false
}

// IsBuiltIn reports whether RoleType is BuiltInRole (case-insensitively).
func (r RoleDefinition) IsBuiltIn() bool { return strings.EqualFold(r.RoleType, BuiltInRole) }

// RoleGUID extracts the role GUID from a role definition ID in any form
// (/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{g},
// /providers/…/{g}, or {g} alone): the last path segment, lower-cased.
// ARM matches roleDefinitionId by this trailing GUID (arm-and-rbac.md §3).
func RoleGUID(id string) string {
	id = strings.TrimRight(strings.TrimSpace(id), "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return lowerASCII(id)
}

//go:embed builtin-roles.json
var builtinRolesJSON []byte

// docsRole is the docs format of builtin-roles.json.
type docsRole struct {
	AssignableScopes []string     `json:"assignableScopes"`
	Description      string       `json:"description"`
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	Permissions      []Permission `json:"permissions"`
	RoleName         string       `json:"roleName"`
	RoleType         string       `json:"roleType"`
	Type             string       `json:"type"`
}

var builtins = sync.OnceValue(func() []RoleDefinition {
	roles, err := ParseRoleDefinitions(builtinRolesJSON)
	if err != nil {
		panic("rbac: embedded builtin-roles.json: " + err.Error())
	}
	return roles
})

// ParseRoleDefinitions parses a JSON array of role definitions in the Azure
// docs / az CLI format ({"name": guid, "id": "/providers/…/{guid}",
// "roleName", "roleType", "description", "assignableScopes", "permissions"}).
// The GUID is taken from "name", else from the tail of "id".
func ParseRoleDefinitions(data []byte) ([]RoleDefinition, error) {
	var in []docsRole
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("rbac: role definitions: %w", err)
	}
	out := make([]RoleDefinition, 0, len(in))
	for i, d := range in {
		guid := d.Name
		if guid == "" {
			guid = d.ID
		}
		guid = RoleGUID(guid)
		if guid == "" || d.RoleName == "" {
			return nil, fmt.Errorf("rbac: role definitions: entry %d has no name/id or no roleName", i)
		}
		r := RoleDefinition{
			ID: guid, RoleName: d.RoleName, Description: d.Description, RoleType: d.RoleType,
			AssignableScopes: d.AssignableScopes, Permissions: d.Permissions,
		}
		if r.RoleType == "" {
			r.RoleType = CustomRole
		}
		out = append(out, r.Clone())
	}
	return out, nil
}

// BuiltinRoles returns (a fresh deep copy of) the 16 built-in roles, with
// Azure's GUIDs (rule RBAC-1).
func BuiltinRoles() []RoleDefinition {
	b := builtins()
	out := make([]RoleDefinition, len(b))
	for i, r := range b {
		out[i] = r.Clone()
	}
	return out
}

// BuiltinRole finds a built-in role by GUID or by any role definition ID
// ending in its GUID.
func BuiltinRole(id string) (RoleDefinition, bool) {
	g := RoleGUID(id)
	for _, r := range builtins() {
		if r.ID == g {
			return r.Clone(), true
		}
	}
	return RoleDefinition{}, false
}

// BuiltinRoleByName finds a built-in role by name, case-insensitively
// ("acrpull" finds AcrPull, as az's roleName filter does).
func BuiltinRoleByName(name string) (RoleDefinition, bool) {
	name = strings.TrimSpace(name)
	for _, r := range builtins() {
		if strings.EqualFold(r.RoleName, name) {
			return r.Clone(), true
		}
	}
	return RoleDefinition{}, false
}
