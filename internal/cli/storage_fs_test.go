package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

// TestStorageFSCLI drives `amlid storage fs …` with az's flags against an
// HNS account: file systems, directories (create, list, move, delete),
// files (upload, download, list, delete) and access (set, show,
// set-recursive), with --auth-mode login and with the account key.
func TestStorageFSCLI(t *testing.T) {
	s := newStorageCLI(t)
	e := s.e
	acct := s.obj("storage", "account", "create", "-n", "clilake", "-g", e.RG, "--sku", "Standard_LRS", "--enable-hierarchical-namespace", "true")
	if acct["isHnsEnabled"] != true || acct["primaryEndpoints"].(map[string]any)["dfs"] != e.AccountURL("clilake") {
		t.Fatalf("HNS account: %v", acct)
	}
	e.Grant(e.Admin.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("clilake"))
	l := []string{"--account-name", "clilake", "--auth-mode", "login"}
	run := func(args ...string) map[string]any { t.Helper(); return s.obj(append(args, l...)...) }
	list := func(args ...string) []any { t.Helper(); return s.json(append(args, l...)...).([]any) }

	if c := run("storage", "fs", "create", "-n", "lake"); c["created"] != true {
		t.Fatalf("fs create: %v", c)
	}
	if fs := list("storage", "fs", "list", "--query", "[].name"); len(fs) != 1 || fs[0] != "lake" {
		t.Fatalf("fs list: %v", fs)
	}
	run("storage", "fs", "directory", "create", "-n", "data/team-a", "-f", "lake")
	dir := t.TempDir()
	src := filepath.Join(dir, "x.csv")
	body := bytes.Repeat([]byte("1,abc\n"), 3<<20) // 18 MiB: several appends
	must(t, os.WriteFile(src, body, 0o600))
	if up := run("storage", "fs", "file", "upload", "-s", src, "-p", "data/team-a/x.csv", "-f", "lake"); up["contentLength"] != float64(len(body)) {
		t.Fatalf("file upload: %v", up)
	}
	if _, se, code := s.run(append([]string{"storage", "fs", "file", "upload", "-s", src, "-p", "data/team-a/x.csv", "-f", "lake"}, l...)...); code == 0 || !strings.Contains(se, "PathAlreadyExists") {
		t.Fatalf("upload over an existing file without --overwrite: %d %s", code, se)
	}
	files := list("storage", "fs", "file", "list", "-f", "lake", "--query", "[].[name, isDirectory]", "-o", "json")
	if got := jsonOf(files); got != `[["data",true],["data/team-a",true],["data/team-a/x.csv",false]]` {
		t.Fatalf("file list: %s", got)
	}
	moved := run("storage", "fs", "directory", "move", "-n", "data/team-a", "-d", "lake/data/team-c", "-f", "lake")
	if moved["name"] != "data/team-c" {
		t.Fatalf("directory move: %v", moved)
	}
	dirs := list("storage", "fs", "directory", "list", "-f", "lake", "--query", "[].name")
	if jsonOf(dirs) != `["data","data/team-c"]` {
		t.Fatalf("directory list after the move: %s", jsonOf(dirs))
	}
	got := filepath.Join(dir, "got.csv")
	run("storage", "fs", "file", "download", "-p", "data/team-c/x.csv", "-f", "lake", "-d", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, body) {
		t.Fatalf("download: %d bytes, want %d", len(b), len(body))
	}

	// Access control.
	oid := "11111111-2222-3333-4444-555555555555"
	run("storage", "fs", "access", "set", "--acl", "user::rwx,user:"+oid+":r-x,group::r-x,mask::r-x,other::---", "-p", "data", "-f", "lake")
	acl := run("storage", "fs", "access", "show", "-p", "data", "-f", "lake")
	if acl["acl"] != "user::rwx,user:"+oid+":r-x,group::r-x,mask::r-x,other::---" || acl["permissions"] != "rwxr-x---+" || acl["owner"] != e.Admin.ObjectID {
		t.Fatalf("access show: %v", acl)
	}
	run("storage", "fs", "access", "set", "--permissions", "0750", "-p", "data/team-c/x.csv", "-f", "lake")
	if p := run("storage", "fs", "access", "show", "-p", "data/team-c/x.csv", "-f", "lake"); p["permissions"] != "rwxr-x---" {
		t.Fatalf("permissions: %v", p)
	}
	run("storage", "fs", "access", "set", "--owner", oid, "-p", "data/team-c/x.csv", "-f", "lake")
	rec := run("storage", "fs", "access", "set-recursive", "--acl", "user::rwx,group::r-x,other::--x", "-p", "data", "-f", "lake")
	if c := rec["counters"].(map[string]any); c["directoriesSuccessful"] != float64(2) || c["filesSuccessful"] != float64(1) || c["failureCount"] != float64(0) {
		t.Fatalf("set-recursive: %v", rec)
	}
	if p := run("storage", "fs", "access", "show", "-p", "data/team-c/x.csv", "-f", "lake"); p["permissions"] != "rwxr-x--x" || p["owner"] != oid {
		t.Fatalf("after set-recursive: %v", p)
	}
	if r := run("storage", "fs", "access", "show", "-p", "/", "-f", "lake"); r["permissions"] != "rwxr-x---" {
		t.Fatalf("root: %v", r)
	}
	// The account key works too.
	key := e.AccountKey("clilake")
	k := []string{"--account-name", "clilake", "--account-key", key}
	if out := s.json(append([]string{"storage", "fs", "file", "list", "-f", "lake", "--exclude-dir", "--query", "[].name"}, k...)...); jsonOf(out) != `["data/team-c/x.csv"]` {
		t.Fatalf("file list with a key: %s", jsonOf(out))
	}
	s.must(append([]string{"storage", "fs", "file", "delete", "-p", "data/team-c/x.csv", "-f", "lake", "-y"}, k...)...)
	s.must(append([]string{"storage", "fs", "directory", "delete", "-n", "data", "-f", "lake", "-y"}, l...)...)
	if out := list("storage", "fs", "file", "list", "-f", "lake"); len(out) != 0 {
		t.Fatalf("after deletes: %v", out)
	}
	if d := run("storage", "fs", "delete", "-n", "lake", "-y"); d["deleted"] != true {
		t.Fatalf("fs delete: %v", d)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
