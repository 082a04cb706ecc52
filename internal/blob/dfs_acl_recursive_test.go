package blob_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/file"
	"github.com/amlid/amlid/internal/testenv"
)

// TestDFSACLRecursiveOwnership drives setAccessControlRecursive through
// azdatalake as a principal authorized by ACLs only (rule DS-9): it changes
// the paths it owns and reports the others as failed entries. Without
// ContinueOnFailure the first refusal (the directory itself) ends the
// change; with it (forceflag) the change goes on, in batches of two
// resumed by continuation, past every refusal.
func TestDFSACLRecursiveOwnership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("adlsrec", map[string]any{"isHnsEnabled": true})
	owner := e.NewApp("rec-owner", e.Tenant())
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("adlsrec"))
	user := e.NewApp("rec-user", e.Tenant())
	u := "user:" + user.ObjectID

	fs := dlFS(t, e, owner, "adlsrec", "lake")
	_, err := fs.Create(ctx, nil)
	must(t, err)
	_, err = fs.CreateDirectory(ctx, "mixed", nil)
	must(t, err)
	set := func(path, acl string) {
		t.Helper()
		_, err := fs.NewDirectoryClient(path).SetAccessControl(ctx, &directory.SetAccessControlOptions{ACL: &acl})
		must(t, err)
	}
	set("/", "user::rwx,"+u+":--x,group::r-x,mask::r-x,other::---")
	set("mixed", "user::rwx,"+u+":rwx,group::r-x,mask::rwx,other::---,default:user::rwx,default:"+u+":rwx,default:group::r-x,default:mask::rwx,default:other::---")
	for _, p := range []string{"mixed/theirs-1.txt", "mixed/theirs-2.txt"} {
		must(t, dlUpload(fs.NewFileClient(p), []byte(p), nil))
	}
	ufs := dlFS(t, e, user, "adlsrec", "lake")
	for _, p := range []string{"mixed/mine-1.txt", "mixed/mine-2.txt"} {
		must(t, dlUpload(ufs.NewFileClient(p), []byte(p), nil))
	}
	const acl = "user::rwx,group::r-x,other::--x"
	dir := ufs.NewDirectoryClient("mixed")

	res, err := dir.SetAccessControlRecursive(ctx, acl, &directory.SetAccessControlRecursiveOptions{BatchSize: to.Ptr(int32(2))})
	must(t, err)
	if *res.DirectoriesSuccessful != 0 || *res.FilesSuccessful != 0 || *res.FailureCount != 1 || len(res.FailedEntries) != 1 ||
		*res.FailedEntries[0].Name != "mixed" || *res.FailedEntries[0].Type != "DIRECTORY" {
		t.Fatalf("without ContinueOnFailure: dirs %d files %d failures %d %v", *res.DirectoriesSuccessful, *res.FilesSuccessful, *res.FailureCount, res.FailedEntries)
	}
	if msg := *res.FailedEntries[0].ErrorMessage; !strings.Contains(msg, "rule DS-9") || !strings.Contains(msg, owner.ObjectID) {
		t.Fatalf("the failed entry does not name the rule and the owner: %s", msg)
	}

	res, err = dir.SetAccessControlRecursive(ctx, acl, &directory.SetAccessControlRecursiveOptions{BatchSize: to.Ptr(int32(2)), ContinueOnFailure: to.Ptr(true)})
	must(t, err)
	var failed []string
	for _, f := range res.FailedEntries {
		failed = append(failed, *f.Name+" "+*f.Type)
	}
	sort.Strings(failed)
	if *res.DirectoriesSuccessful != 0 || *res.FilesSuccessful != 2 || *res.FailureCount != 3 ||
		strings.Join(failed, ",") != "mixed DIRECTORY,mixed/theirs-1.txt FILE,mixed/theirs-2.txt FILE" {
		t.Fatalf("with ContinueOnFailure: dirs %d files %d failures %d %v", *res.DirectoriesSuccessful, *res.FilesSuccessful, *res.FailureCount, failed)
	}
	perms := func(app *testenv.App, p string) string {
		t.Helper()
		ga, err := dlFS(t, e, app, "adlsrec", "lake").NewFileClient(p).GetAccessControl(ctx, &file.GetAccessControlOptions{})
		must(t, err)
		return *ga.Permissions
	}
	if got := perms(user, "mixed/mine-2.txt"); got != "rwxr-x--x" {
		t.Fatalf("mine-2 after the change: %s", got)
	}
	if got := perms(owner, "mixed/theirs-2.txt"); got == "rwxr-x--x" {
		t.Fatalf("theirs-2 was changed by a principal that does not own it: %s", got)
	}
}
