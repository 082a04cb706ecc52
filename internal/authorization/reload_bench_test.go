package authorization

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/sqlstore"
	"github.com/google/uuid"
)

// BenchmarkRestart measures what a restart pays for RBAC on SQLite, at
// each size in AMLID_BENCH_ASSIGNMENTS (default 100000; 1000000 takes a
// few minutes to seed): a start from the snapshot with 100 writes in the
// journal after it (restart-s), and a first start that reads and decodes
// every stored role assignment (full-load-s).
//
//	go test -run '^$' -bench Restart -benchtime 1x ./internal/authorization/
func BenchmarkRestart(b *testing.B) {
	sizes := []int{100_000}
	if s := os.Getenv("AMLID_BENCH_ASSIGNMENTS"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	ctx := context.Background()
	for _, n := range sizes {
		st, err := sqlstore.Open(ctx, filepath.Join(b.TempDir(), "amlid.db"))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		const batch = 20000
		for from := 0; from < n; from += batch {
			err := st.Tx(ctx, func(tx store.Tx) error {
				for i := from; i < min(from+batch, n); i++ {
					scope := fmt.Sprintf("/subscriptions/%08d-0000-0000-0000-000000000000/resourceGroups/rg-%d", i%1000, i%5000)
					name := uuid.NewString()
					sa := storedAssignment{Assignment: rbac.Assignment{
						ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, Scope: scope,
						RoleDefinitionID: "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/" + catalog.Reader.ID,
						PrincipalID:      fmt.Sprintf("%08d-1111-2222-3333-444444444444", i%(n/8+1)), PrincipalType: "ServicePrincipal",
					}, CreatedOn: time.Now(), UpdatedOn: time.Now()}
					v, _ := json.Marshal(sa)
					if _, err := tx.Create(ctx, store.Record{Kind: KindAssignment, Key: name, Parent: rbac.NormalizeScope(scope), Value: v}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		// The version (as an RBAC write through the API leaves it).
		if err := st.Tx(ctx, func(tx store.Tx) error { return bumpVersion(ctx, tx, false) }); err != nil {
			b.Fatal(err)
		}
		seed := time.Since(t0)
		// First start: no snapshot, every record is read and decoded.
		t0 = time.Now()
		s, err := New(ctx, st, nil, ModeEnforce, nil)
		if err != nil {
			b.Fatal(err)
		}
		full := time.Since(t0)
		if s.engine.Len() != n {
			b.Fatalf("loaded %d of %d", s.engine.Len(), n)
		}
		t0 = time.Now()
		s.WaitSnapshot()                             // written in the background after a full load
		if err := s.WriteSnapshot(ctx); err != nil { // (below the size that triggers it)
			b.Fatal(err)
		}
		snap := time.Since(t0)
		// Writes after the snapshot, as a crash would leave them: in the
		// journal only.
		const after = 100
		for i := range after {
			if err := st.Tx(ctx, func(tx store.Tx) error {
				return s.Grant(ctx, tx, fmt.Sprintf("%08d-aaaa-2222-3333-444444444444", i), "ServicePrincipal", catalog.Reader.ID, "/subscriptions/00000000-0000-0000-0000-000000000000")
			}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		t0 = time.Now()
		s2, err := New(ctx, st, nil, ModeEnforce, nil)
		if err != nil {
			b.Fatal(err)
		}
		restart := time.Since(t0)
		if s2.engine.Len() != n+after {
			b.Fatalf("restart loaded %d of %d", s2.engine.Len(), n+after)
		}
		fmt.Printf("RBAC restart n=%d: %.2f s from the snapshot + %d journaled writes; %.2f s reading every record (no snapshot); snapshot written in %.2f s; seeded in %.1f s\n",
			n, restart.Seconds(), after, full.Seconds(), snap.Seconds(), seed.Seconds())
		b.ReportMetric(restart.Seconds(), fmt.Sprintf("restart-s@%d", n))
		b.ReportMetric(full.Seconds(), fmt.Sprintf("full-load-s@%d", n))
		s2.WaitSnapshot()
		st.Close()
	}
}
