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
	add := func(d *dict, s string) {
		if _, ok := d.idx[s]; !ok {
			d.idx[s] = len(d.list)
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
		add(&scopes, en.a.Scope)
		add(&principals, en.a.PrincipalID)
		add(&roles, en.a.RoleDefinitionID)
		add(&types, en.a.PrincipalType)
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
	for _, en := range slots {
		if en == nil {
			continue
		}
		a := &en.a
		dst = binary.AppendUvarint(dst, uint64(scopes.idx[a.Scope]))
		dst = binary.AppendUvarint(dst, uint64(principals.idx[a.PrincipalID]))
		dst = binary.AppendUvarint(dst, uint64(roles.idx[a.RoleDefinitionID]))
		dst = binary.AppendUvarint(dst, uint64(types.idx[a.PrincipalType]))
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
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
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

// DecodeSnapshot decodes an AppendSnapshot encoding. The assignments share
// their scope, principal and role strings; IDs are built in a few large
// blocks (one allocation per 64 KiB of IDs, not one per assignment).
func DecodeSnapshot(b []byte) ([]Assignment, error) {
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
	scopes := make([]string, ns)
	var prev []byte
	for i := range scopes {
		k := r.uvarint()
		suffix := r.bytes()
		if r.err || k > uint64(len(prev)) {
			return nil, ErrBadSnapshot
		}
		s := make([]byte, 0, int(k)+len(suffix))
		s = append(append(s, prev[:k]...), suffix...)
		scopes[i] = string(s)
		prev = s
	}
	principals, roles, types := r.table(), r.table(), r.table()
	if r.err {
		return nil, ErrBadSnapshot
	}
	for i, t := range types {
		types[i] = internPrincipalType(t)
	}
	as := make([]Assignment, n)
	var block []byte             // IDs are appended here; a full block becomes one string
	type span struct{ i, n int } // as[i].ID is the next n bytes of block
	var pending []span
	flush := func() {
		if len(pending) == 0 {
			return
		}
		s := string(block)
		off := 0
		for _, p := range pending {
			as[p.i].ID = s[off : off+p.n]
			off += p.n
		}
		block, pending = block[:0], pending[:0]
	}
	const blockSize = 64 << 10
	for i := range as {
		si, pi, ri, ti := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
		name := r.bytes()
		if r.err || si >= uint64(len(scopes)) || pi >= uint64(len(principals)) || ri >= uint64(len(roles)) || ti >= uint64(len(types)) || len(r.b) == 0 {
			return nil, ErrBadSnapshot
		}
		flags := r.b[0]
		r.b = r.b[1:]
		a := &as[i]
		a.Scope, a.PrincipalID, a.RoleDefinitionID, a.PrincipalType = scopes[si], principals[pi], roles[ri], types[ti]
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
			return nil, ErrBadSnapshot
		}
		l0 := len(block)
		if id != nil {
			block = append(block, id...)
		} else {
			if a.Scope != "/" {
				block = append(block, a.Scope...)
			}
			block = append(append(block, roleAssignmentsPath...), name...)
		}
		// Name is the tail of the ID when the ID is canonical; else its own.
		if id == nil {
			a.Name = "" // filled from the ID after flush
		} else {
			a.Name = string(name)
		}
		pending = append(pending, span{i, len(block) - l0})
		if len(block) >= blockSize {
			flush()
		}
	}
	flush()
	if len(r.b) != 0 {
		return nil, ErrBadSnapshot
	}
	for i := range as {
		a := &as[i]
		if a.Name == "" {
			a.Name = a.ID[strings.LastIndexByte(a.ID, '/')+1:]
		}
	}
	return as, nil
}
