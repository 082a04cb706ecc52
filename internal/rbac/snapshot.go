package rbac

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
)

// Snapshot encoding of the engine's assignments (issue 23: a restart with a
// million assignments reads one compact blob instead of decoding a million
// JSON records).
//
//	magic "AMLIDRB1"
//	uvarint count of assignments
//	four string tables, each: uvarint n, then n strings
//	  scopes       sorted, front-coded (uvarint shared-prefix length, string suffix)
//	  principals   string
//	  roles        string (RoleDefinitionID as stored)
//	  types        string (PrincipalType)
//	count records: uvarint scope, uvarint principal, uvarint role, uvarint type,
//	  string name, byte flags, [string ID if flags&1], [string description
//	  if flags&2], [string condition if flags&4]
//	uint32 little-endian CRC-32C of everything before it
//
// where string is uvarint length + bytes. An ID is stored only when it is
// not {scope}/providers/Microsoft.Authorization/roleAssignments/{name}.
// The decoder checks the CRC, every index and length: a damaged snapshot is
// an error, never a wrong answer.

const snapshotMagic = "AMLIDRB1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrBadSnapshot: DecodeSnapshot was given bytes that are not a whole,
// undamaged snapshot.
var ErrBadSnapshot = errors.New("rbac: damaged or truncated assignment snapshot")

const (
	snapID = 1 << iota
	snapDescription
	snapCondition
)

// AppendSnapshot appends the encoding of every assignment in the engine to
// dst. It holds the writers' lock while it reads (readers are not blocked).
func (e *Engine) AppendSnapshot(dst []byte) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return appendSnapshot(dst, e.state().idx.byKey.slots, e.state().idx.byKey.n)
}

// EncodeSnapshot is AppendSnapshot for a list of assignments (normalised
// ones: as Assignments returns them).
func EncodeSnapshot(as []Assignment) []byte {
	ens := make([]*entry, len(as))
	for i := range as {
		ens[i] = &entry{a: as[i]}
	}
	return appendSnapshot(nil, ens, len(as))
}

