package rbac

import (
	"hash/maphash"
	"math/bits"
)

// nameIndex maps assignment names (case-insensitive) to entries: linear
// probing over a power-of-two array of pointers kept at most 3/4 full, with
// backward-shift deletion (no tombstones). At 8 bytes a slot it costs about
// 13 bytes an assignment, a third of a map[string]*entry. Writer-only
// (Engine.mu).
type nameIndex struct {
	slots []*entry
	n     int
}

func newNameIndex(n int) *nameIndex {
	return &nameIndex{slots: make([]*entry, 1<<bits.Len(uint(max(16, n+n/3+1)-1)))}
}

// nameHash hashes a lower-case name (no allocation up to 64 bytes).
func nameHash(name string) uint64 {
	var kb [64]byte
	return maphash.Bytes(hashSeed, appendLower(kb[:0], name))
}

func (t *nameIndex) mask() uint64 { return uint64(len(t.slots) - 1) }

// find returns the slot of name (any case) or the empty slot ending its
// probe sequence.
func (t *nameIndex) find(name string) uint64 {
	m := t.mask()
	for i := nameHash(name) & m; ; i = (i + 1) & m {
		if e := t.slots[i]; e == nil || equalFoldASCII(e.a.Name, name) {
			return i
		}
	}
}

func (t *nameIndex) get(name string) *entry { return t.slots[t.find(name)] }

// put adds en, replacing an entry with the same name.
func (t *nameIndex) put(en *entry) {
	i := t.find(en.a.Name)
	if t.slots[i] == nil {
		if 4*(t.n+1) > 3*len(t.slots) {
			t.grow()
			i = t.find(en.a.Name)
		}
		t.n++
	}
	t.slots[i] = en
}

// putNew adds en unless an entry with its name exists (then false).
func (t *nameIndex) putNew(en *entry) bool {
	i := t.find(en.a.Name)
	if t.slots[i] != nil {
		return false
	}
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
		i = t.find(en.a.Name)
	}
	t.n++
	t.slots[i] = en
	return true
}

func (t *nameIndex) grow() {
	old := t.slots
	t.slots = make([]*entry, 2*len(old))
	m := t.mask()
	for _, e := range old {
		if e == nil {
			continue
		}
		i := nameHash(e.a.Name) & m
		for t.slots[i] != nil {
			i = (i + 1) & m
		}
		t.slots[i] = e
	}
}

// del removes name and returns its entry (nil if absent).
func (t *nameIndex) del(name string) *entry {
	i := t.find(name)
	en := t.slots[i]
	if en == nil {
		return nil
	}
	m := t.mask()
	// Backward shift: move later members of the cluster into the hole
	// when their home slot does not lie cyclically in (hole, j].
	for j := (i + 1) & m; t.slots[j] != nil; j = (j + 1) & m {
		home := nameHash(t.slots[j].a.Name) & m
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	return en
}

// all returns every entry, in no order.
func (t *nameIndex) all() []*entry {
	out := make([]*entry, 0, t.n)
	for _, e := range t.slots {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
