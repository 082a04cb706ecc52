package blob

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// POSIX access control of hierarchical-namespace (ADLS Gen2) accounts, rule
// DS-9: owner, owning group, named users and groups by object ID, mask,
// other, sticky bit and default ACLs inherited at creation. This file is
// pure: parsing, formatting, inheritance and the access check.

// perm is a set of r (4), w (2), x (1).
type perm uint8

const (
	permR perm = 4
	permW perm = 2
	permX perm = 1
)

func (p perm) String() string {
	b := []byte("---")
	if p&permR != 0 {
		b[0] = 'r'
	}
	if p&permW != 0 {
		b[1] = 'w'
	}
	if p&permX != 0 {
		b[2] = 'x'
	}
	return string(b)
}

func parsePerm(s string) (perm, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var p perm
	for i, want := range []byte("rwx") {
		switch s[i] {
		case want:
			p |= 1 << (2 - i)
		case '-':
		default:
			return 0, false
		}
	}
	return p, true
}

// superuser is the owner and group of paths written with Shared Key or SAS.
const superuser = "$superuser"

// aclEntry is a named entry (user:ID:perm or group:ID:perm).
type aclEntry struct {
	Group bool   `json:"g,omitempty"`
	ID    string `json:"id"`
	Perm  perm   `json:"p"`
}

func (e aclEntry) tag() string {
	if e.Group {
		return "group:" + e.ID
	}
	return "user:" + e.ID
}

// aclSet is one ACL (access or default): the base entries, the optional
// mask and the named entries.
type aclSet struct {
	User    perm       `json:"u"`
	Group   perm       `json:"g"`
	Other   perm       `json:"o"`
	HasMask bool       `json:"hm,omitempty"`
	Mask    perm       `json:"m,omitempty"`
	Named   []aclEntry `json:"n,omitempty"`
}

// posixAttrs are a path's owner, owning group, access ACL, sticky bit and
// (directories) default ACL.
type posixAttrs struct {
	Owner  string  `json:"own"`
	Group  string  `json:"grp"`
	Access aclSet  `json:"acc"`
	Sticky bool    `json:"st,omitempty"`
	Def    *aclSet `json:"def,omitempty"`
}

// extended reports whether the access ACL has more than the three base
// entries (the "+" of the permissions string).
func (a *posixAttrs) extended() bool { return a.Access.HasMask || len(a.Access.Named) > 0 }

// groupClass is the middle triple of the permissions string: the mask when
// there is one, else the owning group's entry.
func (s *aclSet) groupClass() perm {
	if s.HasMask {
		return s.Mask
	}
	return s.Group
}

// permissionsString is x-ms-permissions: "rwxr-x---", "t"/"T" for the
// sticky bit, "+" when the ACL is extended.
func (a *posixAttrs) permissionsString() string {
	o := a.Access.Other.String()
	if a.Sticky {
		if a.Access.Other&permX != 0 {
			o = o[:2] + "t"
		} else {
			o = o[:2] + "T"
		}
	}
	s := a.Access.User.String() + a.Access.groupClass().String() + o
	if a.extended() || a.Def != nil {
		s += "+"
	}
	return s
}

// octal is the mode in octal, as az prints it for debugging.
func (a *posixAttrs) octal() string {
	m := int(a.Access.User)<<6 | int(a.Access.groupClass())<<3 | int(a.Access.Other)
	if a.Sticky {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", m)
}

func formatSet(b *strings.Builder, s *aclSet, prefix string) {
	w := func(tag string, p perm) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(prefix + tag + ":" + p.String())
	}
	w("user:", s.User)
	for _, e := range s.Named {
		if !e.Group {
			w("user:"+e.ID, e.Perm)
		}
	}
	w("group:", s.Group)
	for _, e := range s.Named {
		if e.Group {
			w("group:"+e.ID, e.Perm)
		}
	}
	if s.HasMask {
		w("mask:", s.Mask)
	}
	w("other:", s.Other)
}

// aclString is x-ms-acl: the access entries, then the default ones.
func (a *posixAttrs) aclString() string {
	var b strings.Builder
	formatSet(&b, &a.Access, "")
	if a.Def != nil {
		formatSet(&b, a.Def, "default:")
	}
	return b.String()
}

// parsedEntry is one entry of an x-ms-acl header.
type parsedEntry struct {
	def     bool
	kind    string // user, group, mask, other
	id      string
	perm    perm
	hasPerm bool
}

