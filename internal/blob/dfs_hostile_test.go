package blob_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/amlid/amlid/internal/testenv"
)

// TestDFSHostilePaths: dot segments (plain and encoded), encoded slashes,
// very deep trees and 1,024-byte segments stay inside the filesystem or
// get a clear 4xx; a directory cannot be renamed into its own subtree nor
// out of its filesystem; nothing panics.
func TestDFSHostilePaths(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("dfshostile", map[string]any{"isHnsEnabled": true})
	owner := e.NewApp("hostile-owner", e.Tenant())
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("dfshostile"))
	auth := map[string]string{"Authorization": "Bearer " + e.Token(owner, "https://storage.azure.com/.default")}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range auth {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	do := func(method, path string, hdr map[string]string) (int, http.Header, string) {
		t.Helper()
		return rawDo(t, e, method, "/dfshostile/"+path, with(hdr), nil)
	}
	code := func(what string, st int, hdr http.Header, body string, want int, wantCode string) {
		t.Helper()
		if st != want || (wantCode != "" && hdr.Get("x-ms-error-code") != wantCode) {
			t.Fatalf("%s: %d %s, want %d %s\n%s", what, st, hdr.Get("x-ms-error-code"), want, wantCode, body)
		}
		if st >= 400 && !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: DFS errors are JSON, got %q", what, hdr.Get("Content-Type"))
		}
	}
	st, hdr, body := do(http.MethodPut, "lake?resource=filesystem", nil)
	code("create filesystem", st, hdr, body, http.StatusCreated, "")
	canary := filepath.Join(filepath.Dir(e.BlobDir()), "passwd")
	must(t, os.WriteFile(canary, []byte("canary"), 0o600))

	for _, p := range []string{"a/../../passwd", "../passwd", "%2E%2E/passwd", "a/%2E%2E/%2E%2E/passwd", "a/./b", "a//b"} {
		st, hdr, body := do(http.MethodPut, "lake/"+p+"?resource=file", nil)
		code("create "+p, st, hdr, body, http.StatusBadRequest, "InvalidResourceName")
	}
	// An encoded slash is a separator: the file lands in a directory of
	// this filesystem.
	st, hdr, body = do(http.MethodPut, "lake/enc%2Fslash?resource=file", nil)
	code("encoded slash", st, hdr, body, http.StatusCreated, "")
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true", nil)
	code("list", st, hdr, body, http.StatusOK, "")
	var list struct {
		Paths []struct {
			Name        string `json:"name"`
			IsDirectory string `json:"isDirectory"`
		} `json:"paths"`
	}
	must(t, json.Unmarshal([]byte(body), &list))
	if len(list.Paths) != 2 || list.Paths[0].Name != "enc" || list.Paths[0].IsDirectory != "true" || list.Paths[1].Name != "enc/slash" {
		t.Fatalf("after the encoded slash: %s", body)
	}
	// Deep trees: 254 segments are a path, 255 are refused.
	deep := strings.Repeat("d/", 253) + "leaf"
	st, hdr, body = do(http.MethodPut, "lake/"+deep+"?resource=file", nil)
	code("254 segments", st, hdr, body, http.StatusCreated, "")
	st, hdr, body = do(http.MethodPut, "lake/"+strings.Repeat("d/", 254)+"leaf?resource=file", nil)
	code("255 segments", st, hdr, body, http.StatusBadRequest, "InvalidResourceName")
	st, hdr, body = do(http.MethodHead, "lake/"+deep+"?action=getStatus", nil)
	if st != http.StatusOK || hdr.Get("x-ms-resource-type") != "file" {
		t.Fatalf("status of the deep file: %d %v", st, hdr)
	}
	// 1,024-byte names: one segment of 1,024 bytes is a path; a longer
	// name is refused.
	long := strings.Repeat("x", 1024)
	st, hdr, body = do(http.MethodPut, "lake/"+long+"?resource=directory", nil)
	code("1,024-byte segment", st, hdr, body, http.StatusCreated, "")
	st, hdr, body = do(http.MethodPut, "lake/"+long+"/child?resource=file", nil)
	code("name over 1,024 bytes", st, hdr, body, http.StatusBadRequest, "InvalidResourceName")

	// Renames: into its own subtree, from another filesystem, with dot
	// segments, of a missing source.
	st, hdr, body = do(http.MethodPut, "lake/d/inner?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/d"})
	code("rename into its own subtree", st, hdr, body, http.StatusBadRequest, "InvalidDestinationPath")
	st, hdr, body = do(http.MethodPut, "lake/d/d/d?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/d"})
	code("rename deeper into its own subtree", st, hdr, body, http.StatusBadRequest, "InvalidDestinationPath")
	st, hdr, body = do(http.MethodPut, "lake2?resource=filesystem", nil)
	code("second filesystem", st, hdr, body, http.StatusCreated, "")
	st, hdr, body = do(http.MethodPut, "lake/moved?mode=legacy", map[string]string{"x-ms-rename-source": "/lake2/x"})
	code("rename across filesystems", st, hdr, body, http.StatusBadRequest, "InvalidRenameSourcePath")
	st, hdr, body = do(http.MethodPut, "lake/moved?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/enc/../../passwd"})
	code("rename source with ..", st, hdr, body, http.StatusBadRequest, "InvalidResourceName")
	st, hdr, body = do(http.MethodPut, "lake/moved?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/nothing"})
	code("rename of a missing path", st, hdr, body, http.StatusNotFound, "SourcePathNotFound")
	st, hdr, body = do(http.MethodPut, "lake/nodir/moved?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/enc"})
	code("rename under a missing parent", st, hdr, body, http.StatusNotFound, "RenameDestinationParentPathNotFound")
	// The deep tree moves in one operation.
	st, hdr, body = do(http.MethodPut, "lake/e?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/d"})
	code("rename the deep tree", st, hdr, body, http.StatusCreated, "")
	st, _, _ = do(http.MethodHead, "lake/e/"+strings.TrimPrefix(deep, "d/")+"?action=getStatus", nil)
	if st != http.StatusOK {
		t.Fatalf("the deep file after the rename: %d", st)
	}
	// List filesystems, one per page; a continuation only works for its own
	// listing.
	st, hdr, body = rawDo(t, e, http.MethodGet, "/dfshostile?resource=account&maxResults=1", auth, nil)
	code("list filesystems", st, hdr, body, http.StatusOK, "")
	cont := hdr.Get("x-ms-continuation")
	if !strings.Contains(body, `"name":"lake"`) || cont == "" {
		t.Fatalf("first page of filesystems: %s (continuation %q)", body, cont)
	}
	st, hdr, body = rawDo(t, e, http.MethodGet, "/dfshostile?resource=account&maxResults=1&continuation="+cont, auth, nil)
	code("list filesystems, page 2", st, hdr, body, http.StatusOK, "")
	if !strings.Contains(body, `"name":"lake2"`) || hdr.Get("x-ms-continuation") != "" {
		t.Fatalf("second page of filesystems: %s", body)
	}
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true&continuation="+cont, nil)
	code("a continuation of another listing", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")

	// Bad input to the other operations.
	st, hdr, body = do(http.MethodPatch, "lake/enc/slash?action=append&position=-1", nil)
	code("negative position", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, body = do(http.MethodPatch, "lake/enc/slash?action=flush&position=5", nil)
	code("flush past the data", st, hdr, body, http.StatusBadRequest, "InvalidFlushPosition")
	st, hdr, body = do(http.MethodPatch, "lake/enc/slash?action=setAccessControl", map[string]string{"x-ms-acl": "user::rwx,bogus"})
	code("bad ACL", st, hdr, body, http.StatusBadRequest, "InvalidHeaderValue")
	st, hdr, body = do(http.MethodPatch, "lake/enc/slash?action=setAccessControl", map[string]string{"x-ms-permissions": "rwxrwxrwq"})
	code("bad permissions", st, hdr, body, http.StatusBadRequest, "InvalidHeaderValue")
	st, hdr, body = do(http.MethodPatch, "lake/enc?action=frobnicate", nil)
	code("unknown action", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, body = do(http.MethodDelete, "lake/enc?recursive=false", nil)
	code("delete a non-empty directory", st, hdr, body, http.StatusConflict, "DirectoryNotEmpty")
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true&continuation=garbage", nil)
	code("bad continuation", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")
	// A real continuation, tampered with or taken to another filesystem.
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true&maxResults=1", nil)
	code("one path a page", st, hdr, body, http.StatusOK, "")
	tok := hdr.Get("x-ms-continuation")
	if tok == "" {
		t.Fatal("no x-ms-continuation with maxResults=1")
	}
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true&continuation="+url.QueryEscape(string(flipped)), nil)
	code("tampered continuation", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, body = do(http.MethodGet, "lake2?resource=filesystem&recursive=true&continuation="+url.QueryEscape(tok), nil)
	code("continuation of another filesystem", st, hdr, body, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, body = do(http.MethodGet, "lake?resource=filesystem&recursive=true&maxResults=1&continuation="+url.QueryEscape(tok), nil)
	code("the real continuation", st, hdr, body, http.StatusOK, "")

	if b, _ := os.ReadFile(canary); string(b) != "canary" {
		t.Fatal("the canary outside the data directory was touched")
	}
	if strings.Contains(e.Logs(), "panic") {
		t.Fatalf("the server panicked:\n%s", e.Logs())
	}
}

// TestDFSSharedKeyAndSAS: an account SAS and Shared Key act as the
// superuser on the DFS API (paths they create are owned by $superuser);
// the SAS's permissions still bound what it may do.
func TestDFSSharedKeyAndSAS(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("dfssas", map[string]any{"isHnsEnabled": true})
	key := e.AccountKey("dfssas")
	s := accountSAS(t, "dfssas", key, allPerms, allTypes)
	do := func(method, path string, hdr map[string]string, body string) (int, http.Header, string) {
		t.Helper()
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return rawDo(t, e, method, "/dfssas/"+path+sep+s, hdr, strings.NewReader(body))
	}
	st, _, body := do(http.MethodPut, "lake?resource=filesystem", nil, "")
	testenv.MustStatus(t, "create filesystem", st, http.StatusCreated, body)
	st, _, body = do(http.MethodPut, "lake/a/b.txt?resource=file", nil, "")
	testenv.MustStatus(t, "create file", st, http.StatusCreated, body)
	st, _, body = do(http.MethodPatch, "lake/a/b.txt?action=append&position=0", nil, "hello")
	testenv.MustStatus(t, "append", st, http.StatusAccepted, body)
	st, _, body = do(http.MethodPatch, "lake/a/b.txt?action=flush&position=5", nil, "")
	testenv.MustStatus(t, "flush", st, http.StatusOK, body)
	st, hdr, _ := do(http.MethodHead, "lake/a/b.txt?action=getAccessControl", nil, "")
	if st != http.StatusOK || hdr.Get("x-ms-owner") != "$superuser" || hdr.Get("x-ms-permissions") != "rw-r-----" || hdr.Get("x-ms-acl") != "user::rw-,group::r--,other::---" {
		t.Fatalf("get access control: %d %v", st, hdr)
	}
	st, _, body = do(http.MethodPut, "lake/c?mode=legacy", map[string]string{"x-ms-rename-source": "/lake/a"}, "")
	testenv.MustStatus(t, "rename", st, http.StatusCreated, body)
	st, _, body = do(http.MethodGet, "lake/c/b.txt", nil, "")
	if st != http.StatusOK || body != "hello" {
		t.Fatalf("read after rename: %d %q", st, body)
	}
	// A read-only SAS cannot write.
	ro := accountSAS(t, "dfssas", key, sas.AccountPermissions{Read: true, List: true}, allTypes)
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/dfssas/lake/x?resource=file&"+ro, nil, nil)
	if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthorizationPermissionMismatch" {
		t.Fatalf("create with a read-only SAS: %d %s", st, hdr.Get("x-ms-error-code"))
	}
	st, _, body = rawDo(t, e, http.MethodGet, "/dfssas/lake?resource=filesystem&recursive=true&"+ro, nil, nil)
	if st != http.StatusOK || !strings.Contains(body, `"name":"c/b.txt"`) {
		t.Fatalf("list with a read-only SAS: %d %s", st, body)
	}
	st, _, body = do(http.MethodDelete, "lake/c?recursive=true", nil, "")
	testenv.MustStatus(t, "recursive delete", st, http.StatusOK, body)
}
