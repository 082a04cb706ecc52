package blob_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/testenv"
)

// pyDataLake drives the DFS endpoint with Debian's
// azure.storage.filedatalake (python3-azure-storage): filesystem,
// directories, upload (create + append + flush), ranged download, rename of
// a directory, ACLs (set, read, recursive), list paths; then a principal
// without data roles reads through ACLs and is refused a sibling.
const pyDataLake = `
import json, os
from azure.identity import ClientSecretCredential
from azure.storage.filedatalake import DataLakeServiceClient
from azure.core.exceptions import HttpResponseError

host, tid, url = os.environ["AMLID_HOST"], os.environ["AMLID_TENANT"], os.environ["ACCOUNT_URL"]
def cred(i, s):
    return ClientSecretCredential(tenant_id=tid, client_id=i, client_secret=s, authority=host, instance_discovery=False)
out = {}
svc = DataLakeServiceClient(account_url=url, credential=cred(os.environ["OWNER_ID"], os.environ["OWNER_SECRET"]))
fs = svc.create_file_system("pylake")
d = fs.create_directory("data/team-a")
fs.create_directory("data/team-b")
f = d.create_file("x.csv")
body = b"id,value\n" + b"1,abc\n" * 100000
f.upload_data(body, overwrite=True)
out["read"] = fs.get_file_client("data/team-a/x.csv").download_file().readall() == body
out["range"] = fs.get_file_client("data/team-a/x.csv").download_file(offset=3, length=5).readall().decode()
g = fs.get_file_client("data/team-b/y.csv")
g.create_file()
g.append_data(b"hello ", 0, 6)
g.append_data(b"world", 6, 5)
g.flush_data(11)
out["appended"] = g.download_file().readall().decode()
# Rename a directory: the file moves with it.
d.rename_directory("pylake/data/team-c")
out["after_rename"] = fs.get_file_client("data/team-c/x.csv").download_file().readall() == body
out["paths"] = [p.name for p in fs.get_paths(recursive=True)]
uid = os.environ["USER_OID"]
root = fs._get_root_directory_client()
root.set_access_control(acl="user::rwx,user:%s:--x,group::r-x,mask::r-x,other::---" % uid)
fs.get_directory_client("data").set_access_control(acl="user::rwx,user:%s:r-x,group::r-x,mask::r-x,other::---" % uid)
res = fs.get_directory_client("data/team-c").set_access_control_recursive(acl="user::rwx,user:%s:r-x,group::r-x,mask::r-x,other::---" % uid)
out["recursive"] = [res.counters.directories_successful, res.counters.files_successful, res.counters.failure_count]
acl = fs.get_file_client("data/team-c/x.csv").get_access_control()
out["acl"] = acl["acl"]
out["permissions"] = acl["permissions"]

usvc = DataLakeServiceClient(account_url=url, credential=cred(os.environ["USER_ID"], os.environ["USER_SECRET"]))
ufs = usvc.get_file_system_client("pylake")
out["user_read"] = ufs.get_file_client("data/team-c/x.csv").download_file().readall() == body
try:
    ufs.get_file_client("data/team-b/y.csv").download_file().readall()
    out["user_sibling"] = "allowed"
except HttpResponseError as e:
    out["user_sibling"] = e.error_code
    out["user_sibling_msg"] = str(e)
fs.get_directory_client("data/team-b").delete_directory()
out["final"] = sorted(p.name for p in fs.get_paths(recursive=True))
print(json.dumps(out))
`

func TestDFSPythonSDK(t *testing.T) {
	t.Parallel()
	if exec.Command(debianPython, "-c", "import azure.storage.filedatalake, azure.identity").Run() != nil {
		t.Fatal("Debian's python3-azure-storage (azure.storage.filedatalake) and python3-azure are required (scripts/test.sh installs them)")
	}
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("pylake", map[string]any{"isHnsEnabled": true})
	owner := e.NewApp("py-owner", e.Tenant())
	e.Grant(owner.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("pylake"))
	user := e.NewApp("py-user", e.Tenant())

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "-c", pyDataLake)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+e.CAFile(), "AMLID_HOST="+e.URL(), "AMLID_TENANT="+e.Tenant(),
		"OWNER_ID="+owner.AppID, "OWNER_SECRET="+owner.Secret, "USER_ID="+user.AppID, "USER_SECRET="+user.Secret, "USER_OID="+user.ObjectID,
		"ACCOUNT_URL="+strings.TrimSuffix(e.AccountURL("pylake"), "/"))
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	var out map[string]any
	must(t, json.Unmarshal(outb, &out))
	if out["read"] != true || out["range"] != "value" || out["appended"] != "hello world" || out["after_rename"] != true {
		t.Errorf("data: read %v range %v appended %v after rename %v", out["read"], out["range"], out["appended"], out["after_rename"])
	}
	if got := jsonString(out["paths"]); got != `["data","data/team-b","data/team-b/y.csv","data/team-c","data/team-c/x.csv"]` {
		t.Errorf("get_paths: %s", got)
	}
	if got := jsonString(out["recursive"]); got != "[1,1,0]" {
		t.Errorf("set_access_control_recursive counters: %s", got)
	}
	if out["acl"] != "user::rwx,user:"+user.ObjectID+":r-x,group::r-x,mask::r-x,other::---" || out["permissions"] != "rwxr-x---+" {
		t.Errorf("get_access_control: %v %v", out["acl"], out["permissions"])
	}
	if out["user_read"] != true || out["user_sibling"] != "AuthorizationPermissionMismatch" {
		t.Errorf("ACL-only user: read %v, sibling %v", out["user_read"], out["user_sibling"])
	}
	if msg, _ := out["user_sibling_msg"].(string); !strings.Contains(msg, "rule DS-9") || !strings.Contains(msg, "/pylake/data/team-b") {
		t.Errorf("the refusal does not explain itself: %s", msg)
	}
	if got := jsonString(out["final"]); got != `["data","data/team-c","data/team-c/x.csv"]` {
		t.Errorf("after delete_directory: %s", got)
	}
}