func (e parsedEntry) String() string {
	s := e.kind + ":" + e.id
	if e.def {
		s = "default:" + s
	}
	if e.hasPerm {
		s += ":" + e.perm.String()
	}
	return s
}

// parseACL parses "[default:]user|group|mask|other:[id][:perm],…". With
// permsRequired false (remove mode) entries carry no permissions.
func parseACL(s string, permsRequired bool) ([]parsedEntry, error) {
	var out []parsedEntry
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("the ACL is empty")
	}
	seen := map[string]bool{}
	for _, raw := range strings.Split(s, ",") {
		t := strings.TrimSpace(raw)
		e := parsedEntry{}
		if rest, ok := strings.CutPrefix(t, "default:"); ok {
			e.def, t = true, rest
		}
		parts := strings.Split(t, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("entry %q is not [default:]user|group|mask|other:[id]:rwx", raw)
		}
		e.kind, e.id = parts[0], parts[1]
		switch e.kind {
		case "user", "group":
		case "mask", "other":
			if e.id != "" {
				return nil, fmt.Errorf("entry %q: %s entries take no object ID", raw, e.kind)
			}
		default:
			return nil, fmt.Errorf("entry %q: the entry type must be user, group, mask or other", raw)
		}
		if e.id != "" && !validACLID(e.id) {
			return nil, fmt.Errorf("entry %q: %q is not an object ID", raw, e.id)
		}
		if len(parts) == 3 {
			p, ok := parsePerm(parts[2])
			if !ok {
				return nil, fmt.Errorf("entry %q: permissions must be three characters of r, w, x or - (like r-x)", raw)
			}
			e.perm, e.hasPerm = p, true
		}
		if permsRequired && !e.hasPerm {
			return nil, fmt.Errorf("entry %q has no permissions (like r-x)", raw)
		}
		if !permsRequired && e.hasPerm {
			return nil, fmt.Errorf("entry %q: entries to remove take no permissions", raw)
		}
		k := e.String()
		if e.hasPerm {
			k = k[:len(k)-4]
		}
		if seen[k] {
			return nil, fmt.Errorf("entry %q appears twice", raw)
		}
		seen[k] = true
		out = append(out, e)
	}
	if len(out) > 32*2+8 {
		return nil, fmt.Errorf("an ACL has at most 32 access and 32 default entries")
	}
	return out, nil
}

// validACLID accepts object IDs (GUIDs), "$superuser" and user principal
// names (kept as given).
func validACLID(s string) bool {
	if len(s) > 256 || strings.ContainsAny(s, ",: \t\r\n") {
		return false
	}
	return true
}

// setEntry writes one parsed entry into s.
func (s *aclSet) setEntry(e parsedEntry) {
	switch {
	case e.kind == "user" && e.id == "":
		s.User = e.perm
	case e.kind == "group" && e.id == "":
		s.Group = e.perm
	case e.kind == "other":
		s.Other = e.perm
	case e.kind == "mask":
		s.HasMask, s.Mask = true, e.perm
	default:
		ne := aclEntry{Group: e.kind == "group", ID: e.id, Perm: e.perm}
		for i := range s.Named {
			if s.Named[i].Group == ne.Group && strings.EqualFold(s.Named[i].ID, ne.ID) {
				s.Named[i] = ne
				return
			}
		}
		s.Named = append(s.Named, ne)
	}
}

// removeEntry drops a named entry or the mask.
func (s *aclSet) removeEntry(e parsedEntry) {
	if e.kind == "mask" {
		s.HasMask, s.Mask = false, 0
		return
	}
	s.Named = slices.DeleteFunc(s.Named, func(n aclEntry) bool {
		return n.Group == (e.kind == "group") && strings.EqualFold(n.ID, e.id)
	})
}

// recomputeMask sets the mask to the union of the group class when the ACL
// has named entries and no explicit mask (setfacl's behaviour).
func (s *aclSet) recomputeMask(explicit bool) {
	if len(s.Named) == 0 {
		if !explicit {
			s.HasMask, s.Mask = false, 0
		}
		return
	}
	if explicit && s.HasMask {
		return
	}
	m := s.Group
	for _, e := range s.Named {
		m |= e.Perm
	}
	s.HasMask, s.Mask = true, m
}

