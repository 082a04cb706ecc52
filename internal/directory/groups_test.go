package directory

import (
	"slices"
	"testing"

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
