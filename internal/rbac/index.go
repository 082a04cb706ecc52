package rbac

import (
	"cmp"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
)

// The assignment index.
//
// Readers load one atomic pointer (*state) and never lock. Principals live
// in an open-addressing hash table of atomic pointers to immutable records
// (one per principal: its assignments and, for principals with many, a
// per-scope hash table). Writers serialise on Engine.mu and publish a new
// record with one atomic store (copy-on-write of that principal only);
// when the table fills up they build a bigger one and publish it with one
// atomic store.
//
// A principal's assignments are a contiguous array of items carrying the
// scope's hash, the scope string and the role, so Check never dereferences
// an assignment entry. Check hashes the target's ancestor scopes once
// (ancestry), then for a principal with few assignments scans its items
// comparing hashes, and for one with many looks each ancestor hash up in
// the principal's scope table. Every hash hit is confirmed by comparing
// the scope strings, and principals by their IDs, so collisions cost time,
// never correctness.
//
// Memory accesses on the allowed path: the table slot, the record, the
// items, the scope string of the granting assignment; plus one scope-table
// probe per ancestor for large principals.

// Principals with more assignments than this get a per-scope hash table.
const smallPrincipal = 16

var hashSeed = maphash.MakeSeed()

// entry is one indexed assignment (immutable).
type entry struct {
	a    Assignment // normalised: Name, Scope (trimmed) and ID filled in
	role *roleSlot
}

func (e *entry) key() string          { return lowerASCII(e.a.Name) }
func (e *entry) principalKey() string { return lowerASCII(e.a.PrincipalID) }
func (e *entry) item() item           { return item{h: hashScope(e.a.Scope), e: e} }

// item is 16 bytes: the scope hash decides, and only a hash hit reads the
// entry (its scope, to confirm, and its role).
type item struct {
	h uint64 // hashScope(e.a.Scope)
	e *entry
}

// spanSlot maps a scope hash to items[lo:hi]; hi == 0 marks an empty slot.
type spanSlot struct {
	h      uint64
	lo, hi int32
}

// inlineKey is the longest principal key stored inside its record
// (object IDs are 36-character GUIDs).
const inlineKey = 40

// precord is one principal's assignments (immutable once published). A
// record with no items is a tombstone: it keeps its key's place in the
// table's probe sequence.
type precord struct {
	h     uint64 // maphash of the lower-case key
	klen  int
	kin   [inlineKey]byte // the key when klen <= inlineKey
	key   string          // lower-case principal ID
	items []item          // sorted by h when spans != nil
	spans []spanSlot      // power-of-two size; nil for small principals
}

func (p *precord) keyEq(k []byte) bool {
	if p.klen != len(k) {
		return false
	}
	if p.klen <= inlineKey {
		return string(p.kin[:p.klen]) == string(k)
	}
	return p.key == string(k)
}

// Records of small principals are allocated together with their items
// (one allocation, adjacent memory: a lookup touches one or two nearby
// cache lines instead of two distant ones).
type (
	rec1 struct {
		precord
		arr [1]item
	}
	rec2 struct {
		precord
		arr [2]item
	}
	rec3 struct {
		precord
		arr [3]item
	}
	rec4 struct {
		precord
		arr [4]item
	}
	rec6 struct {
		precord
		arr [6]item
	}
	rec8 struct {
		precord
		arr [8]item
	}
	rec12 struct {
		precord
		arr [12]item
	}
	rec16 struct {
		precord
		arr [16]item
	}
)

// allocRecord returns a zero record and an items slice of length n for it
// to be filled before initRecord.
func allocRecord(n int) (*precord, []item) {
	switch {
	case n <= 1:
		r := new(rec1)
		return &r.precord, r.arr[:n:n]
	case n <= 2:
		r := new(rec2)
		return &r.precord, r.arr[:n:n]
	case n <= 3:
		r := new(rec3)
		return &r.precord, r.arr[:n:n]
	case n <= 4:
		r := new(rec4)
		return &r.precord, r.arr[:n:n]
	case n <= 6:
		r := new(rec6)
		return &r.precord, r.arr[:n:n]
	case n <= 8:
		r := new(rec8)
		return &r.precord, r.arr[:n:n]
	case n <= 12:
		r := new(rec12)
		return &r.precord, r.arr[:n:n]
	case n <= 16 && smallPrincipal >= 16:
		r := new(rec16)
		return &r.precord, r.arr[:n:n]
	}
	return new(precord), make([]item, n)
}