// ACL update modes of Set Access Control (Recursive).
const (
	aclModeSet    = "set"
	aclModeModify = "modify"
	aclModeRemove = "remove"
)

// applyACL changes a's ACLs by mode; isDir says whether default entries
// are allowed. Set replaces the whole ACL and needs the base entries.
func applyACL(a *posixAttrs, entries []parsedEntry, mode string, isDir bool) error {
	hasDef := false
	for _, e := range entries {
		if e.def {
			hasDef = true
		}
	}
	if hasDef && !isDir {
		return fmt.Errorf("default ACL entries apply to directories only, and this path is a file")
	}
	switch mode {
	case aclModeSet:
		base := map[string]bool{}
		nu := aclSet{}
		var def *aclSet
		explicitMask, explicitDefMask := false, false
		for _, e := range entries {
			if e.def {
				if def == nil {
					def = &aclSet{User: a.Access.User, Group: a.Access.Group, Other: a.Access.Other}
				}
				def.setEntry(e)
				if e.kind == "mask" {
					explicitDefMask = true
				}
				continue
			}
			if e.id == "" {
				base[e.kind] = true
			}
			if e.kind == "mask" {
				explicitMask = true
			}
			nu.setEntry(e)
		}
		for _, k := range []string{"user", "group", "other"} {
			if !base[k] {
				return fmt.Errorf("a full ACL must contain the base entries user::, group:: and other:: (missing %s::)", k)
			}
		}
		nu.recomputeMask(explicitMask)
		if def != nil {
			def.recomputeMask(explicitDefMask)
		}
		a.Access, a.Def = nu, def
	case aclModeModify:
		for _, e := range entries {
			if e.def {
				if a.Def == nil {
					a.Def = &aclSet{User: a.Access.User, Group: a.Access.Group, Other: a.Access.Other}
				}
				a.Def.setEntry(e)
				if e.kind != "mask" {
					a.Def.recomputeMask(false)
				}
				continue
			}
			a.Access.setEntry(e)
			if e.kind != "mask" && len(a.Access.Named) > 0 {
				a.Access.recomputeMask(false)
			}
		}
	case aclModeRemove:
		for _, e := range entries {
			if e.id == "" && e.kind != "mask" {
				return fmt.Errorf("entry %q: base entries (user::, group::, other::) cannot be removed", e.String())
			}
			if e.def {
				if a.Def != nil {
					a.Def.removeEntry(e)
				}
				continue
			}
			a.Access.removeEntry(e)
		}
		if len(a.Access.Named) == 0 {
			a.Access.HasMask, a.Access.Mask = false, 0
		}
	default:
		return fmt.Errorf("mode %q is not set, modify or remove", mode)
	}
	return nil
}

// parsePermissions reads x-ms-permissions: symbolic "rwxr-x---[+]" (t/T
// for sticky) or octal "0750"/"1777".
func parsePermissions(s string) (mode uint16, sticky bool, err error) {
	s = strings.TrimSuffix(s, "+")
	if len(s) == 4 && strings.Trim(s, "01234567") == "" {
		v, _ := strconv.ParseUint(s, 8, 16)
		return uint16(v & 0o777), v&0o1000 != 0, nil
	}
	if len(s) == 3 && strings.Trim(s, "01234567") == "" {
		v, _ := strconv.ParseUint(s, 8, 16)
		return uint16(v), false, nil
	}
	if len(s) != 9 {
		return 0, false, fmt.Errorf("permissions %q are neither symbolic (rwxr-x---) nor octal (0750)", s)
	}
	o := s[6:]
	switch o[2] {
	case 't':
		sticky, o = true, o[:2]+"x"
	case 'T':
		sticky, o = true, o[:2]+"-"
	}
	var m uint16
	for i, part := range []string{s[:3], s[3:6], o} {
		p, ok := parsePerm(part)
		if !ok {
			return 0, false, fmt.Errorf("permissions %q are neither symbolic (rwxr-x---) nor octal (0750)", s)
		}
		m |= uint16(p) << (3 * (2 - i))
	}
	return m, sticky, nil
}

// setMode applies a mode (from x-ms-permissions): owner, group class (the
// mask if there is one) and other.
func (a *posixAttrs) setMode(mode uint16, sticky bool) {
	a.Access.User = perm(mode >> 6 & 7)
	if a.Access.HasMask {
		a.Access.Mask = perm(mode >> 3 & 7)
	} else {
		a.Access.Group = perm(mode >> 3 & 7)
	}
	a.Access.Other = perm(mode & 7)
	a.Sticky = sticky
}