func appendSnapshot(dst []byte, slots []*entry, n int) []byte {
	start := len(dst)
	type dict struct {
		idx  map[string]int
		list []string
	}
	add := func(d *dict, key, s string) {
		if _, ok := d.idx[key]; !ok {
			d.idx[key] = len(d.list)
			d.list = append(d.list, s)
		}
	}
	scopes := dict{idx: make(map[string]int, n/2+1)}
	principals := dict{idx: make(map[string]int, n/4+1)}
	roles, types := dict{idx: map[string]int{}}, dict{idx: map[string]int{}}
	for _, en := range slots {
		if en == nil {
			continue
		}
		add(&scopes, en.a.Scope, en.a.Scope)
		// One entry per principal whatever the case (as Load interns them).
		add(&principals, lowerASCII(en.a.PrincipalID), en.a.PrincipalID)
		add(&roles, en.a.RoleDefinitionID, en.a.RoleDefinitionID)
		add(&types, en.a.PrincipalType, en.a.PrincipalType)
	}
	// Scopes sorted, so that front coding shares their long prefixes.
	slices.Sort(scopes.list)
	for i, s := range scopes.list {
		scopes.idx[s] = i
	}
	dst = append(dst, snapshotMagic...)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(len(scopes.list)))
	prev := ""
	for _, s := range scopes.list {
		k := 0
		for k < len(prev) && k < len(s) && prev[k] == s[k] {
			k++
		}
		dst = binary.AppendUvarint(dst, uint64(k))
		dst = appendString(dst, s[k:])
		prev = s
	}
	for _, d := range []*dict{&principals, &roles, &types} {
		dst = binary.AppendUvarint(dst, uint64(len(d.list)))
		for _, s := range d.list {
			dst = appendString(dst, s)
		}
	}
	// Records in scope order (decoding then reads the scope table in
	// order), in segments that decode in parallel.
	type rec struct {
		scope int
		en    *entry
	}
	recs := make([]rec, 0, n)
	for _, en := range slots {
		if en != nil {
			recs = append(recs, rec{scopes.idx[en.a.Scope], en})
		}
	}
	slices.SortFunc(recs, func(a, b rec) int { return a.scope - b.scope })
	segs := min(snapshotSegments, max(1, len(recs)))
	dst = binary.AppendUvarint(dst, uint64(segs))
	var seg []byte
	for k := range segs {
		part := recs[k*len(recs)/segs : (k+1)*len(recs)/segs]
		seg = appendRecords(seg[:0], len(part), func(i int) (int, *entry) { return part[i].scope, part[i].en }, principals.idx, roles.idx, types.idx)
		dst = binary.AppendUvarint(dst, uint64(len(part)))
		dst = append(binary.AppendUvarint(dst, uint64(len(seg))), seg...)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// snapshotSegments: the records are cut in this many independently
// decodable segments.
const snapshotSegments = 4

// appendRecords appends n records; at(i) is the i-th one and its scope's
// index.
func appendRecords(dst []byte, n int, at func(int) (int, *entry), principals, roles, types map[string]int) []byte {
	for i := range n {
		scope, en := at(i)
		a := &en.a
		dst = binary.AppendUvarint(dst, uint64(scope))
		dst = binary.AppendUvarint(dst, uint64(principals[lowerASCII(a.PrincipalID)]))
		dst = binary.AppendUvarint(dst, uint64(roles[a.RoleDefinitionID]))
		dst = binary.AppendUvarint(dst, uint64(types[a.PrincipalType]))
		dst = appendString(dst, a.Name)
		var flags byte
		if a.ID != canonicalID(a.Scope, a.Name) {
			flags |= snapID
		}
		if a.Description != "" {
			flags |= snapDescription
		}
		if a.Condition != "" {
			flags |= snapCondition
		}
		dst = append(dst, flags)
		if flags&snapID != 0 {
			dst = appendString(dst, a.ID)
		}
		if flags&snapDescription != 0 {
			dst = appendString(dst, a.Description)
		}
		if flags&snapCondition != 0 {
			dst = appendString(dst, a.Condition)
		}
	}
	return dst
}

func canonicalID(scope, name string) string {
	if scope == "/" {
		scope = ""
	}
	return scope + roleAssignmentsPath + name
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// snapReader reads a snapshot, remembering the first error.
type snapReader struct {
	b   []byte
	err bool
}

func (r *snapReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = true
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *snapReader) table() []string {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each entry takes at least one byte
		r.err = true
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = string(r.bytes())
	}
	return out
}

// Snapshot is a decoded snapshot: assignments (as the engine's entries,
// which LoadSnapshot takes over without copying), and for those that came
// from the encoding their scope, principal and role as indexes into shared
// tables (LoadSnapshot uses them instead of hashing strings a million
// times). A Snapshot is loaded once.
type Snapshot struct {
	entries                   []entry
	scope, principal, role    []int32 // per entry; -1 for added ones
	scopes, principals, roles []string
}

// Len is the number of assignments.
func (s *Snapshot) Len() int { return len(s.entries) }

// Assignments returns a copy of the assignments.
func (s *Snapshot) Assignments() []Assignment {
	out := make([]Assignment, len(s.entries))
	for i := range s.entries {
		out[i] = s.entries[i].a
	}
	return out
}

// Delete removes the assignments whose lower-case name is in names.
func (s *Snapshot) Delete(names map[string]bool) {
	j := 0
	for i := range s.entries {
		if names[lowerASCII(s.entries[i].a.Name)] {
			continue
		}
		s.entries[j], s.scope[j], s.principal[j], s.role[j] = s.entries[i], s.scope[i], s.principal[i], s.role[i]
		j++
	}
	clear(s.entries[j:])
	s.entries, s.scope, s.principal, s.role = s.entries[:j], s.scope[:j], s.principal[:j], s.role[:j]
}

// Add appends an assignment (LoadSnapshot normalises and checks it as Load
// does).
func (s *Snapshot) Add(a Assignment) {
	s.entries = append(s.entries, entry{a: a})
	s.scope, s.principal, s.role = append(s.scope, -1), append(s.principal, -1), append(s.role, -1)
}

// LoadSnapshot is Load from a decoded snapshot (which it consumes): the
// same result as Load of its Assignments, with the work done once per
// distinct scope, principal and role instead of once per assignment, on
// both cores. Added assignments are checked as Load checks them; those
// from the encoding were normalised when encoded, and their distinct
// scopes, principals and roles are checked.
func (e *Engine) LoadSnapshot(roles []RoleDefinition, s *Snapshot) error {
	if s.entries == nil && len(s.scope) > 0 {
		return errors.New("rbac: snapshot already loaded")
	}
	// Scope hashes (and checks), half on another core.
	hashes := make([]uint64, len(s.scopes))
	bad := make(chan bool, 1)
	half := len(s.scopes) / 2
	hashRange := func(lo, hi int) bool {
		for i := lo; i < hi; i++ {
			sc := s.scopes[i]
			if sc != trimScope(sc) || ValidateScope(sc) != nil {
				return false
			}
			hashes[i] = hashScope(sc)
		}
		return true
	}
	go func() { bad <- !hashRange(half, len(s.scopes)) }()
	ok := hashRange(0, half)
	if <-bad || !ok {
		return ErrBadSnapshot
	}
	for _, p := range s.principals {
		if p == "" || p != strings.TrimSpace(p) {
			return ErrBadSnapshot
		}
	}
	for _, r := range s.roles {
		if RoleGUID(r) == "" {
			return ErrBadSnapshot
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l, compiled, err := newLoader(roles, 0)
	if err != nil {
		return err
	}
	n := len(s.entries)
	l.idx = newIndex(n)
	l.entries, l.hashes, l.ord = s.entries, make([]uint64, n), s.principal
	s.entries = nil
	// Snapshot principals take the first ordinals (the loader's map is
	// made only if an added assignment needs it).
	l.principals = make([]loadPrincipal, len(s.principals), len(s.principals)+1)
	for o, p := range s.principals {
		l.principals[o] = loadPrincipal{key: lowerASCII(p), id: p}
	}
	rrs := make([]roleRef, len(s.roles))
	for i, r := range s.roles {
		rrs[i] = l.roleRef(r)
	}
	counts := make([]int, len(rrs))
	for i := range l.entries {
		en := &l.entries[i]
		if s.scope[i] < 0 {
			a, err := normalizeAssignment(en.a)
			if err != nil {
				return err
			}
			rr := l.roleRef(a.RoleDefinitionID)
			o := l.ordinal(a.PrincipalID)
			a.RoleDefinitionID, a.PrincipalID = rr.id, l.principals[o].id
			*en = entry{a: a, role: rr.slot}
			l.refs[rr.slot]++
			l.principals[o].count++
			l.hashes[i], l.ord[i] = hashScope(a.Scope), o
			continue
		}
		if en.a.Name == "" || strings.IndexByte(en.a.Name, '/') >= 0 {
			return ErrBadSnapshot
		}
		ri := s.role[i]
		en.role = rrs[ri].slot
		counts[ri]++
		l.principals[s.principal[i]].count++
		l.hashes[i] = hashes[s.scope[i]]
	}
	for ri, c := range counts {
		l.refs[rrs[ri].slot] += c
	}
	st, err := l.finish(compiled)
	if err != nil {
		return err
	}
	e.st.Store(st)
	return nil
}

// DecodeSnapshot decodes an AppendSnapshot encoding. The assignments share
// their scope, principal and role strings; IDs are built in a few large
// blocks (one allocation per 64 KiB of IDs, not one per assignment).
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	if len(b) < len(snapshotMagic)+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, ErrBadSnapshot
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, ErrBadSnapshot
	}
	r := &snapReader{b: body[len(snapshotMagic):]}
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		return nil, ErrBadSnapshot
	}
	ns := r.uvarint()
	if r.err || ns > uint64(len(r.b)) {
		return nil, ErrBadSnapshot
	}
	// Scopes are rebuilt in 64 KiB blocks, each one string they slice.
	scopes := make([]string, ns)
	lens := make([]int, ns)
	var prev, block []byte
	done := 0
	flush := func(upto int) {
		str := string(block)
		for ; done < upto; done++ {
			scopes[done], str = str[:lens[done]], str[lens[done]:]
		}
		block = block[:0]
	}
	for i := range scopes {
		k := r.uvarint()
		suffix := r.bytes()
		if r.err || k > uint64(len(prev)) {
			return nil, ErrBadSnapshot
		}
		prev = append(prev[:k], suffix...)
		block = append(block, prev...)
		lens[i] = len(prev)
		if len(block) >= 64<<10 {
			flush(i + 1)
		}
	}
	flush(len(scopes))
	principals, roles, types := r.table(), r.table(), r.table()
	if r.err {
		return nil, ErrBadSnapshot
	}
	for i, t := range types {
		types[i] = internPrincipalType(t)
	}
	if uint64(len(scopes)) > 1<<31 || uint64(len(principals)) > 1<<31 || uint64(len(roles)) > 1<<31 {
		return nil, ErrBadSnapshot
	}
	ens := make([]entry, n)
	snap := &Snapshot{entries: ens, scope: make([]int32, n), principal: make([]int32, n), role: make([]int32, n),
		scopes: scopes, principals: principals, roles: roles}
	// Segments: each decoded on its own goroutine into its range of ens.
	nseg := r.uvarint()
	if r.err || nseg > n+1 || nseg > 64 {
		return nil, ErrBadSnapshot
	}
	type segment struct {
		lo, hi int
		b      []byte
	}
	segs := make([]segment, nseg)
	lo := 0
	for k := range segs {
		c := r.uvarint()
		b := r.bytes()
		if r.err || c > n-uint64(lo) {
			return nil, ErrBadSnapshot
		}
		segs[k] = segment{lo, lo + int(c), b}
		lo += int(c)
	}
	if uint64(lo) != n || len(r.b) != 0 {
		return nil, ErrBadSnapshot
	}
	errs := make(chan bool, len(segs))
	for _, sg := range segs {
		go func() { errs <- decodeRecords(snap, sg.lo, sg.hi, sg.b, types) }()
	}
	ok := true
	for range segs {
		ok = <-errs && ok
	}
	if !ok {
		return nil, ErrBadSnapshot
	}
	return snap, nil
}

