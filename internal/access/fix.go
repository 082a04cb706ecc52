package access

import (
	"fmt"
	"strings"
)

// The one place amlid writes the command that fixes an access gap: every
// refusal, explain/check, the server-side rules and the analyzer call these.

// RoleFix is the command that grants role on scope to a principal.
func RoleFix(principalID, principalType, role, scope string) string {
	switch principalType {
	case "User", "Group", "ForeignGroup":
	default: // managed identities and apps are service principals to RBAC
		principalType = "ServicePrincipal"
	}
	return fmt.Sprintf("amlid role assignment create --assignee-object-id %s --assignee-principal-type %s --role %q --scope %s",
		principalID, principalType, role, scope)
}

// RoleRemoveFix is the command that removes an assignment of role on scope.
func RoleRemoveFix(principalID, role, scope string) string {
	return fmt.Sprintf("amlid role assignment delete --assignee %s --role %q --scope %s", principalID, role, scope)
}

// PolicyFix is the command that gives a principal secret permissions in a
// vault that uses the access-policy model.
func PolicyFix(vaultName, objectID string, secretPermissions []string) string {
	return fmt.Sprintf("amlid keyvault set-policy --name %s --object-id %s --secret-permissions %s",
		vaultName, objectID, strings.Join(secretPermissions, " "))
}

// PrincipalTypeOf maps a token's idtyp claim ("user" or "app") to the
// principal type a role assignment names.
func PrincipalTypeOf(idtyp string) string {
	if idtyp == "user" {
		return "User"
	}
	return "ServicePrincipal"
}
