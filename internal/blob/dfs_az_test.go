package blob_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

// TestAzStorageFS: Debian's az 2.45 `az storage fs …` works against the DFS
// endpoint offline, through --blob-endpoint (az's fs commands take the
// account URL from it) with --auth-mode login: file system, directories,
// upload, download, directory move, ACLs.
func TestAzStorageFS(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("azlake", map[string]any{"isHnsEnabled": true})
	app := e.NewApp("az-lake", e.Tenant())
	e.Grant(app.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("azlake"))
	a := newAz(t, e, app)
	l := []string{"--account-name", "azlake", "--auth-mode", "login", "--blob-endpoint", strings.TrimSuffix(e.AccountURL("azlake"), "/")}
	az := func(args ...string) string { t.Helper(); return a.must(append(args, l...)...) }

	az("storage", "fs", "create", "-n", "lake")
	az("storage", "fs", "directory", "create", "-n", "data/team-a", "-f", "lake")
	dir := t.TempDir()
	src := filepath.Join(dir, "x.csv")
	body := bytes.Repeat([]byte("1,abc\n"), 100000)
	must(t, os.WriteFile(src, body, 0o600))
	az("storage", "fs", "file", "upload", "-s", src, "-p", "data/team-a/x.csv", "-f", "lake")
	az("storage", "fs", "directory", "move", "-n", "data/team-a", "-d", "lake/data/team-c", "-f", "lake")
	got := filepath.Join(dir, "got.csv")
	az("storage", "fs", "file", "download", "-p", "data/team-c/x.csv", "-f", "lake", "-d", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, body) {
		t.Fatalf("download: %d bytes, want %d", len(b), len(body))
	}
	names := az("storage", "fs", "file", "list", "-f", "lake", "--query", "[].name", "-o", "tsv")
	if strings.Join(strings.Fields(names), " ") != "data data/team-c data/team-c/x.csv" {
		t.Fatalf("fs file list: %q", names)
	}
	oid := "11111111-2222-3333-4444-555555555555"
	acl := "user::rwx,user:" + oid + ":r-x,group::r-x,mask::r-x,other::---"
	az("storage", "fs", "access", "set", "--acl", acl, "-p", "data", "-f", "lake")
	var shown map[string]any
	must(t, json.Unmarshal([]byte(az("storage", "fs", "access", "show", "-p", "data", "-f", "lake")), &shown))
	if shown["acl"] != acl || shown["permissions"] != "rwxr-x---+" || shown["owner"] != app.ObjectID {
		t.Fatalf("access show: %v", shown)
	}
	rec := az("storage", "fs", "access", "set-recursive", "--acl", "user::rwx,group::r-x,other::--x", "-p", "data", "-f", "lake", "--query", "counters.[directoriesSuccessful, filesSuccessful, failureCount]", "-o", "tsv")
	if strings.Join(strings.Fields(rec), " ") != "2 1 0" {
		t.Fatalf("access set-recursive: %q", rec)
	}
}
