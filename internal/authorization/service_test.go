package authorization

import (
	"context"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store/memory"
)

// TestAuditRecordsTheReason: in audit mode a denial is let through and
// recorded with its explanation (built only then: Decision.Reason).
func TestAuditRecordsTheReason(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	s, err := New(ctx, st, directory.New(st), ModeAudit, quiet)
	if err != nil {
		t.Fatal(err)
	}
	action := "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
	d, err := s.AuthorizeData(ctx, "t", principal(1), action, scopeOf(1))
	if err != nil || !d.Allowed {
		t.Fatalf("audit mode refused (%v, %v)", d.Allowed, err)
	}
	recs, err := s.AuditRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !strings.Contains(recs[0].Explanation, "does not have authorization to perform action '"+action+"'") ||
		!strings.Contains(recs[0].Explanation, "Storage Blob Data Reader") {
		t.Fatalf("audit records %+v", recs)
	}
}