// initRecord fills p for a principal (key lower-case) and its items, which
// it takes ownership of.
func initRecord(p *precord, h uint64, key string, items []item) {
	*p = precord{h: h, klen: len(key), key: key, items: items}
	copy(p.kin[:], key)
	if len(items) <= smallPrincipal {
		return
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(a.h, b.h) })
	distinct := 1
	for i := 1; i < len(items); i++ {
		if items[i].h != items[i-1].h {
			distinct++
		}
	}
	p.spans = make([]spanSlot, 1<<bits.Len(uint(2*distinct-1)))
	mask := uint64(len(p.spans) - 1)
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].h == items[lo].h {
			hi++
		}
		h := items[lo].h
		i := h & mask
		for p.spans[i].hi != 0 {
			i = (i + 1) & mask
		}
		p.spans[i] = spanSlot{h, int32(lo), int32(hi)}
		lo = hi
	}
}

// span returns the items whose scope hash is h.
func (p *precord) span(h uint64) []item {
	mask := uint64(len(p.spans) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &p.spans[i]
		if s.hi == 0 {
			return nil
		}
		if s.h == h {
			return p.items[s.lo:s.hi]
		}
	}
}

// ptable is an open-addressing (linear probing) table of principals, at
// most half full (tombstones included).
type ptable struct {
	mask  uint64
	slots []atomic.Pointer[precord]
	used  int // writer-only: non-nil slots, tombstones included
	live  int // writer-only: records with items
}

func newPtable(n int) *ptable {
	size := 1 << bits.Len(uint(max(16, 2*n)-1)) // a power of two >= 2n
	return &ptable{mask: uint64(size - 1), slots: make([]atomic.Pointer[precord], size)}
}

// find returns the slot index of key k (lower-case, hash h) and its record,
// or the first empty slot and nil.
func (t *ptable) find(h uint64, k []byte) (uint64, *precord) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		p := t.slots[i].Load()
		if p == nil || p.h == h && p.keyEq(k) {
			return i, p
		}
	}
}

type index struct {
	table atomic.Pointer[ptable]
	count atomic.Int64
	// Writer-only, guarded by Engine.mu.
	byKey *nameIndex     // name (any case) → entry
	refs  map[string]int // role GUID → number of assignments
}

func newIndex(n int) *index {
	idx := &index{byKey: newNameIndex(n), refs: map[string]int{}}
	idx.table.Store(newPtable(0))
	return idx
}

type state struct {
	roles *roleTable
	idx   *index
}

func (idx *index) add(en *entry) {
	idx.byKey.put(en)
	idx.refs[en.role.guid]++
	idx.count.Add(1)
	idx.update(en.principalKey(), func(items []item) []item { return append(items, en.item()) })
}

func (idx *index) remove(key string) bool {
	old := idx.byKey.del(key)
	if old == nil {
		return false
	}
	g := old.role.guid
	if idx.refs[g]--; idx.refs[g] <= 0 {
		delete(idx.refs, g)
	}
	idx.count.Add(-1)
	idx.update(old.principalKey(), func(items []item) []item {
		return slices.DeleteFunc(items, func(it item) bool { return it.e == old })
	})
	return true
}

// update replaces one principal's items (copy-on-write of its record); fn
// receives a private copy. Callers hold Engine.mu.
func (idx *index) update(key string, fn func([]item) []item) {
	k := []byte(key)
	h := maphash.Bytes(hashSeed, k)
	t := idx.table.Load()
	i, old := t.find(h, k)
	var items []item
	if old != nil {
		items = slices.Clone(old.items)
	}
	items = fn(items)
	rec, own := allocRecord(len(items))
	copy(own, items)
	items = own
	initRecord(rec, h, key, items)
	switch {
	case old != nil:
		if len(old.items) > 0 && len(items) == 0 {
			t.live--
		} else if len(old.items) == 0 && len(items) > 0 {
			t.live++
		}
		t.slots[i].Store(rec) // a tombstone when items is empty
	case len(items) == 0:
	case 2*(t.used+1) > len(t.slots):
		idx.rebuild(t, rec)
	default:
		t.slots[i].Store(rec)
		t.used++
		t.live++
	}
}

// insert adds a record for a key known to be absent (writers only, or
// before publication).
func (t *ptable) insert(p *precord) {
	i := p.h & t.mask
	for t.slots[i].Load() != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i].Store(p)
	t.used++
	t.live++
}

