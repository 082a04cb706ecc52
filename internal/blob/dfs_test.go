package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/filesystem"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/service"
	amlidir "github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/testenv"
)

type dirPrincipal = amlidir.Principal

const dirTypeGroup = amlidir.TypeGroup

func dlOpts(e *testenv.Env) azcore.ClientOptions {
	o := e.ClientOptions()
	o.Retry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}
	return o
}

func dlService(t testing.TB, e *testenv.Env, app *testenv.App, account string) *service.Client {
	c, err := service.NewClient(e.AccountURL(account), e.Cred(app), &service.ClientOptions{ClientOptions: dlOpts(e)})
	must(t, err)
	return c
}

func dlFS(t testing.TB, e *testenv.Env, app *testenv.App, account, fs string) *filesystem.Client {
	return dlService(t, e, app, account).NewFileSystemClient(fs)
}

func dlRead(t testing.TB, f *file.Client) ([]byte, error) {
	t.Helper()
	r, err := f.DownloadStream(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// TestDFSGoClient drives the DFS endpoint with the Go azdatalake module:
// the account advertises primaryEndpoints.dfs; filesystems, directories
// and files are created, appended, flushed, read (whole and ranged),
// listed, renamed (a directory with its subtree, atomically), deleted;
// the Blob API sees the same tree; ACLs are set and read back.
func TestDFSGoClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.NewStorage(t, testenv.Options{})
	acct := e.CreateAccount("adlsgo", map[string]any{"isHnsEnabled": true})
	eps, _ := acct["properties"].(map[string]any)["primaryEndpoints"].(map[string]any)
	if eps["dfs"] != e.AccountURL("adlsgo") {
		t.Fatalf("primaryEndpoints: %v, want dfs %s", eps, e.AccountURL("adlsgo"))
	}
	flat := e.CreateAccount("flatgo", nil)
	if _, ok := flat["properties"].(map[string]any)["primaryEndpoints"].(map[string]any)["dfs"]; ok {
		t.Fatalf("a flat account has a dfs endpoint: %v", flat)
	}
	owner := e.NewApp("dfs-owner", e.Tenant())
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("adlsgo"))
	fs := dlFS(t, e, owner, "adlsgo", "lake")
	_, err := fs.Create(ctx, nil)
	must(t, err)

	dir := fs.NewDirectoryClient("data/team-a")
	_, err = dir.Create(ctx, nil)
	must(t, err)
	f := fs.NewFileClient("data/team-a/x.csv")
	_, err = f.Create(ctx, nil)
	must(t, err)
	part1, part2 := []byte("id,value\n"), bytes.Repeat([]byte("1,abc\n"), 50000)
	_, err = f.AppendData(ctx, 0, streamingBody(part1), nil)
	must(t, err)
	_, err = f.AppendData(ctx, int64(len(part1)), streamingBody(part2), nil)
	must(t, err)
	total := int64(len(part1) + len(part2))
	// A flush at the wrong position is refused.
	if _, err := f.FlushData(ctx, total+1, nil); err == nil || !strings.Contains(err.Error(), "InvalidFlushPosition") {
		t.Fatalf("flush past the data: %v", err)
	}
	_, err = f.FlushData(ctx, total, nil)
	must(t, err)
	got, err := dlRead(t, f)
	must(t, err)
	if !bytes.Equal(got, append(append([]byte{}, part1...), part2...)) {
		t.Fatalf("read back %d bytes, want %d", len(got), total)
	}
	rr, err := f.DownloadStream(ctx, &file.DownloadStreamOptions{Range: &file.HTTPRange{Offset: 3, Count: 5}})
	must(t, err)
	rb, _ := io.ReadAll(rr.Body)
	rr.Body.Close()
	if string(rb) != "value" {
		t.Fatalf("ranged read: %q", rb)
	}
	// UploadBuffer: create + append + flush through the client's helper.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	f2 := fs.NewFileClient("data/team-b/y.bin")
	must(t, dlUpload(f2, big, &file.UploadBufferOptions{ChunkSize: 512 << 10}))
	if got, err := dlRead(t, f2); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("UploadBuffer read back: %d bytes, %v", len(got), err)
	}
	props, err := f2.GetProperties(ctx, nil)
	must(t, err)
	if props.Owner == nil || *props.Owner != owner.ObjectID || props.ResourceType == nil || *props.ResourceType != "file" {
		t.Fatalf("file properties: owner %v type %v", props.Owner, props.ResourceType)
	}

	// The Blob API sees the same tree: directories are blobs with
	// hdi_isfolder metadata, files are blobs.
	cc, err := container.NewClient(e.AccountURL("adlsgo")+"lake", e.Cred(owner), &container.ClientOptions{ClientOptions: dlOpts(e)})
	must(t, err)
	var names []string
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		must(t, err)
		for _, b := range page.Segment.BlobItems {
			n := *b.Name
			if v := b.Metadata["hdi_isfolder"]; v != nil && *v == "true" {
				n += "/"
			}
			names = append(names, n)
		}
	}
	if strings.Join(names, " ") != "data/ data/team-a/ data/team-a/x.csv data/team-b/ data/team-b/y.bin" {
		t.Fatalf("blob listing of the HNS filesystem: %v", names)
	}

	// A blob written through the Blob API is a file of the tree: its
	// parent directories exist, they show as directories through the DFS
	// API, and a non-empty directory cannot be deleted as a blob.
	_, err = cc.NewBlockBlobClient("blobapi/sub/z.txt").UploadBuffer(ctx, []byte("via blob"), nil)
	must(t, err)
	dp, err := fs.NewDirectoryClient("blobapi/sub").GetProperties(ctx, nil)
	must(t, err)
	if dp.ResourceType == nil || *dp.ResourceType != "directory" || dp.Owner == nil || *dp.Owner != owner.ObjectID {
		t.Fatalf("implicit directory: type %v owner %v", dp.ResourceType, dp.Owner)
	}
	if got, err := dlRead(t, fs.NewFileClient("blobapi/sub/z.txt")); err != nil || string(got) != "via blob" {
		t.Fatalf("blob read through DFS: %q %v", got, err)
	}
	if _, err := cc.NewBlobClient("blobapi/sub").Delete(ctx, nil); err == nil || !strings.Contains(err.Error(), "DirectoryNotEmpty") {
		t.Fatalf("deleting a non-empty directory as a blob: %v", err)
	}
	if _, err := cc.NewBlockBlobClient("blobapi/sub").UploadBuffer(ctx, []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "BlobUsesDirectory") {
		t.Fatalf("a blob over a directory: %v", err)
	}
	if _, err := cc.NewBlockBlobClient("blobapi/sub/z.txt/under-a-file").UploadBuffer(ctx, []byte("x"), nil); err == nil || !strings.Contains(err.Error(), "PathConflict") {
		t.Fatalf("a blob under a file: %v", err)
	}
	_, err = fs.NewDirectoryClient("blobapi").Delete(ctx, nil)
	must(t, err)

	// Rename a directory: one operation, the subtree moves with it.
	renamed, err := dir.Rename(ctx, "data/team-c", nil)
	must(t, err)
	_ = renamed
	if got, err := dlRead(t, fs.NewFileClient("data/team-c/x.csv")); err != nil || int64(len(got)) != total {
		t.Fatalf("read after rename: %d bytes, %v", len(got), err)
	}
	if _, err := dlRead(t, f); err == nil {
		t.Fatal("the old path still reads after the rename")
	}
	// A directory cannot move into its own subtree.
	sub := fs.NewDirectoryClient("data")
	if _, err := sub.Rename(ctx, "data/team-c/inner", nil); err == nil || !strings.Contains(err.Error(), "own subtree") {
		t.Fatalf("rename into its own subtree: %v", err)
	}

	// List paths: recursive and one level, with continuation.
	var listed []string
	lp := fs.NewListPathsPager(true, &filesystem.ListPathsOptions{MaxResults: to.Ptr(int32(2))})
	for lp.More() {
		page, err := lp.NextPage(ctx)
		must(t, err)
		for _, p := range page.Paths {
			n := *p.Name
			if p.IsDirectory != nil && *p.IsDirectory {
				n += "/"
			}
			listed = append(listed, n)
		}
	}
	if strings.Join(listed, " ") != "data/ data/team-b/ data/team-b/y.bin data/team-c/ data/team-c/x.csv" {
		t.Fatalf("recursive list paths: %v", listed)
	}
	listed = nil
	lp = fs.NewListPathsPager(false, &filesystem.ListPathsOptions{Prefix: to.Ptr("data")})
	for lp.More() {
		page, err := lp.NextPage(ctx)
		must(t, err)
		for _, p := range page.Paths {
			listed = append(listed, *p.Name)
		}
	}
	if strings.Join(listed, " ") != "data/team-b data/team-c" {
		t.Fatalf("one-level list paths: %v", listed)
	}

	// Access control: set and read back, permissions and owner.
	fc := fs.NewFileClient("data/team-c/x.csv")
	acl := "user::rw-,user:" + owner.ObjectID + ":r--,group::r--,mask::r--,other::---"
	_, err = fc.SetAccessControl(ctx, &file.SetAccessControlOptions{ACL: &acl})
	must(t, err)
	ga, err := fc.GetAccessControl(ctx, nil)
	must(t, err)
	if ga.ACL == nil || *ga.ACL != acl || *ga.Permissions != "rw-r-----+" {
		t.Fatalf("get access control: acl %v perms %v", deref(ga.ACL), deref(ga.Permissions))
	}
	dc := fs.NewDirectoryClient("data")
	// Two paths per request: the client follows x-ms-continuation.
	res, err := dc.SetAccessControlRecursive(ctx, "user::rwx,group::r-x,other::--x", &directory.SetAccessControlRecursiveOptions{BatchSize: to.Ptr(int32(2))})
	must(t, err)
	if *res.DirectoriesSuccessful != 3 || *res.FilesSuccessful != 2 || *res.FailureCount != 0 {
		t.Fatalf("set access control recursive: dirs %d files %d failures %d", *res.DirectoriesSuccessful, *res.FilesSuccessful, *res.FailureCount)
	}
	ga, err = fs.NewFileClient("data/team-b/y.bin").GetAccessControl(ctx, nil)
	must(t, err)
	if *ga.Permissions != "rwxr-x--x" {
		t.Fatalf("after the recursive set: %s", *ga.Permissions)
	}

	// Delete: a non-empty directory needs recursive.
	_, err = fs.NewDirectoryClient("data/team-b").Delete(ctx, nil)
	must(t, err)
	if _, err := dlRead(t, f2); err == nil {
		t.Fatal("a file of a deleted directory still reads")
	}
	// The DFS API on a flat account says what to do.
	ff := dlFS(t, e, owner, "flatgo", "plain")
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("flatgo"))
	_, err = ff.Create(ctx, nil)
	must(t, err)
	_, err = ff.NewDirectoryClient("d").Create(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "HierarchicalNamespaceNotEnabled") {
		t.Fatalf("DFS on a flat account: %v", err)
	}
}

