package blob

import (
	"strings"
	"testing"
)

func mustAttrs(t *testing.T, owner, group, acl string, isDir bool) *posixAttrs {
	t.Helper()
	a := &posixAttrs{Owner: owner, Group: group}
	es, err := parseACL(acl, true)
	if err != nil {
		t.Fatalf("parse %q: %v", acl, err)
	}
	if err := applyACL(a, es, aclModeSet, isDir); err != nil {
		t.Fatalf("apply %q: %v", acl, err)
	}
	return a
}

// TestACLCheck table-tests the POSIX evaluation order of rule DS-9: owner,
// named user, owning and named groups (any that grants), other, with the
// mask limiting named entries and the owning group.
func TestACLCheck(t *testing.T) {
	const (
		owner = "00000000-0000-0000-0000-0000000000aa"
		alice = "00000000-0000-0000-0000-00000000a11c"
		bob   = "00000000-0000-0000-0000-000000000b0b"
		grpA  = "00000000-0000-0000-0000-00000000000a"
		grpB  = "00000000-0000-0000-0000-00000000000b"
	)
	cases := []struct {
		name    string
		acl     string
		who     principal
		want    perm
		allowed bool
		entry   string
	}{
		{"owner reads", "user::rw-,group::r--,other::---", principal{ObjectID: owner}, permR, true, "user::"},
		{"owner lacks x", "user::rw-,group::r--,other::---", principal{ObjectID: owner}, permX, false, "user::"},
		{"owner entry wins over a wider other", "user::---,group::---,other::rwx", principal{ObjectID: owner}, permR, false, "user::"},
		{"named user", "user::rwx," + "user:" + alice + ":r-x,group::---,mask::r-x,other::---", principal{ObjectID: alice}, permR | permX, true, "user:" + alice},
		{"mask limits a named user", "user::rwx,user:" + alice + ":rwx,group::---,mask::r--,other::---", principal{ObjectID: alice}, permW, false, "user:" + alice},
		{"named user beats its groups", "user::rwx,user:" + alice + ":---,group::rwx,mask::rwx,other::rwx", principal{ObjectID: alice, Groups: []string{owner}}, permR, false, "user:" + alice},
		{"owning group", "user::rwx,group::r-x,other::---", principal{ObjectID: bob, Groups: []string{owner}}, permR, true, "group::"},
		{"mask limits the owning group", "user::rwx,group::rwx,user:" + alice + ":r--,mask::r--,other::---", principal{ObjectID: bob, Groups: []string{owner}}, permW, false, "group::"},
		{"named group", "user::rwx,group::---,group:" + grpA + ":r--,mask::r--,other::---", principal{ObjectID: bob, Groups: []string{grpA}}, permR, true, "group:" + grpA},
		{"any matching group grants", "user::rwx,group::---,group:" + grpA + ":---,group:" + grpB + ":rw-,mask::rw-,other::---", principal{ObjectID: bob, Groups: []string{grpA, grpB}}, permW, true, "group:" + grpB},
		{"a matching group stops at groups (no fall-through to other)", "user::rwx,group::---,group:" + grpA + ":---,mask::---,other::rwx", principal{ObjectID: bob, Groups: []string{grpA}}, permR, false, "group:" + grpA},
		{"other", "user::rwx,group::---,other::r--", principal{ObjectID: bob}, permR, true, "other::"},
		{"other refuses", "user::rwx,group::r--,other::---", principal{ObjectID: bob}, permR, false, "other::"},
		{"mask does not limit other", "user::rwx,user:" + alice + ":---,group::---,mask::---,other::rwx", principal{ObjectID: bob}, permW, true, "other::"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustAttrs(t, owner, owner, c.acl, false)
			v := a.check(&c.who, c.want)
			if v.Allowed != c.allowed || v.Entry != c.entry {
				t.Fatalf("check %s for %s: allowed %v by %q, want %v by %q", c.want, c.acl, v.Allowed, v.Entry, c.allowed, c.entry)
			}
		})
	}
}

