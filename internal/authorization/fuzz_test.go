package authorization

import (
	"net/http"
	"testing"

	"github.com/amlid/amlid/internal/arm"
)

// FuzzCondition: role assignment conditions are client text. They are
// always refused (amlid does not evaluate them), with a 400, never a panic.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'public'))",
		"' and assignedTo(atScope()", "@Request[x] StringLike 'a*'", "(", ")", "'", "{[(])}", "@Principal[x] ForAnyOfAnyValues:GuidEquals {a, b}",
	} {
		f.Add(s, "2.0")
	}
	f.Add("", "2.0")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cond, version string) {
		err := checkCondition(cond, version)
		if cond == "" && version == "" {
			if err != nil {
				t.Fatalf("no condition refused: %v", err)
			}
			return
		}
		if isBlank(cond) && version == "" {
			return
		}
		e := arm.AsError(err)
		if err == nil || e.Status != http.StatusBadRequest {
			t.Fatalf("condition %q version %q: %v", cond, version, err)
		}
	})
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\v' && r != '\f' && r != 0x85 && r != 0xA0 {
			return false
		}
	}
	return true
}
