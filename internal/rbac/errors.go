package rbac

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel error kinds. Errors returned by this package are *Error values
// whose Message is fit for an ARM error body; test the kind with errors.Is.
var (
	// ErrInvalidScope: a malformed scope (ValidateScope).
	ErrInvalidScope = errors.New("invalid scope")
	// ErrInvalidAssignment: a malformed role assignment (no name, no
	// principal, ID and scope disagree). ARM: 400 InvalidRoleAssignment…
	ErrInvalidAssignment = errors.New("invalid role assignment")
	// ErrRoleNotFound: the role definition does not exist.
	// ARM: 400 RoleDefinitionDoesNotExist (assignment) / 404 RoleDefinitionDoesNotExist.
	ErrRoleNotFound = errors.New("role definition not found")
	// ErrScopeNotAssignable: a custom role's assignableScopes do not cover
	// the assignment scope.
	ErrScopeNotAssignable = errors.New("role not assignable at scope")
	// ErrAssignmentExists: same principal, role and scope under another
	// name. ARM: 409 RoleAssignmentExists.
	ErrAssignmentExists = errors.New("role assignment exists")
	// ErrInvalidRole: a malformed role definition.
	ErrInvalidRole = errors.New("invalid role definition")
	// ErrRoleNameExists: another role already has this name (names are
	// unique, case-insensitively). ARM: 409 RoleDefinitionWithSameNameExists.
	ErrRoleNameExists = errors.New("role name exists")
	// ErrBuiltInRole: built-in roles cannot be changed or deleted.
	ErrBuiltInRole = errors.New("built-in role is read-only")
	// ErrRoleInUse: a role definition with assignments cannot be deleted.
	// ARM: 409 RoleDefinitionHasAssignments.
	ErrRoleInUse = errors.New("role definition has assignments")
)

// Error is an error of a given Kind (one of the Err* sentinels) with a
// message meant for the client.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns Kind, so errors.Is(err, ErrAssignmentExists) works.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// AuthorizationFailedMessage is ARM's 403 AuthorizationFailed message,
// verbatim (arm-and-rbac.md §1).
func AuthorizationFailedMessage(principalID, action, scope string) string {
	return "The client '" + principalID + "' with object id '" + principalID +
		"' does not have authorization to perform action '" + action +
		"' over scope '" + scope + "' or the scope is invalid. If access was recently granted, please refresh your credentials."
}

// denialReason is Decision.Reason for a refusal (rule RBAC-4): which
// principal, which action, which scope, which roles would grant it, and
// what the principal holds there.
func denialReason(req Request, granting []string, held []heldRole) string {
	var b strings.Builder
	n := 300 + 2*len(req.PrincipalID) + len(req.Action) + len(req.Scope)
	for _, g := range granting {
		n += len(g) + 2
	}
	for _, h := range held {
		n += len(h.name) + len(h.scope) + len(h.via) + 24
	}
	b.Grow(n)
	b.WriteString("The client '")
	b.WriteString(req.PrincipalID)
	b.WriteString("' with object id '")
	b.WriteString(req.PrincipalID)
	b.WriteString("' does not have authorization to perform ")
	b.WriteString("action '")
	b.WriteString(req.Action)
	b.WriteString("' over scope '")
	b.WriteString(req.Scope)
	b.WriteString("' or the scope is invalid. ")
	if isRBAC3Action(req.Action, req.DataAction) {
		b.WriteString("(rules RBAC-3, RBAC-4)")
	} else {
		b.WriteString("(rule RBAC-4)")
	}
	if len(granting) == 0 {
		b.WriteString(" No role definition grants it.")
	} else {
		b.WriteString(" Roles that grant it: ")
		for i, g := range granting {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g)
		}
		b.WriteString(".")
	}
	if len(held) > 0 {
		b.WriteString(" Roles held over this scope: ")
		for i, h := range held {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(h.name)
			b.WriteString(" (at '")
			b.WriteString(h.scope)
			b.WriteString("'")
			if h.via != "" {
				b.WriteString(" via group '")
				b.WriteString(h.via)
				b.WriteString("'")
			}
			b.WriteString(")")
		}
		b.WriteString(".")
		if note := rbac2Note(req, held); note != "" {
			b.WriteString(" ")
			b.WriteString(note)
		}
	}
	return b.String()
}

// heldRole is a role the principal holds over the target scope.
type heldRole struct {
	name, guid, scope, via string
}

func isRBAC3Action(action string, data bool) bool {
	if data {
		return false
	}
	return rbac3RoleAssignmentWrite.Match(action) || rbac3AssignIdentity.Match(action)
}

var (
	rbac3RoleAssignmentWrite = CompilePattern("Microsoft.Authorization/roleAssignments/write")
	rbac3AssignIdentity      = CompilePattern("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action")
	rbac2AuthorizationWrite  = CompilePattern("Microsoft.Authorization/*/write")
)

// rbac2Note explains the two RBAC-2 surprises: Owner/Contributor grant no
// data actions, and Contributor cannot write role assignments.
func rbac2Note(req Request, held []heldRole) string {
	var owner, contrib bool
	for _, h := range held {
		owner = owner || h.name == "Owner"
		contrib = contrib || h.name == "Contributor"
	}
	switch {
	case req.DataAction && (owner || contrib):
		return "Owner and Contributor grant no data actions; assign a data role (rule RBAC-2)."
	case !req.DataAction && contrib && rbac2AuthorizationWrite.Match(req.Action):
		return "Contributor cannot write role assignments or other Microsoft.Authorization resources (rule RBAC-2)."
	}
	return ""
}