// decodeRecords decodes the records of snap.entries[lo:hi] from b; false if
// they are damaged.
func decodeRecords(snap *Snapshot, lo, hi int, b []byte, types []string) bool {
	r := &snapReader{b: b}
	ens := snap.entries
	var block []byte             // IDs are appended here; a full block becomes one string
	type span struct{ i, n int } // ens[i].a.ID is the next n bytes of block
	var pending []span
	flush := func() {
		if len(pending) == 0 {
			return
		}
		s := string(block)
		off := 0
		for _, p := range pending {
			ens[p.i].a.ID = s[off : off+p.n]
			off += p.n
		}
		block, pending = block[:0], pending[:0]
	}
	const blockSize = 64 << 10
	for i := lo; i < hi; i++ {
		si, pi, ri, ti := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
		name := r.bytes()
		if r.err || si >= uint64(len(snap.scopes)) || pi >= uint64(len(snap.principals)) || ri >= uint64(len(snap.roles)) || ti >= uint64(len(types)) || len(r.b) == 0 {
			return false
		}
		flags := r.b[0]
		r.b = r.b[1:]
		a := &ens[i].a
		snap.scope[i], snap.principal[i], snap.role[i] = int32(si), int32(pi), int32(ri)
		a.Scope, a.PrincipalID, a.RoleDefinitionID, a.PrincipalType = snap.scopes[si], snap.principals[pi], snap.roles[ri], types[ti]
		var id []byte
		if flags&snapID != 0 {
			id = r.bytes()
		}
		if flags&snapDescription != 0 {
			a.Description = string(r.bytes())
		}
		if flags&snapCondition != 0 {
			a.Condition = string(r.bytes())
		}
		if r.err || flags&^(snapID|snapDescription|snapCondition) != 0 {
			return false
		}
		l0 := len(block)
		if id != nil {
			block = append(block, id...)
			a.Name = string(name)
		} else {
			if a.Scope != "/" {
				block = append(block, a.Scope...)
			}
			block = append(append(block, roleAssignmentsPath...), name...)
			a.Name = "" // the ID's tail, after flush
		}
		pending = append(pending, span{i, len(block) - l0})
		if len(block) >= blockSize {
			flush()
		}
	}
	flush()
	if len(r.b) != 0 {
		return false
	}
	for i := lo; i < hi; i++ {
		if a := &ens[i].a; a.Name == "" {
			a.Name = a.ID[strings.LastIndexByte(a.ID, '/')+1:]
		}
	}
	return true
}
