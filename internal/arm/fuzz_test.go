package arm_test

import (
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/arm"
)

// FuzzParseID: resource IDs come from URLs, bodies and YAML. Parsing never
// panics, and a parsed ID prints to an ID that parses to the same key.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e/deployments/d",
		"/subscriptions/s", "/subscriptions/s/resourceGroups/rg", "subscriptions/s/", "//subscriptions//s", "/subscriptions/s/resourceGroups",
		"/subscriptions/s/resourceGroups/rg/providers/ns/t", "/subscriptions/%2e%2e/resourceGroups/x", "/SUBSCRIPTIONS/s/RESOURCEGROUPS/r",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/" + strings.Repeat("a", 300), "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := arm.ParseID(s)
		if err != nil {
			return
		}
		again, err := arm.ParseID(id.String())
		if err != nil {
			t.Fatalf("ParseID(%q) gave %q, which does not parse: %v", s, id.String(), err)
		}
		if again.Key() != id.Key() {
			t.Fatalf("round trip of %q: %q then %q", s, id.Key(), again.Key())
		}
		_ = id.Parent().String()
		_ = id.TypeName()
	})
}