// rebuild publishes a new table holding t's live records and rec.
func (idx *index) rebuild(t *ptable, rec *precord) {
	nt := newPtable(2 * (t.live + 1))
	for i := range t.slots {
		if p := t.slots[i].Load(); p != nil && len(p.items) > 0 {
			nt.insert(p)
		}
	}
	nt.insert(rec)
	idx.table.Store(nt)
}

// principal finds a principal by an object ID in any case, without
// allocating (for IDs up to 64 bytes); nil if it has no assignments.
func (idx *index) principal(id string) *precord {
	var kb [64]byte
	k := appendLower(kb[:0], id)
	_, p := idx.table.Load().find(maphash.Bytes(hashSeed, k), k)
	if p == nil || len(p.items) == 0 {
		return nil
	}
	return p
}

// grant returns the assignment granting the action over target (trimmed,
// any case, hashed into anc) and the role that grants it, preferring the
// most specific scope; nil if none. No allocation.
func (p *precord) grant(anc *ancestry, target, action string, data bool) (*entry, *compiledRole) {
	if p == nil {
		return nil, nil
	}
	if anc.over {
		return p.grantSlow(target, action, data)
	}
	if p.spans == nil {
		var best *entry
		var bestRole *compiledRole
		bestDepth := -1
		for i := range p.items {
			it := &p.items[i]
			d := anc.depth(it.h)
			if d <= bestDepth || !coversFold(it.e.a.Scope, target) {
				continue
			}
			if r := it.e.role.p.Load(); r != nil && r.allows(action, data) {
				best, bestRole, bestDepth = it.e, r, d
			}
		}
		return best, bestRole
	}
	for j := anc.n - 1; j >= 0; j-- {
		items := p.span(anc.h[j])
		for i := range items {
			it := &items[i]
			if !coversFold(it.e.a.Scope, target) {
				continue
			}
			if r := it.e.role.p.Load(); r != nil && r.allows(action, data) {
				return it.e, r
			}
		}
	}
	return nil, nil
}

// grantSlow is grant by string comparison, for very deep or long targets.
func (p *precord) grantSlow(target, action string, data bool) (*entry, *compiledRole) {
	var best *entry
	var bestRole *compiledRole
	for i := range p.items {
		it := &p.items[i]
		if best != nil && len(it.e.a.Scope) <= len(best.a.Scope) || !coversFold(it.e.a.Scope, target) {
			continue
		}
		if r := it.e.role.p.Load(); r != nil && r.allows(action, data) {
			best, bestRole = it.e, r
		}
	}
	return best, bestRole
}

// applicable appends the assignments whose scope covers target.
func (p *precord) applicable(dst []*entry, anc *ancestry, target string) []*entry {
	if p == nil {
		return dst
	}
	if anc.over {
		for _, it := range p.items {
			if coversFold(it.e.a.Scope, target) {
				dst = append(dst, it.e)
			}
		}
		return dst
	}
	if p.spans == nil {
		// The hash first: only an ancestor's hash reads the entry.
		for _, it := range p.items {
			if anc.depth(it.h) >= 0 && coversFold(it.e.a.Scope, target) {
				dst = append(dst, it.e)
			}
		}
		return dst
	}
	for j := anc.n - 1; j >= 0; j-- {
		for _, it := range p.span(anc.h[j]) {
			if coversFold(it.e.a.Scope, target) {
				dst = append(dst, it.e)
			}
		}
	}
	return dst
}

// atScope returns the assignments at exactly scope (trimmed).
func (p *precord) atScope(scope string) []*entry {
	if p == nil {
		return nil
	}
	h := hashScope(scope)
	items := p.items
	if p.spans != nil {
		items = p.span(h)
	}
	var out []*entry
	for _, it := range items {
		if it.h == h && equalFoldASCII(it.e.a.Scope, scope) {
			out = append(out, it.e)
		}
	}
	return out
}

// applicable lists the assignments of the principal and its groups whose
// scope covers target (trimmed), most specific scope first.
func (st *state) applicable(principalID string, groupIDs []string, target string) []*entry {
	var anc ancestry
	anc.init(target)
	var out []*entry
	seen := map[string]bool{}
	for _, id := range append([]string{principalID}, groupIDs...) {
		k := lowerASCII(strings.TrimSpace(id))
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = st.idx.principal(k).applicable(out, &anc, target)
	}
	slices.SortStableFunc(out, func(a, b *entry) int { return cmp.Compare(len(b.a.Scope), len(a.a.Scope)) })
	return out
}
