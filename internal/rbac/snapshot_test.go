package rbac

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
)

// snapshotOf encodes e and decodes it again.
func snapshotOf(t testing.TB, e *Engine) *Snapshot {
	t.Helper()
	snap, err := DecodeSnapshot(e.AppendSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// sameEngine fails unless b holds a's assignments and decides reqs alike.
func sameEngine(t *testing.T, a, b *Engine, reqs ...[]Request) {
	t.Helper()
	x, y := a.Assignments(), b.Assignments()
	if len(x) != len(y) {
		t.Fatalf("%d and %d assignments", len(x), len(y))
	}
	for i := range x {
		// Principal IDs compare without case: a load keeps the first
		// casing it meets of each (as Load does), PutAssignment the given one.
		xi, yi := x[i], y[i]
		if lowerASCII(xi.PrincipalID) == lowerASCII(yi.PrincipalID) {
			yi.PrincipalID = xi.PrincipalID
		}
		if xi != yi {
			t.Fatalf("assignment %d differs:\n%+v\n%+v", i, xi, yi)
		}
	}
	for _, rs := range reqs {
		for _, r := range rs {
			x, y := a.Check(r), b.Check(r)
			// (Which of several equally specific assignments grants may differ.)
			if x.Allowed != y.Allowed || x.Reason() != y.Reason() {
				t.Fatalf("%+v: %v (%s) and %v (%s)", r, x.Allowed, x.Reason(), y.Allowed, y.Reason())
			}
		}
	}
}

// TestSnapshotRoundTrip: an engine loaded from its snapshot answers as the
// engine it was taken from, on a generated tenant with groups, hot
// principals, scopes in two casings and every scope level.
func TestSnapshotRoundTrip(t *testing.T) {
	w := buildWorld(t, 20_000)
	// Assignments written after the Load, one with an ID of its own
	// casing, a description and an upper-case principal already known in
	// lower case.
	first := w.e.Assignments()[0]
	for _, a := range []Assignment{
		{ID: "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Authorization/roleAssignments/ABC", RoleDefinitionID: ReaderRoleID, PrincipalID: "p-1", PrincipalType: "User", Description: "d"},
		{Name: "x-2", Scope: "/", RoleDefinitionID: OwnerRoleID, PrincipalID: upper(first.PrincipalID)},
	} {
		if err := w.e.PutAssignment(a); err != nil {
			t.Fatal(err)
		}
	}
	e := NewEngine()
	if err := e.LoadSnapshot(BuiltinRoles(), snapshotOf(t, w.e)); err != nil {
		t.Fatal(err)
	}
	sameEngine(t, w.e, e, w.allowed, w.denied, w.viaGroup)
	// Load of the decoded assignments agrees too.
	e2 := NewEngine()
	if err := e2.Load(BuiltinRoles(), snapshotOf(t, w.e).Assignments()); err != nil {
		t.Fatal(err)
	}
	sameEngine(t, w.e, e2, w.allowed, w.denied)

	// Delete and Add: as Delete/PutAssignment on the engine.
	snap := snapshotOf(t, w.e)
	gone := w.e.Assignments()[7]
	snap.Delete(map[string]bool{lowerASCII(gone.Name): true})
	added := Assignment{Name: "new-one", Scope: gone.Scope, RoleDefinitionID: OwnerRoleID, PrincipalID: "brand-new"}
	snap.Add(added)
	w.e.DeleteAssignment(gone.Name)
	if err := w.e.PutAssignment(added); err != nil {
		t.Fatal(err)
	}
	e3 := NewEngine()
	if err := e3.LoadSnapshot(BuiltinRoles(), snap); err != nil {
		t.Fatal(err)
	}
	sameEngine(t, w.e, e3, w.allowed, w.denied)
	if e3.Len() != w.e.Len() {
		t.Fatalf("%d assignments, want %d", e3.Len(), w.e.Len())
	}
	if err := NewEngine().LoadSnapshot(BuiltinRoles(), snap); err == nil {
		t.Fatal("a snapshot was loaded twice")
	}
	// A duplicate name added is refused, as Load refuses it.
	snap = snapshotOf(t, w.e)
	snap.Add(added)
	if err := NewEngine().LoadSnapshot(BuiltinRoles(), snap); err == nil {
		t.Fatal("a duplicate name was loaded")
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// TestSnapshotDamage: every flipped byte and every truncation is refused.
func TestSnapshotDamage(t *testing.T) {
	e := NewEngine()
	for _, a := range []Assignment{
		{Name: "a1", Scope: "/subscriptions/s/resourceGroups/rg", RoleDefinitionID: ReaderRoleID, PrincipalID: "p1", PrincipalType: "User"},
		{Name: "a2", Scope: "/", RoleDefinitionID: OwnerRoleID, PrincipalID: "p2", Condition: "c", Description: "d"},
	} {
		if err := e.PutAssignment(a); err != nil {
			t.Fatal(err)
		}
	}
	good := e.AppendSnapshot(nil)
	if _, err := DecodeSnapshot(good); err != nil {
		t.Fatal(err)
	}
	for i := range good {
		for _, bit := range []byte{1, 0x80} {
			b := slices.Clone(good)
			b[i] ^= bit
			if _, err := DecodeSnapshot(b); err == nil {
				t.Fatalf("byte %d flipped (%#x) was accepted", i, bit)
			}
		}
	}
	for n := range good {
		if _, err := DecodeSnapshot(good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes, accepted", n)
		}
	}
}

// FuzzDecodeSnapshot: bytes with a valid checksum (the fuzzer's body plus
// its CRC) never panic the decoder or LoadSnapshot.
func FuzzDecodeSnapshot(f *testing.F) {
	e := NewEngine()
	_ = e.PutAssignment(Assignment{Name: "a1", Scope: "/subscriptions/s", RoleDefinitionID: ReaderRoleID, PrincipalID: "p1"})
	good := e.AppendSnapshot(nil)
	f.Add(good[:len(good)-4])
	f.Add([]byte(snapshotMagic + "\x01\x01\x00\x01/"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, crcTable))
		snap, err := DecodeSnapshot(b)
		if err != nil {
			return
		}
		_ = NewEngine().LoadSnapshot(BuiltinRoles(), snap)
	})
}