// TestACLInheritance: default ACLs are inherited by new children (the
// access ACL from the default, masked by the create mode; directories also
// take the default ACL), and without one the umask applies.
func TestACLInheritance(t *testing.T) {
	const owner, alice, creator = "o", "00000000-0000-0000-0000-00000000a11c", "c"
	parent := mustAttrs(t, owner, "g", "user::rwx,group::r-x,other::---,default:user::rwx,default:user:"+alice+":rwx,default:group::r-x,default:mask::rwx,default:other::---", true)
	f := inherit(parent, creator, false, -1, -1)
	if f.Owner != creator || f.Group != "g" {
		t.Fatalf("owner/group: %s/%s", f.Owner, f.Group)
	}
	if got := f.aclString(); got != "user::rw-,user:"+alice+":rwx,group::r-x,mask::rw-,other::---" {
		t.Fatalf("file ACL from default: %s", got)
	}
	if f.Def != nil {
		t.Fatal("a file got a default ACL")
	}
	d := inherit(parent, creator, true, -1, -1)
	if got := d.aclString(); got != "user::rwx,user:"+alice+":rwx,group::r-x,mask::rwx,other::---,default:user::rwx,default:user:"+alice+":rwx,default:group::r-x,default:mask::rwx,default:other::---" {
		t.Fatalf("directory ACL from default: %s", got)
	}
	// Alice can write the new file (named entry rwx, mask rw-).
	if !f.check(&principal{ObjectID: alice}, permW).Allowed || f.check(&principal{ObjectID: alice}, permX).Allowed {
		t.Fatal("mask of the inherited file")
	}
	plain := mustAttrs(t, owner, "g", "user::rwx,group::r-x,other::---", true)
	if got := inherit(plain, creator, false, -1, -1).permissionsString(); got != "rw-r-----" {
		t.Fatalf("file without default ACL: %s", got)
	}
	if got := inherit(plain, creator, true, -1, 0o022).permissionsString(); got != "rwxr-xr-x" {
		t.Fatalf("directory with umask 0022: %s", got)
	}
	if got := inherit(plain, creator, false, 0o640, 0).permissionsString(); got != "rw-r-----" {
		t.Fatalf("file with mode 0640: %s", got)
	}
}

func TestACLParseAndModes(t *testing.T) {
	for _, bad := range []string{"", "user", "user::rwz", "bogus::rwx", "mask:x:rwx", "user::rwx,user::r--", "other::rwx,default:user::r--x"} {
		if _, err := parseACL(bad, true); err == nil {
			t.Errorf("parseACL(%q) accepted", bad)
		}
	}
	a := mustAttrs(t, "o", "g", "user::rwx,group::r-x,other::---", true)
	// set needs the base entries.
	es, _ := parseACL("user:x:r--", true)
	if err := applyACL(a, es, aclModeSet, true); err == nil || !strings.Contains(err.Error(), "base entries") {
		t.Fatalf("set without base entries: %v", err)
	}
	// modify adds a named entry and recomputes the mask.
	if err := applyACL(a, es, aclModeModify, true); err != nil {
		t.Fatal(err)
	}
	if got := a.aclString(); got != "user::rwx,user:x:r--,group::r-x,mask::r-x,other::---" {
		t.Fatalf("modify: %s", got)
	}
	if a.permissionsString() != "rwxr-x---+" {
		t.Fatalf("extended permissions: %s", a.permissionsString())
	}
	rm, _ := parseACL("user:x", false)
	if err := applyACL(a, rm, aclModeRemove, true); err != nil {
		t.Fatal(err)
	}
	if got := a.aclString(); got != "user::rwx,group::r-x,other::---" {
		t.Fatalf("remove: %s", got)
	}
	// Default entries only on directories.
	des, _ := parseACL("default:user::rwx", true)
	if err := applyACL(a, des, aclModeModify, false); err == nil {
		t.Fatal("default ACL on a file accepted")
	}
	// Permissions: symbolic, octal, sticky.
	for in, want := range map[string]string{"rwxr-x---": "rwxr-x---", "0750": "rwxr-x---", "1777": "rwxrwxrwt", "rwxrwxrwT": "rwxrwxrwT", "0640": "rw-r-----"} {
		m, st, err := parsePermissions(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		b := &posixAttrs{}
		b.setMode(m, st)
		if b.permissionsString() != want {
			t.Errorf("permissions %s → %s, want %s", in, b.permissionsString(), want)
		}
	}
	if _, _, err := parsePermissions("rwxrwxrwq"); err == nil {
		t.Error("bad symbolic permissions accepted")
	}
	// With a mask, x-ms-permissions' group triple sets the mask.
	m := mustAttrs(t, "o", "g", "user::rwx,user:x:rwx,group::rwx,mask::rwx,other::---", false)
	m.setMode(0o740, false)
	if got := m.aclString(); got != "user::rwx,user:x:rwx,group::rwx,mask::r--,other::---" {
		t.Fatalf("chmod with a mask: %s", got)
	}
}