// Defaults of the service: new files 0666 and directories 0777, masked by
// the umask 0027 when the parent has no default ACL; a filesystem's root
// directory is rwxr-x---.
const (
	defaultFileMode = 0o666
	defaultDirMode  = 0o777
	defaultUmask    = 0o027
	rootMode        = 0o750
)

// newRootAttrs are the root directory's attributes of a new filesystem.
func newRootAttrs(owner string) *posixAttrs {
	a := &posixAttrs{Owner: owner, Group: owner}
	a.setMode(rootMode, false)
	return a
}

// inherit computes a new child's attributes: owner is the creator, the
// owning group is the parent's; the access ACL comes from the parent's
// default ACL (masked by mode) or, without one, from mode &^ umask.
// Directories inherit the default ACL as their own default ACL.
func inherit(parent *posixAttrs, owner string, isDir bool, mode int, umask int) *posixAttrs {
	if mode < 0 {
		mode = defaultFileMode
		if isDir {
			mode = defaultDirMode
		}
	}
	if umask < 0 {
		umask = defaultUmask
	}
	a := &posixAttrs{Owner: owner, Group: parent.Group}
	if parent.Def == nil {
		a.setMode(uint16(mode&^umask)&0o777, false)
		return a
	}
	d := *parent.Def
	d.Named = slices.Clone(d.Named)
	a.Access = d
	a.Access.User &= perm(mode >> 6 & 7)
	if a.Access.HasMask {
		a.Access.Mask &= perm(mode >> 3 & 7)
	} else {
		a.Access.Group &= perm(mode >> 3 & 7)
	}
	a.Access.Other &= perm(mode & 7)
	if isDir {
		dd := *parent.Def
		dd.Named = slices.Clone(dd.Named)
		a.Def = &dd
	}
	return a
}

// principal is who an ACL check is about.
type principal struct {
	ObjectID string
	Groups   []string
}

func (p *principal) inGroup(id string) bool {
	for _, g := range p.Groups {
		if strings.EqualFold(g, id) {
			return true
		}
	}
	return false
}

// aclVerdict is the outcome of an access check: the entry that decided it
// and, on refusal, what it grants.
type aclVerdict struct {
	Allowed bool
	// Entry is the deciding entry, e.g. "user::", "group:<id>", "other::".
	Entry string
	// Granted is what that entry grants (after the mask).
	Granted perm
	// Mask is non-empty when the mask limited the entry.
	Mask string
}

// check evaluates the access ACL for p wanting want, in POSIX order:
// owner, named user, owning and named groups (any that grants), other.
func (a *posixAttrs) check(p *principal, want perm) aclVerdict {
	s := &a.Access
	masked := func(x perm) (perm, string) {
		if s.HasMask && x&^s.Mask != 0 {
			return x & s.Mask, "mask::" + s.Mask.String()
		}
		return x, ""
	}
	if p.ObjectID != "" && strings.EqualFold(a.Owner, p.ObjectID) {
		return aclVerdict{Allowed: s.User&want == want, Entry: "user::", Granted: s.User}
	}
	for _, e := range s.Named {
		if !e.Group && p.ObjectID != "" && strings.EqualFold(e.ID, p.ObjectID) {
			g, m := masked(e.Perm)
			return aclVerdict{Allowed: g&want == want, Entry: e.tag(), Granted: g, Mask: m}
		}
	}
	var matched []aclVerdict
	if a.Group != "" && p.inGroup(a.Group) {
		g, m := masked(s.Group)
		matched = append(matched, aclVerdict{Allowed: g&want == want, Entry: "group::", Granted: g, Mask: m})
	}
	for _, e := range s.Named {
		if e.Group && p.inGroup(e.ID) {
			g, m := masked(e.Perm)
			matched = append(matched, aclVerdict{Allowed: g&want == want, Entry: e.tag(), Granted: g, Mask: m})
		}
	}
	if len(matched) > 0 {
		for _, v := range matched {
			if v.Allowed {
				return v
			}
		}
		return matched[0]
	}
	return aclVerdict{Allowed: s.Other&want == want, Entry: "other::", Granted: s.Other}
}
