package directory

import (
	"slices"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
)

// Group expansion follows every change at once, also through another
// Directory on the same store (a replica), and is transitive.
func TestGroupsOfFollowsChanges(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	a, b := New(st), New(st)
	const tenant = "t1"
	user := &Principal{TenantID: tenant, Type: TypeUser, UPN: "u@x"}
	if err := a.CreatePrincipal(ctx, user); err != nil {
		t.Fatal(err)
	}
	if g, _ := b.GroupsOf(ctx, tenant, user.ObjectID); len(g) != 0 {
		t.Fatalf("no groups yet: %v", g)
	}
	inner := &Principal{TenantID: tenant, Type: TypeGroup, DisplayName: "inner"}
	outer := &Principal{TenantID: tenant, Type: TypeGroup, DisplayName: "outer"}
	for _, g := range []*Principal{inner, outer} {
		if err := a.CreatePrincipal(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if g, _ := b.GroupsOf(ctx, tenant, user.ObjectID); len(g) != 0 {
		t.Fatalf("still no membership: %v", g)
	}
	if _, err := a.UpdatePrincipal(ctx, inner.ObjectID, func(p *Principal) error { p.Members = []string{user.ObjectID}; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdatePrincipal(ctx, outer.ObjectID, func(p *Principal) error { p.Members = []string{inner.ObjectID}; return nil }); err != nil {
		t.Fatal(err)
	}
	g, err := b.GroupsOf(ctx, tenant, user.ObjectID)
	if err != nil || len(g) != 2 || !slices.Contains(g, inner.ObjectID) || !slices.Contains(g, outer.ObjectID) {
		t.Fatalf("transitive membership seen by the other directory: %v %v", g, err)
	}
	if err := a.DeletePrincipal(ctx, outer.ObjectID); err != nil {
		t.Fatal(err)
	}
	if g, _ := b.GroupsOf(ctx, tenant, user.ObjectID); len(g) != 1 || g[0] != inner.ObjectID {
		t.Fatalf("after deleting a group: %v", g)
	}
}

// Group expansion reads the group index once it is complete: a store
// written before the index (groups without index records) is indexed by
// EnsureGroupIndex, and until then expansion still finds every group.
func TestGroupIndexBackfillAndMaintenance(t *testing.T) {
	ctx := t.Context()
	st := memory.New()
	d := New(st)
	const tenant = "T1"
	user := &Principal{TenantID: tenant, Type: TypeUser, UPN: "u@x"}
	g1 := &Principal{TenantID: tenant, Type: TypeGroup, DisplayName: "g1"}
	for _, p := range []*Principal{user, g1} {
		if err := d.CreatePrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.UpdatePrincipal(ctx, g1.ObjectID, func(p *Principal) error { p.Members = []string{user.ObjectID}; return nil }); err != nil {
		t.Fatal(err)
	}
	// Simulate an old database: drop the index record.
	if err := store.Delete(ctx, st, KindGroup, groupKey(tenant, g1.ObjectID), ""); err != nil {
		t.Fatal(err)
	}
	if g, err := New(st).GroupsOf(ctx, tenant, user.ObjectID); err != nil || len(g) != 1 {
		t.Fatalf("before the backfill: %v %v", g, err)
	}
	if err := d.EnsureGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	other := New(st) // a replica: reads the marker
	if g, err := other.GroupsOf(ctx, tenant, user.ObjectID); err != nil || len(g) != 1 || g[0] != g1.ObjectID {
		t.Fatalf("after the backfill: %v %v", g, err)
	}
	if !other.groupIndexed.Load() {
		t.Fatal("the replica did not use the index")
	}
	// Maintained from then on: a new group, a deleted one.
	g2 := &Principal{TenantID: tenant, Type: TypeGroup, DisplayName: "g2", Members: []string{user.ObjectID}}
	if err := d.CreatePrincipal(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if g, _ := other.GroupsOf(ctx, tenant, user.ObjectID); len(g) != 2 {
		t.Fatalf("a new group: %v", g)
	}
	if err := d.DeletePrincipal(ctx, g1.ObjectID); err != nil {
		t.Fatal(err)
	}
	if g, _ := other.GroupsOf(ctx, tenant, user.ObjectID); len(g) != 1 || g[0] != g2.ObjectID {
		t.Fatalf("a deleted group: %v", g)
	}
	if recs, _ := st.List(ctx, KindGroup, store.ListOptions{}); len(recs) != 1 {
		t.Fatalf("index records: %d, want 1", len(recs))
	}
}