// dlUpload creates a file and uploads data (append + flush), as the
// clients' upload helpers expect an existing file.
func dlUpload(f *file.Client, data []byte, o *file.UploadBufferOptions) error {
	if _, err := f.Create(context.Background(), nil); err != nil {
		return err
	}
	return f.UploadBuffer(context.Background(), data, o)
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// streamingBody wraps bytes as the io.ReadSeekCloser AppendData takes.
func streamingBody(b []byte) io.ReadSeekCloser { return nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// TestDFSACLAfterRBAC is rule DS-9 through azdatalake: a principal without
// data roles reads /data/team-a/x.csv with r-x on the way and r-- on the
// file, is refused /data/team-b/y.csv (the refusal names the ACL entry, the
// path and both fixes), can create where default ACLs let it, and cannot
// change an owner; a Storage Blob Data Reader reads everything (RBAC
// first).
func TestDFSACLAfterRBAC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("adlsacl", map[string]any{"isHnsEnabled": true})
	owner := e.NewApp("acl-owner", e.Tenant())
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("adlsacl"))
	user := e.NewApp("acl-user", e.Tenant())
	reader := e.NewApp("acl-reader", e.Tenant())
	e.Grant(reader.ObjectID, testenv.RoleStorageBlobDataReader, e.AccountID("adlsacl"))

	fs := dlFS(t, e, owner, "adlsacl", "lake")
	_, err := fs.Create(ctx, nil)
	must(t, err)
	for _, p := range []string{"data/team-a/x.csv", "data/team-b/y.csv"} {
		must(t, dlUpload(fs.NewFileClient(p), []byte("secret of "+p), nil))
	}
	u := "user:" + user.ObjectID
	set := func(path, acl string) {
		t.Helper()
		_, err := fs.NewDirectoryClient(path).SetAccessControl(ctx, &directory.SetAccessControlOptions{ACL: &acl})
		must(t, err)
	}
	set("/", "user::rwx,"+u+":--x,group::r-x,mask::r-x,other::---")
	set("data", "user::rwx,"+u+":r-x,group::r-x,mask::r-x,other::---")
	set("data/team-a", "user::rwx,"+u+":rwx,group::r-x,mask::r-x,other::---,default:user::rwx,default:"+u+":rwx,default:group::r-x,default:mask::rwx,default:other::---")
	_, err = fs.NewFileClient("data/team-a/x.csv").SetAccessControl(ctx, &file.SetAccessControlOptions{ACL: to.Ptr("user::rw-," + u + ":r--,group::r--,mask::r--,other::---")})
	must(t, err)

	ufs := dlFS(t, e, user, "adlsacl", "lake")
	got, err := dlRead(t, ufs.NewFileClient("data/team-a/x.csv"))
	if err != nil || string(got) != "secret of data/team-a/x.csv" {
		t.Fatalf("user reads team-a: %q %v", got, err)
	}
	_, err = dlRead(t, ufs.NewFileClient("data/team-b/y.csv"))
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthorizationPermissionMismatch" {
		t.Fatalf("user reads team-b: %v", err)
	}
	for _, want := range []string{"rule DS-9", "/lake/data/team-b", "other::", "Storage Blob Data Reader", "amlid storage fs access set --acl", u + ":--x"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the refusal does not say %q:\n%v", want, err)
		}
	}
	// RBAC first: the reader holds a role and reads team-b.
	if got, err := dlRead(t, dlFS(t, e, reader, "adlsacl", "lake").NewFileClient("data/team-b/y.csv")); err != nil || !strings.HasPrefix(string(got), "secret") {
		t.Fatalf("reader: %q %v", got, err)
	}
	// Writing to x.csv needs w: the named entry grants r-- only.
	if _, err := ufs.NewFileClient("data/team-a/x.csv").AppendData(ctx, 0, streamingBody([]byte("x")), nil); err == nil {
		t.Fatal("user appended to a file its ACL entry makes read-only")
	}
	// The mask limits the user's named rwx entry on team-a to r-x: no
	// creating there.
	nf := ufs.NewFileClient("data/team-a/mine.csv")
	if _, err := nf.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "limited by mask::r-x") {
		t.Fatalf("create under a mask of r-x: %v", err)
	}
	set("data/team-a", "user::rwx,"+u+":rwx,group::r-x,mask::rwx,other::---,default:user::rwx,default:"+u+":rwx,default:group::r-x,default:mask::rwx,default:other::---")
	// Now the user creates there, and the new file inherits the default ACL.
	must(t, dlUpload(nf, []byte("mine"), nil))
	ga, err := fs.NewFileClient("data/team-a/mine.csv").GetAccessControl(ctx, nil)
	must(t, err)
	if *ga.Owner != user.ObjectID || !strings.Contains(*ga.ACL, u+":rwx,group::r-x,mask::rw-") {
		t.Fatalf("inherited ACL: owner %s acl %s", *ga.Owner, *ga.ACL)
	}
	// ... but not in team-b.
	if err := dlUpload(ufs.NewFileClient("data/team-b/mine.csv"), []byte("no"), nil); err == nil {
		t.Fatal("user created a file in team-b")
	}
	// Its own file: the owner changes permissions, but not the owner.
	_, err = ufs.NewFileClient("data/team-a/mine.csv").SetAccessControl(ctx, &file.SetAccessControlOptions{Permissions: to.Ptr("rw-------")})
	must(t, err)
	_, err = ufs.NewFileClient("data/team-a/mine.csv").SetAccessControl(ctx, &file.SetAccessControlOptions{Owner: to.Ptr(reader.ObjectID)})
	if err == nil || !strings.Contains(err.Error(), "superuser") {
		t.Fatalf("owner change by a non-superuser: %v", err)
	}
	_, err = ufs.NewFileClient("data/team-a/x.csv").SetAccessControl(ctx, &file.SetAccessControlOptions{Permissions: to.Ptr("rwxrwxrwx")})
	if err == nil || !strings.Contains(err.Error(), "only the owner") {
		t.Fatalf("permissions change on another's file: %v", err)
	}
	// The superuser changes owners.
	_, err = fs.NewFileClient("data/team-a/mine.csv").SetAccessControl(ctx, &file.SetAccessControlOptions{Owner: to.Ptr(reader.ObjectID)})
	must(t, err)
	// Listing: r-x on team-a lists it; team-b is refused.
	lp := ufs.NewListPathsPager(false, &filesystem.ListPathsOptions{Prefix: to.Ptr("data/team-a")})
	n := 0
	for lp.More() {
		page, err := lp.NextPage(ctx)
		must(t, err)
		n += len(page.Paths)
	}
	if n != 2 {
		t.Fatalf("user lists team-a: %d paths", n)
	}
	lp = ufs.NewListPathsPager(false, &filesystem.ListPathsOptions{Prefix: to.Ptr("data/team-b")})
	if _, err := lp.NextPage(ctx); err == nil {
		t.Fatal("user listed team-b")
	}

	// Through the Blob API: one level of data lists (r-x on data); a flat
	// listing of data shows team-b's contents too, which team-b refuses.
	ucc, err := container.NewClient(e.AccountURL("adlsacl")+"lake", e.Cred(user), &container.ClientOptions{ClientOptions: dlOpts(e)})
	must(t, err)
	hp := ucc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr("data/")})
	if _, err := hp.NextPage(ctx); err != nil {
		t.Fatalf("user lists data/ one level through the Blob API: %v", err)
	}
	fp := ucc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr("data/")})
	if _, err := fp.NextPage(ctx); err == nil || !strings.Contains(err.Error(), "/lake/data/team-b") {
		t.Fatalf("user lists data/ flat through the Blob API: %v", err)
	}

	// Sticky bit: in a world-writable sticky directory only a path's owner
	// (or the directory's, or a superuser) deletes it.
	user2 := e.NewApp("acl-user2", e.Tenant())
	set("/", "user::rwx,"+u+":--x,group::r-x,mask::r-x,other::--x")
	u2fs := dlFS(t, e, user2, "adlsacl", "lake")
	// Named groups: a group entry grants its (transitive) members, also
	// ones added after their token was issued.
	listData := func(fsc *filesystem.Client) error {
		_, err := fsc.NewListPathsPager(false, &filesystem.ListPathsOptions{Prefix: to.Ptr("data")}).NextPage(ctx)
		return err
	}
	if err := listData(u2fs); err == nil {
		t.Fatal("user2 lists data before any entry names it")
	}
	inner := &dirPrincipal{TenantID: e.Tenant(), Type: dirTypeGroup, DisplayName: "lake-readers", Members: []string{user2.ObjectID}}
	must(t, e.S.Directory.CreatePrincipal(ctx, inner))
	outer := &dirPrincipal{TenantID: e.Tenant(), Type: dirTypeGroup, DisplayName: "lake-all", Members: []string{inner.ObjectID}}
	must(t, e.S.Directory.CreatePrincipal(ctx, outer))
	set("data", "user::rwx,"+u+":r-x,group::r-x,group:"+outer.ObjectID+":r-x,mask::r-x,other::---")
	if err := listData(u2fs); err != nil {
		t.Fatalf("a member of a nested group named by the ACL: %v", err)
	}
	_, err = fs.NewDirectoryClient("shared").Create(ctx, &directory.CreateOptions{Permissions: to.Ptr("rwxrwxrwt"), Umask: to.Ptr("0000")})
	must(t, err)
	must(t, dlUpload(ufs.NewFileClient("shared/u.txt"), []byte("user's"), nil))
	_, err = u2fs.NewFileClient("shared/u.txt").Delete(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "sticky bit") {
		t.Fatalf("user2 deletes user's file under the sticky bit: %v", err)
	}
	must(t, dlUpload(u2fs.NewFileClient("shared/u2.txt"), []byte("user2's"), nil))
	_, err = u2fs.NewFileClient("shared/u2.txt").Delete(ctx, nil)
	must(t, err)
	_, err = ufs.NewFileClient("shared/u.txt").Delete(ctx, nil)
	must(t, err)
}
