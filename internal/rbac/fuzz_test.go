package rbac

import "testing"

// FuzzScopeAndPattern: scopes come from URLs and assignment bodies,
// action patterns from custom role definitions. Normalising, validating
// and matching never panic; a normalised valid scope stays valid.
func FuzzScopeAndPattern(f *testing.F) {
	for _, s := range []string{
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a", "/", "", "//", "/subscriptions/",
		"/providers/Microsoft.Management/managementGroups/mg", "Microsoft.Storage/*/read", "*", "*/read", "**", "a/*/b/*/c",
		"Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action",
	} {
		f.Add(s, "Microsoft.Storage/storageAccounts/read")
	}
	f.Fuzz(func(t *testing.T, s, action string) {
		n := NormalizeScope(s)
		if ValidateScope(s) == nil && ValidateScope(n) != nil {
			t.Fatalf("%q is valid but its normal form %q is not", s, n)
		}
		p := CompilePattern(s)
		_ = p.Match(action)
		_ = p.Match(s)
		_, _ = ParseRoleDefinitions([]byte(s))
	})
}
